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
    observed = [member("a@x.io", "1", status=MemberStatus.UNSUBSCRIBED, FNAME="Old")]
    [action] = plan(settings(), [record("1", "a@x.io", First_Name="New")], observed)
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
