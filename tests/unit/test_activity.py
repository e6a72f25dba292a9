"""Campaign activity back into the CRM (Z16, C2, M10): the pure decisions, one rule a test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync.api.v1alpha1.activity import (
    CampaignActivityRecord,
    CampaignActivitySpec,
    CampaignSummary,
)
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.engine import activity as engine
from crmsync.engine.activity import (
    Action,
    MemberReason,
    MemberSkip,
    Recipient,
    RecordReason,
    Report,
)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def report(**counts: int) -> Report:
    return Report(campaign_id="c0ffee1234", title="Winter news", send_time=T0, **counts)


def acts(*pairs: tuple[str, int]) -> tuple[Action, ...]:
    return tuple(Action(action, T0 + timedelta(minutes=m)) for action, m in pairs)


# --- spec and due passes -------------------------------------------------------------------


def test_the_block_is_opt_in_and_defaults_apply() -> None:
    spec = ContactSyncSpec.model_validate(
        {
            "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts"},
            "target": {"connectionRef": {"name": "mc"}, "listId": "l1"},
        }
    )
    assert spec.campaign_activity is None
    assert not engine.pass_due(spec.campaign_activity, "Manual", None, T0)
    block = CampaignActivitySpec.model_validate({"enabled": True})
    assert block.interval == "15m" and block.since is None
    assert not engine.pass_due(CampaignActivitySpec(), "Manual", None, T0)


@pytest.mark.parametrize(
    ("trigger", "minutes_since_last", "due"),
    [
        ("Manual", 1, True),
        ("Initial", 1, True),
        ("SpecChange", 1, True),
        ("Poll", 1, False),
        ("Poll", 15, True),
        ("Notification", 14, False),
        ("Schedule", 30, True),
    ],
)
def test_a_pass_follows_manual_runs_and_otherwise_once_per_interval(
    trigger: str, minutes_since_last: int, due: bool
) -> None:
    spec = CampaignActivitySpec(enabled=True, interval="15m")
    last = T0 - timedelta(minutes=minutes_since_last)
    assert engine.pass_due(spec, trigger, last, T0) is due
    assert engine.pass_due(spec, trigger, None, T0)


# --- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "status"),
    [
        ((), "Sent"),
        (acts(("open", 1)), "Opened"),
        (acts(("open", 1), ("click", 2), ("open", 3)), "Responded"),
        (acts(("bounce", 1)), "Bounced"),
        (acts(("bounce", 1), ("open", 5)), "Opened"),
        (acts(("open", 1), ("click", 2), ("unsub", 3)), "Opted Out"),
        (acts(("forward", 1)), "Sent"),
    ],
)
def test_activity_maps_to_the_furthest_member_status(
    actions: tuple[Action, ...], status: str
) -> None:
    assert Recipient("a@example.com", actions).status() == status


def test_statuses_rank_in_one_order() -> None:
    order = ["Planned", "Sent", "Bounced", "Opened", "Responded", "Opted Out"]
    assert [engine.rank(s) for s in order] == sorted(engine.rank(s) for s in order)
    assert len({engine.rank(s) for s in order}) == len(order)
    assert engine.rank("Our own value") == engine.rank("Planned")
    assert engine.rank("Clicked") == engine.rank("Responded")


def test_unsubscribes_join_the_activity_once() -> None:
    when = T0 + timedelta(minutes=9)
    merged = engine.merge_unsubscribes(
        [Recipient("a@example.com", acts(("open", 1))), Recipient("b@example.com")],
        [("a@example.com", when), ("c@example.com", when)],
    )
    by_email = {r.email: r for r in merged}
    assert by_email["a@example.com"].status() == "Opted Out"
    assert by_email["b@example.com"].status() == "Sent"
    assert by_email["c@example.com"].actions == (Action("unsub", when),)
    again = engine.merge_unsubscribes(merged, [("a@example.com", when)])
    assert again == merged


# --- the Campaigns record ------------------------------------------------------------------


def test_a_new_campaign_creates_its_record_with_the_summary() -> None:
    r = report(sent=10, opens=4, opens_total=7, clicks=2, clicks_total=3, hard_bounces=1)
    write = engine.campaign_record_write(r, "aud1", None)
    assert write is not None and write.reason is RecordReason.CREATE and write.record_id == ""
    assert write.values["Campaign_Name"] == "Winter news"
    assert write.values["Type"] == "Email"
    assert write.values["Status"] == "Complete"
    assert write.values["Start_Date"] == "2026-11-30"
    assert write.values["Num_sent"] == 10
    text = write.values["Description"]
    assert text.startswith("Mailchimp campaign c0ffee1234 (audience aud1)")
    assert "delivered: 9" in text and "opens: 4 unique (7 total)" in text
    assert "clicks: 2 unique (3 total)" in text and "hard bounces: 1" in text
    assert engine.is_ours(write.values, "c0ffee1234")
    assert not engine.is_ours(write.values, "c0ffee")


def test_an_unchanged_report_writes_nothing_and_a_changed_one_only_owned_fields() -> None:
    r = report(sent=10, opens=4)
    created = engine.campaign_record_write(r, "aud1", None)
    assert created is not None
    stored = {**created.values, "Num_sent": "10", "Status": "Active", "Campaign_Name": "Renamed"}
    assert engine.campaign_record_write(r, "aud1", ("77", stored)) is None
    moved = engine.campaign_record_write(report(sent=10, opens=5), "aud1", ("77", stored))
    assert moved is not None and moved.reason is RecordReason.SUMMARY_CHANGED
    assert moved.record_id == "77"
    assert set(moved.values) == {"Description"}  # name, status, type stay the users'


def test_a_record_found_by_name_is_ours_only_with_the_campaign_id() -> None:
    ours = engine.campaign_record_write(report(), "aud1", None)
    assert ours is not None
    found = engine.pick_record(
        [
            ("900", {"Description": "a webinar"}),
            ("12", ours.values),
            ("8", {"Description": "Mailchimp campaign c0ffee12345 (another)"}),
        ],
        "c0ffee1234",
    )
    assert found is not None and found[0] == "12"
    assert engine.pick_record([("900", {"Description": None})], "c0ffee1234") is None


def test_the_name_falls_back_to_the_id_and_is_cut_to_zoho_length() -> None:
    assert Report("abc", "  ", T0).name == "abc"
    assert len(Report("abc", "x" * 300, T0).name) == engine.NAME_LENGTH


# --- reading -------------------------------------------------------------------------------


def tracked(**values: object) -> CampaignActivityRecord:
    base: dict[str, object] = {
        "campaign_id": "c0ffee1234",
        "crm_campaign_id": "77",
        "activity_since": T0 + timedelta(hours=1),
        "summary": report(sent=10, opens=4).summary(),
        "members_updated": 10,
        "recipients_written": True,
    }
    return CampaignActivityRecord.model_validate({**base, **values})


def test_activity_is_read_first_time_after_failures_and_when_counts_move() -> None:
    assert engine.needs_activity_read(report(sent=10, opens=4), None)
    assert not engine.needs_activity_read(report(sent=10, opens=4), tracked())
    assert engine.needs_activity_read(report(sent=10, opens=5), tracked())
    assert engine.needs_activity_read(report(sent=10, opens=4), tracked(members_failed=1))
    assert engine.needs_activity_read(
        report(sent=10, opens=4), tracked(summary=CampaignSummary(sent=10))
    )
    # Not everyone written once yet (a refused write of a recipient without activity).
    assert engine.needs_activity_read(report(sent=10, opens=4), tracked(recipients_written=False))


def test_the_whole_recipient_list_is_read_until_everyone_was_written_once() -> None:
    assert engine.full_read(None)
    assert engine.full_read(tracked(recipients_written=False))
    assert not engine.full_read(tracked())
    assert not engine.full_read(tracked(members_failed=2))  # activity since the checkpoint


def test_reads_start_a_little_before_the_checkpoint() -> None:
    assert engine.read_since(None) is None
    assert engine.read_since(tracked(activity_since=None)) is None
    assert engine.read_since(tracked()) == T0 + timedelta(hours=1) - engine.READ_OVERLAP


# --- Member Status -------------------------------------------------------------------------


def test_first_read_writes_everyone_later_reads_only_new_activity() -> None:
    people = [Recipient("a@x.org"), Recipient("b@x.org", acts(("open", 2)))]
    assert engine.candidates(people, first_read=True) == people
    assert engine.candidates(people, first_read=False) == [people[1]]
    # A status read without a time (a Zoho Campaigns list whose count moved) is news too.
    opened = Recipient("c@x.org", reached="Opened")
    assert engine.candidates([*people, opened], first_read=False) == [people[1], opened]


@pytest.mark.parametrize(
    ("recipient", "status"),
    [
        (Recipient("a@x.org", reached="Sent"), "Sent"),
        (Recipient("a@x.org", reached="Bounced"), "Bounced"),  # sent-to status hard/soft
        (Recipient("a@x.org", acts(("open", 1)), reached="Bounced"), "Opened"),
        (Recipient("a@x.org", acts(("bounce", 1)), reached="Sent"), "Bounced"),
        (Recipient("a@x.org", reached="Opted Out"), "Opted Out"),
        (Recipient("a@x.org", acts(("spam", 1))), "Opted Out"),
    ],
)
def test_a_status_read_without_a_time_counts_like_activity(
    recipient: Recipient, status: str
) -> None:
    assert recipient.status() == status


def test_reads_merge_into_one_recipient_per_email() -> None:
    everyone = [Recipient("a@x.org", reached="Sent"), Recipient("b@x.org", reached="Bounced")]
    activity = [Recipient("a@x.org", acts(("open", 1))), Recipient("c@x.org", acts(("click", 2)))]
    merged = engine.merge_recipients(everyone, activity, [Recipient("a@x.org", acts(("open", 1)))])
    assert [r.email for r in merged] == ["a@x.org", "b@x.org", "c@x.org"]
    by_email = {r.email: r for r in merged}
    assert by_email["a@x.org"] == Recipient("a@x.org", acts(("open", 1)), "Sent")
    assert by_email["a@x.org"].status() == "Opened"
    assert by_email["b@x.org"].status() == "Bounced"
    lists = engine.merge_recipients(
        [Recipient("d@x.org", reached="Sent")],
        [Recipient("d@x.org", reached="Responded")],
        [Recipient("d@x.org", reached="Opened")],
    )
    assert lists == [Recipient("d@x.org", reached="Responded")]


# --- Zoho Campaigns: counts per kind of response are the change signal ----------------------


def zoho(**counts: int) -> Report:
    return Report("k3y", "Spring", T0, source=engine.ZOHO_CAMPAIGNS, **counts)


def test_zoho_reads_every_non_empty_recipient_list_first() -> None:
    lists = engine.zoho_lists_to_read(zoho(sent=10, opens=4, hard_bounces=1, complaints=1), None)
    assert lists == [
        ("sentcontacts", "Sent"),
        ("openedcontacts", "Opened"),
        ("senthardbounce", "Bounced"),
        ("spamcontacts", "Opted Out"),
    ]


def test_zoho_reads_again_only_the_lists_whose_counts_moved() -> None:
    before = zoho(sent=10, opens=4)
    seen = tracked(summary=before.summary())
    assert engine.zoho_lists_to_read(before, seen) == []
    moved = zoho(sent=10, opens=6, clicks=2, unsubscribes=1, soft_bounces=1)
    assert engine.zoho_lists_to_read(moved, seen) == [
        ("openedcontacts", "Opened"),
        ("clickedcontacts", "Responded"),
        ("sentsoftbounce", "Bounced"),
        ("optoutcontacts", "Opted Out"),
    ]
    # A write left to retry, or not everyone written yet: every list again.
    assert ("sentcontacts", "Sent") in engine.zoho_lists_to_read(before, tracked(members_failed=1))
    assert ("sentcontacts", "Sent") in engine.zoho_lists_to_read(
        before, tracked(recipients_written=False)
    )


def test_a_zoho_campaigns_record_names_its_provider_and_list() -> None:
    write = engine.campaign_record_write(zoho(sent=5, opens=2), "list9", None)
    assert write is not None
    text = write.values["Description"]
    assert text.startswith("Zoho Campaigns campaign k3y (list list9)")
    assert "unopened: 3" in text
    assert engine.is_ours(write.values, "k3y", engine.ZOHO_CAMPAIGNS)
    assert not engine.is_ours(write.values, "k3y")  # not a Mailchimp campaign's record
    found = engine.pick_record([("5", write.values)], "k3y", engine.ZOHO_CAMPAIGNS)
    assert found is not None and found[0] == "5"


def test_member_writes_only_move_up_and_are_idempotent() -> None:
    people = [
        Recipient("new@x.org", acts(("open", 1))),
        Recipient("up@x.org", acts(("click", 2))),
        Recipient("same@x.org", acts(("open", 3))),
        Recipient("down@x.org", acts(("open", 4))),
        Recipient("bounce@x.org", acts(("bounce", 4))),
        Recipient("nobody@x.org"),
    ]
    links = {p.email: str(i + 1) for i, p in enumerate(people[:-1])}
    current = {"2": "Opened", "3": "Opened", "4": "Responded", "5": "Planned"}
    plan = engine.plan_members(people, links, current)
    written = {(w.record_id, w.status, w.reason) for w in plan.writes}
    assert written == {
        ("1", "Opened", MemberReason.NEW_MEMBER),
        ("2", "Responded", MemberReason.STATUS_UP),
        ("5", "Bounced", MemberReason.STATUS_UP),
    }
    assert plan.skipped == {
        MemberSkip.UNCHANGED: 1,
        MemberSkip.NOT_UPWARD: 1,
        MemberSkip.NO_CRM_RECORD: 1,
    }
    assert plan.unmatched == ["nobody@x.org"]
    after = {**current, **{w.record_id: w.status for w in plan.writes}}
    assert engine.plan_members(people, links, after).writes == []


def test_two_addresses_on_one_record_take_the_further_status() -> None:
    people = [Recipient("a@x.org", acts(("click", 1))), Recipient("b@x.org", acts(("open", 1)))]
    plan = engine.plan_members(people, {"a@x.org": "9", "b@x.org": "9"}, {})
    assert [(w.record_id, w.status) for w in plan.writes] == [("9", "Responded")]


@pytest.mark.parametrize(
    ("wanted", "recipients", "first_read", "one_by_one"),
    [
        (3, 100_000, False, True),  # three new opens on a big campaign: three calls
        (600, 100_000, False, False),  # 500 list pages are cheaper than 600 calls
        (3, 100_000, True, False),  # the first read takes the whole list
        (1, 150, False, False),  # one page holds them all
        (1, 201, False, True),
    ],
)
def test_crm_statuses_are_read_whichever_way_costs_fewer_calls(
    wanted: int, recipients: int, first_read: bool, one_by_one: bool
) -> None:
    assert engine.read_people_one_by_one(wanted, recipients, first_read=first_read) is one_by_one


def test_member_links_name_the_synced_module_only() -> None:
    assert engine.record_id_from_link("Contacts:123", "Contacts") == "123"
    assert engine.record_id_from_link("Leads:123", "Contacts") == ""
    assert engine.record_id_from_link("Contacts:", "Contacts") == ""
    assert engine.record_id_from_link("", "Contacts") == ""


# --- checkpoints ---------------------------------------------------------------------------


def test_the_checkpoint_is_the_latest_activity_confirmed() -> None:
    people = [Recipient("a@x.org", acts(("open", 5))), Recipient("b@x.org", acts(("click", 9)))]
    assert engine.next_checkpoint(None, people, []) == T0 + timedelta(minutes=9)
    assert engine.next_checkpoint(None, [Recipient("a@x.org")], []) is None
    # Everyone written, no activity yet: the send time, so the next read is incremental.
    assert engine.next_checkpoint(None, [Recipient("a@x.org")], [], T0) == T0
    assert engine.next_checkpoint(None, [Recipient("a@x.org")], ["a@x.org"], T0) is None
    assert engine.next_checkpoint(None, people, [], T0) == T0 + timedelta(minutes=9)


def test_the_checkpoint_stops_before_a_failed_write_and_never_moves_back() -> None:
    people = [
        Recipient("a@x.org", acts(("open", 5))),
        Recipient("b@x.org", acts(("open", 7), ("click", 9))),
        Recipient("c@x.org", acts(("open", 12))),
    ]
    assert engine.next_checkpoint(None, people, ["b@x.org"]) == T0 + timedelta(minutes=5)
    later = T0 + timedelta(hours=2)
    assert engine.next_checkpoint(later, people, []) == later
    previous = T0 + timedelta(minutes=1)
    assert engine.next_checkpoint(previous, [Recipient("z@x.org")], ["z@x.org"]) == previous
    assert engine.next_checkpoint(previous, people, ["a@x.org"]) == previous


# --- metrics -------------------------------------------------------------------------------


def test_a_pass_is_counted_with_bounded_labels_and_forgotten_with_its_sync() -> None:
    from crmsync import metrics

    def sample(name: str, **labels: str) -> float | None:
        return metrics.REGISTRY.get_sample_value(name, {"namespace": "ns", "sync": "s1", **labels})

    metrics.record_campaign_activity(
        "ns",
        "s1",
        outcome="Succeeded",
        members={"updated": 3, "unmatched": 1},
        campaigns={"created": 1},
    )
    assert sample("crmsync_campaign_activity_passes_total", outcome="Succeeded") == 1
    assert sample("crmsync_campaign_activity_members_total", result="updated") == 3
    assert sample("crmsync_campaign_activity_members_total", result="failed") == 0
    assert sample("crmsync_campaign_activity_members_total", result="unmatched") == 1
    assert sample("crmsync_campaign_activity_campaigns_total", action="created") == 1
    metrics.forget("ContactSync", "ns", "s1")
    assert sample("crmsync_campaign_activity_passes_total", outcome="Succeeded") is None


def test_a_campaign_sent_to_the_audience_brings_the_pass_forward() -> None:
    spec = CampaignActivitySpec(enabled=True, interval="1h")
    recent = T0 - timedelta(minutes=5)
    assert not engine.pass_due(spec, "Poll", recent, T0)
    assert engine.pass_due(spec, "Notification", recent, T0, campaign_sent=True)
    assert not engine.pass_due(CampaignActivitySpec(), "Poll", None, T0, campaign_sent=True)


def test_zoho_campaigns_links_come_from_the_record_index_of_the_synced_module() -> None:
    from crmsync.reconcile.activity import links_from_index

    entries = {"Contacts:1": "a@x.org", "Leads:7": "a@x.org", "Contacts:2": "b@x.org"}
    assert links_from_index(entries, "Contacts") == {
        "a@x.org": "Contacts:1",
        "b@x.org": "Contacts:2",
    }
    assert links_from_index(entries, "Leads") == {"a@x.org": "Leads:7"}


# --- EmailCampaign (C2): on once sent -------------------------------------------------------


def test_an_email_campaign_brings_activity_back_once_sent_and_then_per_interval() -> None:
    from crmsync.api.v1alpha1.emailcampaign import EmailCampaignActivity

    on = EmailCampaignActivity()
    assert on.enabled and on.interval == "15m"
    recent = T0 - timedelta(minutes=5)

    def due(spec: EmailCampaignActivity = on, sent: datetime | None = T0 - timedelta(hours=1),
            last: datetime | None = recent, **kw: bool) -> bool:  # fmt: skip
        return engine.email_campaign_pass_due(
            spec, sent, last, T0, requested=kw.get("requested", False),
            periodic=kw.get("periodic", True),
        )  # fmt: skip

    assert not due(sent=None)  # not sent yet
    assert not due(EmailCampaignActivity(enabled=False), requested=True)
    assert due(last=None)  # right after the send
    assert due(requested=True)  # crmsync.dev/sync-now
    assert due(periodic=False)  # a handler pass: operator start, a change
    assert not due()  # the timer, 5 minutes after the last pass
    assert due(last=T0 - timedelta(minutes=15))
    assert not due(sent=T0 - timedelta(days=31), last=T0 - timedelta(hours=2))  # settled
    assert due(sent=T0 - timedelta(days=31), last=T0 - timedelta(hours=2), requested=True)
