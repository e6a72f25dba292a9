"""The pure plan: one case per rule, each with the reason it exists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.engine.plan import Action, ActionKind, Planner, Reason
from crmsync.engine.records import CrmRecord, DeletedRecord, Member, MemberStatus
from crmsync.engine.settings import SyncSettings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def settings(contact_limit: int = 0, **spec: Any) -> SyncSettings:
    body: dict[str, Any] = {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Leads"},
        "target": {"connectionRef": {"name": "mc"}, "listId": "L1", "tags": ["crm"]},
        "fieldMapping": [
            {"crmField": "First_Name", "campaignField": "FNAME"},
            {"crmField": "Last_Name", "campaignField": "LNAME"},
        ],
    }
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return SyncSettings.resolve(
        ContactSyncSpec.model_validate(body),
        mapping=None,
        policy=None,
        target_provider="mailchimp",
        contact_limit=contact_limit,
    )


def record(rid: str, email: str | None, **values: Any) -> CrmRecord:
    converted = values.pop("converted", False)
    return CrmRecord(
        id=rid,
        modified_time=values.pop("modified", T0),
        values={"Email": email, **values},
        converted=converted,
    )


def member(
    email: str,
    rid: str | None = None,
    status: MemberStatus = MemberStatus.SUBSCRIBED,
    **values: str,
) -> Member:
    if rid is not None:
        values["CRMID"] = f"Leads:{rid}"
    return Member(email=email, status=status, values=values, tags=frozenset({"crm"}))


def plan(
    s: SyncSettings,
    records: list[CrmRecord],
    observed: list[Member] = (),
    *,
    full: bool = True,
    deleted: list[DeletedRecord] = (),
) -> list[Action]:  # type: ignore[assignment]
    planner = Planner(s, {m.email: m for m in observed}, full=full)
    return planner.plan_records(records) + planner.plan_deletions(deleted) + planner.finish()


def kinds(actions: list[Action]) -> list[tuple[str, str, str]]:
    return [(a.kind.value, a.email, a.reason.value) for a in actions]


def test_new_record_is_added_with_mapped_fields_tags_and_record_link() -> None:
    [action] = plan(settings(), [record("1", " Ana@Example.com ", First_Name="Ana")])
    assert (action.kind, action.email) == (ActionKind.ADD, "ana@example.com")
    assert action.write is not None
    assert action.write.values == {"FNAME": "Ana", "CRMID": "Leads:1"}
    assert action.write.status_if_new == MemberStatus.SUBSCRIBED
    assert action.write.status is None, "status is never a mapped field"
    assert action.write.tags == {"crm"}


def test_update_carries_only_the_fields_that_differ() -> None:
    observed = [member("a@x.io", "1", FNAME="Ana", LNAME="Old")]
    [action] = plan(
        settings(), [record("1", "a@x.io", First_Name="Ana", Last_Name="New")], observed
    )
    assert action.kind == ActionKind.UPDATE
    assert [(c.field, c.old, c.new) for c in action.changes] == [("LNAME", "Old", "New")]
    assert action.write is not None and action.write.values == {"LNAME": "New"}


def test_unchanged_member_needs_no_write() -> None:
    observed = [member("a@x.io", "1", FNAME="Ana", LNAME="B")]
    assert kinds(
        plan(settings(), [record("1", "a@x.io", First_Name="Ana", Last_Name="B")], observed)
    ) == [("unchanged", "a@x.io", "in_sync")]


@pytest.mark.parametrize(
    ("update_empty", "expected"),
    [(False, "unchanged"), (True, "update")],
    ids=["Z7-off-keeps-the-old-value", "Z7-on-clears-it"],
)
def test_cleared_crm_value(update_empty: bool, expected: str) -> None:
    observed = [member("a@x.io", "1", FNAME="Ana", LNAME="B")]
    [action] = plan(
        settings(updateEmptyValues=update_empty),
        [record("1", "a@x.io", First_Name="Ana", Last_Name=None)],
        observed,
    )
    assert action.kind.value == expected
    if update_empty:
        assert action.write is not None and action.write.values == {"LNAME": ""}


def test_unsubscribed_member_is_updated_but_never_resubscribed() -> None:
    """With ``campaignUnsubscribe: Ignore`` (else the CRM learns of the unsubscribe first,
    see the Z17 tests below)."""
    observed = [member("a@x.io", "1", status=MemberStatus.UNSUBSCRIBED, FNAME="Old")]
    s = settings(optOutPolicy={"campaignUnsubscribe": "Ignore"})
    [action] = plan(s, [record("1", "a@x.io", First_Name="New")], observed)
    assert action.kind == ActionKind.UPDATE
    assert action.write is not None
    assert action.write.status is None
    assert action.write.status_if_new == MemberStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        (None, "missing_email"),
        ("  ", "missing_email"),
        ("not-an-email", "invalid_email"),
        ("a@b", "invalid_email"),
    ],
)
def test_bad_emails_are_ignored_with_a_reason(email: str | None, reason: str) -> None:
    [action] = plan(settings(), [record("1", email)])
    assert (action.kind, action.reason.value) == (ActionKind.SKIP_IGNORED, reason)


def test_second_record_with_the_same_email_is_a_duplicate() -> None:
    actions = plan(settings(), [record("1", "a@x.io"), record("2", "A@X.IO ")])
    assert kinds(actions) == [
        ("add", "a@x.io", "new_record"),
        ("skip_duplicate", "a@x.io", "duplicate_email"),
    ]


@pytest.mark.parametrize(
    ("policy", "status", "expected"),
    [
        ("Exclude", MemberStatus.SUBSCRIBED, "skip_ignored"),
        ("Unsubscribe", MemberStatus.SUBSCRIBED, "unsubscribe"),
        ("Unsubscribe", MemberStatus.UNSUBSCRIBED, "skip_ignored"),
        ("Archive", MemberStatus.SUBSCRIBED, "remove"),
    ],
    ids=["Z8-exclude", "Z8-unsubscribe", "already-unsubscribed", "Z8-archive"],
)
def test_crm_opt_out_follows_the_policy(policy: str, status: MemberStatus, expected: str) -> None:
    s = settings(optOutPolicy={"crmOptOut": policy})
    [action] = plan(
        s, [record("1", "a@x.io", Email_Opt_Out=True)], [member("a@x.io", "1", status=status)]
    )
    assert (action.kind.value, action.reason) == (expected, Reason.OPTED_OUT)


def test_opted_out_record_without_member_is_never_added() -> None:
    [action] = plan(
        settings(optOutPolicy={"crmOptOut": "Unsubscribe"}),
        [record("1", "a@x.io", Email_Opt_Out=True)],
    )
    assert (action.kind, action.reason) == (ActionKind.SKIP_IGNORED, Reason.OPTED_OUT)


def test_plan_limit_stops_adding_marketing_contacts() -> None:
    actions = plan(
        settings(contact_limit=2),
        [record(str(i), f"p{i}@x.io") for i in range(3)],
        [member("old@x.io")],
    )
    assert [a.kind.value for a in actions] == ["add", "skip_ignored", "skip_ignored"]
    assert {a.reason for a in actions[1:]} == {Reason.OVER_PLAN_LIMIT}


def test_non_marketing_contacts_do_not_count_against_the_plan_limit() -> None:
    s = settings(contact_limit=1, subscriptionType="NonMarketing")
    actions = plan(s, [record(str(i), f"p{i}@x.io") for i in range(3)])
    assert {a.kind for a in actions} == {ActionKind.ADD}
    assert {a.write.status_if_new for a in actions if a.write} == {MemberStatus.NON_MARKETING}


@pytest.mark.parametrize(
    ("consented", "expected"),
    [(True, MemberStatus.SUBSCRIBED), (False, MemberStatus.NON_MARKETING)],
)
def test_consent_from_crm_decides_marketing_for_new_contacts(
    consented: bool, expected: MemberStatus
) -> None:
    s = settings(
        optOutPolicy={
            "consent": {"gdpr": True, "updateConsentFromCrm": True, "consentField": "Consent"}
        }
    )
    [action] = plan(s, [record("1", "a@x.io", Consent=consented)])
    assert action.write is not None
    assert action.write.status_if_new == expected
    assert action.write.consent is consented
    assert action.write.legal_basis == "Consent"


@pytest.mark.parametrize(
    ("basis", "consented"), [("Obtained", True), ("Pending", False), ("Contract", False)]
)
def test_zoho_consent_status_text_counts_as_consent(basis: str, consented: bool) -> None:
    """Z6: Zoho CRM keeps consent in Data_Processing_Basis ("Obtained"), not a boolean."""
    s = settings(
        optOutPolicy={
            "consent": {
                "gdpr": True,
                "updateConsentFromCrm": True,
                "consentField": "Data_Processing_Basis",
            }
        }
    )
    [action] = plan(s, [record("1", "a@x.io", Data_Processing_Basis=basis)])
    assert action.write is not None and action.write.consent is consented


def test_topic_is_given_to_new_members_only() -> None:
    """Z4: new members join the sync's topic; updates never send it, so someone who left
    the topic is not put back."""
    s = settings(target={"topicId": "T1"})
    actions = plan(
        s,
        [record("1", "new@x.io"), record("2", "old@x.io", First_Name="Changed")],
        [member("old@x.io", "2", FNAME="Before")],
    )
    writes = {a.email: a.write for a in actions if a.write is not None}
    assert writes["new@x.io"].topics == frozenset({"T1"})
    assert writes["old@x.io"].topics == frozenset()


def test_update_only_does_not_add() -> None:
    [action] = plan(settings(syncMode="UpdateOnly"), [record("1", "a@x.io")])
    assert (action.kind, action.reason) == (ActionKind.SKIP_IGNORED, Reason.NOT_IN_AUDIENCE)


def test_create_only_does_not_update() -> None:
    [action] = plan(
        settings(syncMode="CreateOnly"),
        [record("1", "a@x.io", First_Name="New")],
        [member("a@x.io", "1", FNAME="Old")],
    )
    assert (action.kind, action.reason) == (ActionKind.UNCHANGED, Reason.CREATE_ONLY)


def test_record_leaving_the_criteria_leaves_the_audience() -> None:
    s = settings(
        crm={"criteria": [{"field": "Country", "operator": "in", "values": ["Spain", "Poland"]}]}
    )
    actions = plan(
        s,
        [
            record("1", "stay@x.io", Country="Spain"),
            record("2", "go@x.io", Country="France"),
            record("3", "never@x.io", Country="Peru"),
        ],
        [member("stay@x.io", "1"), member("go@x.io", "2")],
        full=False,
    )
    assert kinds(actions) == [
        ("unchanged", "stay@x.io", "in_sync"),
        ("remove", "go@x.io", "left_criteria"),
    ]


def test_converted_lead_leaves_the_list_when_asked() -> None:
    s = settings(removeConvertedLeads=True)
    actions = plan(s, [record("1", "a@x.io", converted=True)], [member("a@x.io", "1")], full=False)
    assert kinds(actions) == [("remove", "a@x.io", "converted_lead")]


def test_converted_lead_leaves_when_the_target_cannot_return_the_record_link() -> None:
    """Z9 on Zoho Campaigns: its list listing has no custom fields, so the email links."""
    s = settings(removeConvertedLeads=True)
    actions = plan(s, [record("1", "a@x.io", converted=True)], [member("a@x.io")], full=False)
    assert kinds(actions) == [("remove", "a@x.io", "converted_lead")]


def test_converted_lead_does_not_remove_another_records_member() -> None:
    s = settings(removeConvertedLeads=True)
    actions = plan(s, [record("1", "a@x.io", converted=True)], [member("a@x.io", "2")], full=False)
    assert kinds(actions) == []


@pytest.mark.parametrize(
    ("on_delete", "expected", "permanent"),
    [
        ("Archive", "remove", False),
        ("DeletePermanently", "remove", True),
        ("Unsubscribe", "unsubscribe", False),
    ],
)
def test_crm_deletions_follow_on_crm_delete(on_delete: str, expected: str, permanent: bool) -> None:
    actions = plan(
        settings(onCrmDelete=on_delete),
        [],
        [member("a@x.io", "1")],
        full=False,
        deleted=[DeletedRecord("1", T0)],
    )
    assert [(a.kind.value, a.reason, a.permanent) for a in actions] == [
        (expected, Reason.CRM_DELETED, permanent)
    ]


def test_keep_on_delete_leaves_the_member() -> None:
    assert (
        plan(
            settings(onCrmDelete="Keep"),
            [],
            [member("a@x.io", "1")],
            full=False,
            deleted=[DeletedRecord("1", T0)],
        )
        == []
    )


def test_full_run_notices_records_deleted_while_nobody_watched() -> None:
    actions = plan(
        settings(), [record("1", "a@x.io")], [member("a@x.io", "1"), member("gone@x.io", "9")]
    )
    assert ("remove", "gone@x.io", "crm_deleted") in kinds(actions)


def test_full_run_leaves_members_of_other_sources_alone_unless_mirror() -> None:
    observed = [member("signup-form@x.io")]
    assert plan(settings(), [], observed) == []
    assert kinds(plan(settings(syncMode="Mirror"), [], observed)) == [
        ("remove", "signup-form@x.io", "not_in_crm")
    ]


def test_email_change_moves_the_member() -> None:
    actions = plan(settings(), [record("1", "new@x.io")], [member("old@x.io", "1")], full=False)
    assert kinds(actions) == [
        ("add", "new@x.io", "new_record"),
        ("remove", "old@x.io", "fields_changed"),
    ]


def test_records_modified_before_the_cutoff_do_not_take_part() -> None:
    s = settings(crm={"modifiedAfter": "2026-06-01T00:00:00Z"})
    actions = plan(
        s,
        [
            record("1", "old@x.io"),
            record("2", "new@x.io", modified=datetime(2026, 7, 1, tzinfo=UTC)),
        ],
        [member("old@x.io", "1")],
    )
    assert kinds(actions) == [("add", "new@x.io", "new_record")], (
        "old record is neither synced nor deleted"
    )


def test_incremental_run_treats_a_member_of_another_record_as_duplicate() -> None:
    [action] = plan(settings(), [record("2", "a@x.io")], [member("a@x.io", "1")], full=False)
    assert action.kind == ActionKind.SKIP_DUPLICATE


def test_missing_tags_are_added_to_existing_members() -> None:
    m = Member(
        email="a@x.io",
        status=MemberStatus.SUBSCRIBED,
        values={"CRMID": "Leads:1"},
        tags=frozenset(),
    )
    [action] = plan(settings(), [record("1", "a@x.io")], [m])
    assert action.kind == ActionKind.UPDATE
    assert action.write is not None and action.write.tags == {"crm"}


def test_a_record_read_twice_in_one_run_is_not_its_own_duplicate() -> None:
    """Paging by modification time reads a record edited during the run again."""
    actions = plan(
        settings(), [record("1", "a@x.io", First_Name="A"), record("1", "a@x.io", First_Name="B")]
    )
    assert kinds(actions) == [("add", "a@x.io", "new_record")]


def test_records_outside_the_criteria_are_not_counted_even_with_bad_emails() -> None:
    s = settings(
        crm={"criteria": [{"field": "Country", "operator": "equals", "values": ["Spain"]}]}
    )
    actions = plan(
        s,
        [
            record("1", "not-an-email", Country="France"),
            record("2", None, Country="Peru"),
            record("3", "bad", Country="Spain"),
        ],
    )
    assert kinds(actions) == [("skip_ignored", "bad", "invalid_email")]


def zoho_campaigns_settings(**spec: Any) -> SyncSettings:
    body: dict[str, Any] = {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Leads", **spec.pop("crm", {})},
        "target": {"connectionRef": {"name": "zc"}, "listId": "L1"},
        **spec,
    }
    return SyncSettings.resolve(
        ContactSyncSpec.model_validate(body),
        mapping=None,
        policy=None,
        target_provider="zoho-campaigns",
    )


def zc_member(email: str, rid: str, status: MemberStatus) -> Member:
    return Member(email=email, status=status, values={"CRM Record ID": f"Leads:{rid}"})


def test_a_zoho_campaigns_member_already_off_the_list_is_not_removed_again() -> None:
    """Leaving the list unsubscribes from it (the contact stays in all contacts): on the
    next full comparison that member is off the list already, and removing it again would
    count it as deleted once more each time."""
    s = zoho_campaigns_settings(
        crm={"criteria": [{"field": "Country", "operator": "equals", "values": ["Spain"]}]}
    )
    records = [record("1", "a@x.io", Country="France"), record("2", "b@x.io", Country="France")]
    observed = [
        zc_member("a@x.io", "1", MemberStatus.SUBSCRIBED),
        zc_member("b@x.io", "2", MemberStatus.UNSUBSCRIBED),
    ]
    actions = plan(s, records, observed, full=True)
    assert kinds(actions) == [("remove", "a@x.io", "left_criteria")]


def test_a_zoho_campaigns_member_of_a_deleted_record_already_off_the_list_is_left() -> None:
    s = zoho_campaigns_settings()
    observed = [
        zc_member("a@x.io", "1", MemberStatus.SUBSCRIBED),
        zc_member("b@x.io", "2", MemberStatus.UNSUBSCRIBED),
    ]
    actions = plan(s, [], observed, full=True)
    assert kinds(actions) == [("remove", "a@x.io", "crm_deleted")]


# -- Z17: campaign-side unsubscribes reach the CRM in the one-way CRM → campaign flow ------


def test_mirroring_is_for_the_one_way_crm_to_campaign_flow_with_set_crm_opt_out() -> None:
    """Flows with a campaign → CRM half carry unsubscribes there (engine/reverse.py)."""
    assert settings().mirror_campaign_unsubscribes
    assert not settings(flow={"type": "TwoWay", "direction": None}).mirror_campaign_unsubscribes
    assert not settings(flow={"direction": "CampaignToCrm"}).mirror_campaign_unsubscribes
    ignore_all = {"campaignUnsubscribe": "Ignore", "markCleanedInCrm": False}
    assert not settings(optOutPolicy=ignore_all).mirror_campaign_unsubscribes


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (MemberStatus.UNSUBSCRIBED, "campaign_unsubscribed"),
        (MemberStatus.CLEANED, "campaign_cleaned"),
    ],
)
def test_a_member_who_left_on_the_campaign_side_opts_the_crm_record_out(
    status: MemberStatus, reason: str
) -> None:
    observed = [member("a@x.io", "1", status=status, FNAME="Old")]
    [action] = plan(settings(), [record("1", "a@x.io", First_Name="New")], observed)
    assert kinds([action]) == [("crm_opt_out", "a@x.io", reason)]
    assert action.record_id == "1"
    assert action.write is None  # no field update, and never a status, for the member
    assert [(c.field, c.new) for c in action.changes] == [("CRM Email_Opt_Out", "true")]


def test_an_unlinked_member_with_the_records_email_opts_it_out() -> None:
    """Identity is the email; Zoho Campaigns' listing cannot return the record link."""
    observed = [member("a@x.io", status=MemberStatus.UNSUBSCRIBED)]
    actions = plan(settings(), [record("1", "a@x.io")], observed, full=False)
    assert kinds(actions) == [("crm_opt_out", "a@x.io", "campaign_unsubscribed")]


def test_a_member_linked_to_another_record_does_not_opt_this_one_out() -> None:
    observed = [member("a@x.io", "2", status=MemberStatus.UNSUBSCRIBED)]
    [action] = plan(settings(), [record("1", "a@x.io")], observed, full=True)
    assert action.kind == ActionKind.UPDATE  # takes the member over (the link); no opt-out
    assert action.write is not None and action.write.status is None
    [action] = plan(settings(), [record("1", "a@x.io")], observed, full=False)
    assert action.kind == ActionKind.SKIP_DUPLICATE


def test_an_already_opted_out_record_is_not_opted_out_again() -> None:
    observed = [member("a@x.io", "1", status=MemberStatus.UNSUBSCRIBED)]
    actions = plan(settings(), [record("1", "a@x.io", Email_Opt_Out=True)], observed)
    assert kinds(actions) == [("skip_ignored", "a@x.io", "opted_out")]


def test_ignore_policy_leaves_the_crm_alone_for_unsubscribes() -> None:
    s = settings(optOutPolicy={"campaignUnsubscribe": "Ignore"})
    observed = [
        member("a@x.io", "1", status=MemberStatus.UNSUBSCRIBED),
        member("b@x.io", "2", status=MemberStatus.CLEANED),
    ]
    actions = plan(s, [record("1", "a@x.io"), record("2", "b@x.io")], observed)
    # Cleaned addresses follow markCleanedInCrm (default true), as in the two-way flows.
    assert kinds(actions) == [
        ("unchanged", "a@x.io", "in_sync"),
        ("crm_opt_out", "b@x.io", "campaign_cleaned"),
    ]
    quiet = settings(optOutPolicy={"campaignUnsubscribe": "Ignore", "markCleanedInCrm": False})
    actions = plan(quiet, [record("1", "a@x.io"), record("2", "b@x.io")], observed)
    assert [a.kind for a in actions] == [ActionKind.UNCHANGED, ActionKind.UNCHANGED]


def test_cleaned_addresses_stay_out_of_the_crm_without_mark_cleaned() -> None:
    s = settings(optOutPolicy={"markCleanedInCrm": False})
    observed = [
        member("a@x.io", "1", status=MemberStatus.UNSUBSCRIBED),
        member("b@x.io", "2", status=MemberStatus.CLEANED),
    ]
    actions = plan(s, [record("1", "a@x.io"), record("2", "b@x.io")], observed)
    assert kinds(actions) == [
        ("crm_opt_out", "a@x.io", "campaign_unsubscribed"),
        ("unchanged", "b@x.io", "in_sync"),
    ]


def test_two_way_flows_leave_it_to_the_campaign_to_crm_half() -> None:
    s = settings(flow={"type": "TwoWay", "direction": None})
    observed = [member("a@x.io", "1", status=MemberStatus.UNSUBSCRIBED)]
    actions = plan(s, [record("1", "a@x.io")], observed)
    assert ActionKind.CRM_OPT_OUT not in {a.kind for a in actions}


@pytest.mark.parametrize("status", [MemberStatus.SUBSCRIBED, MemberStatus.PENDING,
                                    MemberStatus.NON_MARKETING])  # fmt: skip
def test_other_statuses_are_not_opt_outs(status: MemberStatus) -> None:
    observed = [member("a@x.io", "1", status=status)]
    [action] = plan(settings(), [record("1", "a@x.io")], observed)
    assert action.kind == ActionKind.UNCHANGED


def test_records_that_do_not_take_part_are_never_opted_out() -> None:
    """The operator's own unsubscribes do not come back as CRM opt-outs: records it took
    off the list (left the criteria, converted, deleted in the CRM, opted out in the CRM
    with crmOptOut Unsubscribe) either do not take part or are opted out already."""
    s = settings(
        crm={"criteria": [{"field": "Country", "operator": "equals", "values": ["Spain"]}]},
        removeConvertedLeads=True,
        onCrmDelete="Unsubscribe",
        optOutPolicy={"crmOptOut": "Unsubscribe"},
    )
    observed = [
        member("left@x.io", "1", status=MemberStatus.UNSUBSCRIBED),
        member("conv@x.io", "2", status=MemberStatus.UNSUBSCRIBED),
        member("gone@x.io", "3", status=MemberStatus.UNSUBSCRIBED),
        member("opt@x.io", "4", status=MemberStatus.UNSUBSCRIBED),
        member("person@x.io", "5", status=MemberStatus.UNSUBSCRIBED),
    ]
    records = [
        record("1", "left@x.io", Country="France"),
        record("2", "conv@x.io", Country="Spain", converted=True),
        record("4", "opt@x.io", Country="Spain", Email_Opt_Out=True),
        record("5", "person@x.io", Country="Spain"),
    ]
    deleted = [DeletedRecord("3", T0)]
    for full in (True, False):
        actions = plan(s, records, observed, full=full, deleted=deleted)
        opt_outs = [a for a in actions if a.kind == ActionKind.CRM_OPT_OUT]
        assert kinds(opt_outs) == [("crm_opt_out", "person@x.io", "campaign_unsubscribed")]
        # The others: skipped, or (Mailchimp) archived as before; never resubscribed.
        assert {a.kind for a in actions} - {ActionKind.CRM_OPT_OUT} <= {
            ActionKind.SKIP_IGNORED,
            ActionKind.REMOVE,
        }


def test_zoho_campaigns_member_taken_off_the_list_for_leaving_the_criteria_stays() -> None:
    """Leaving the list unsubscribes from it on Zoho Campaigns: that unsubscribe is the
    operator's, and the record (still outside the criteria) is not opted out in the CRM."""
    s = zoho_campaigns_settings(
        crm={"criteria": [{"field": "Country", "operator": "equals", "values": ["Spain"]}]}
    )
    records = [record("1", "left@x.io", Country="France"), record("2", "p@x.io", Country="Spain")]
    observed = [
        zc_member("left@x.io", "1", MemberStatus.UNSUBSCRIBED),
        Member("p@x.io", MemberStatus.UNSUBSCRIBED, {}),  # a person left; no link read back
    ]
    actions = plan(s, records, observed, full=True)
    assert kinds(actions) == [("crm_opt_out", "p@x.io", "campaign_unsubscribed")]


def test_incremental_candidates_are_linked_members_who_left_since_the_checkpoint() -> None:
    since = datetime(2026, 2, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    after, before = datetime(2026, 2, 2, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC)

    def m(email: str, key: str, status: MemberStatus, changed: datetime | None) -> Member:
        values = {"CRMID": key} if key else {}
        return Member(email, status, values, last_changed=changed)

    observed = [
        m("a@x.io", "Leads:10", MemberStatus.UNSUBSCRIBED, after),
        # in the checkpoint's second counts (last_changed has whole seconds)
        m("b@x.io", "Leads:9", MemberStatus.CLEANED, since.replace(microsecond=0)),
        m("c@x.io", "Leads:3", MemberStatus.UNSUBSCRIBED, before),  # before: a full run's job
        m("d@x.io", "Leads:4", MemberStatus.SUBSCRIBED, after),
        m("e@x.io", "Contacts:5", MemberStatus.UNSUBSCRIBED, after),  # another module's
        m("f@x.io", "", MemberStatus.UNSUBSCRIBED, after),  # unlinked: no record id to read
        m("g@x.io", "Leads:7", MemberStatus.UNSUBSCRIBED, None),  # no change time (Zoho Campaigns)
    ]
    planner = Planner(settings(), {x.email: x for x in observed}, full=False)
    assert planner.campaign_opt_out_candidates(since) == ["9", "10"]
    ignore = settings(optOutPolicy={"campaignUnsubscribe": "Ignore"})
    planner = Planner(ignore, {x.email: x for x in observed}, full=False)
    assert planner.campaign_opt_out_candidates(since) == ["9"]  # cleaned still counts
    two_way = settings(flow={"type": "TwoWay", "direction": None})
    planner = Planner(two_way, {x.email: x for x in observed}, full=False)
    assert planner.campaign_opt_out_candidates(since) == []
