"""EmailCampaign's pure decisions: recipient selection (C1 limits and skip reasons) and the
next step (states, exactly-once creation and sending across restarts)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from crmsync.api.v1alpha1.contactsync import Criterion
from crmsync.api.v1alpha1.emailcampaign import (
    MODULE_RECIPIENT_LIMIT,
    TOTAL_RECIPIENT_LIMIT,
    CampaignAction,
    CampaignState,
    EmailCampaign,
    EmailCampaignSpec,
)
from crmsync.engine.emailcampaign import (
    Desired,
    Observed,
    RecipientSelector,
    SkipReason,
    Step,
    crm_fields,
    decide,
    recipients_hash,
    unapplied_changes,
)
from crmsync.engine.records import CrmRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(id_: str, email: str | None, **values: Any) -> CrmRecord:
    return CrmRecord(id=id_, modified_time=T0, values={"Email": email, **values})


def reasons(selector: RecipientSelector) -> dict[str, str]:
    return {s.record_id: s.reason for s in selector.finish().skipped}


# --- recipients -------------------------------------------------------------------------


def test_skip_reasons_like_contactsync() -> None:
    selector = RecipientSelector()
    selector.add(
        "Leads",
        [],
        [
            record("1", " Ana@Example.com "),
            record("2", None),
            record("3", "not-an-email"),
            record("4", "opt@example.com", Email_Opt_Out=True),
            record("5", "ana@example.com"),
        ],
    )
    selection = selector.finish()
    assert selection.recipients == ("ana@example.com",)
    assert {s.record_id: s.reason for s in selection.skipped} == {
        "2": SkipReason.MISSING_EMAIL,
        "3": SkipReason.INVALID_EMAIL,
        "4": SkipReason.OPTED_OUT,
        "5": SkipReason.DUPLICATE_EMAIL,
    }
    assert selection.considered == 5
    assert selection.skipped_by_reason() == {
        "missing_email": 1,
        "invalid_email": 1,
        "opted_out": 1,
        "duplicate_email": 1,
    }


def test_a_person_in_both_modules_is_one_recipient() -> None:
    selector = RecipientSelector()
    selector.add("Leads", [], [record("L1", "p@example.com")])
    selector.add("Contacts", [], [record("C1", "P@example.com"), record("C2", "q@example.com")])
    selection = selector.finish()
    assert selection.recipients == ("p@example.com", "q@example.com")
    assert dict(selection.by_module) == {"Leads": 1, "Contacts": 1}
    assert reasons(selector) == {"C1": SkipReason.DUPLICATE_EMAIL}


def test_an_opt_out_in_either_module_wins_over_a_record_that_did_not_opt_out() -> None:
    selector = RecipientSelector()
    selector.add("Leads", [], [record("L1", "p@example.com")])
    selector.add("Contacts", [], [record("C1", "p@example.com", Email_Opt_Out="true")])
    selection = selector.finish()
    assert selection.recipients == ()
    assert reasons(selector) == {"C1": SkipReason.OPTED_OUT, "L1": SkipReason.OPTED_OUT}


def test_custom_opt_out_field() -> None:
    selector = RecipientSelector(opt_out_field="No_Mail")
    selector.add("Contacts", [], [record("1", "a@example.com", No_Mail=True, Email_Opt_Out=False)])
    assert reasons(selector) == {"1": SkipReason.OPTED_OUT}


def test_records_outside_the_criteria_and_converted_leads_take_no_part() -> None:
    criteria = [Criterion(field="Lead_Status", operator="equals", values=["Contacted"])]
    selector = RecipientSelector()
    selector.add(
        "Leads",
        criteria,
        [
            record("1", "a@example.com", Lead_Status="Contacted"),
            record("2", "b@example.com", Lead_Status="Lost"),
            record("3", None, Lead_Status="Lost"),
            CrmRecord(
                "4", T0, {"Email": "c@example.com", "Lead_Status": "Contacted"}, converted=True
            ),
        ],
    )
    selection = selector.finish()
    assert selection.recipients == ("a@example.com",)
    assert selection.skipped == ()
    assert selection.considered == 1


def test_per_module_and_total_limits() -> None:
    selector = RecipientSelector(module_limit=2, total_limit=3)
    selector.add("Leads", [], [record(f"L{i}", f"l{i}@example.com") for i in range(3)])
    selector.add("Contacts", [], [record(f"C{i}", f"c{i}@example.com") for i in range(3)])
    selection = selector.finish()
    assert selection.recipients == (
        "l0@example.com",
        "l1@example.com",
        "c0@example.com",
    )
    assert reasons(selector) == {
        "L2": SkipReason.OVER_MODULE_LIMIT,
        "C1": SkipReason.OVER_TOTAL_LIMIT,
        "C2": SkipReason.OVER_TOTAL_LIMIT,
    }


def test_zoho_limits_are_the_documented_ones() -> None:
    assert (MODULE_RECIPIENT_LIMIT, TOTAL_RECIPIENT_LIMIT) == (200_000, 400_000)
    selector = RecipientSelector()
    assert (selector.module_limit, selector.total_limit) == (200_000, 400_000)


def _spec(**overrides: Any) -> EmailCampaignSpec:
    raw: dict[str, Any] = {
        "target": {"connectionRef": {"name": "campaigns"}, "listKey": "L1"},
        "recipients": {
            "connectionRef": {"name": "crm"},
            "sources": [
                {
                    "module": "Leads",
                    "criteria": [{"field": "Lead_Source", "operator": "equals", "values": ["Web"]}],
                },
                {"module": "Contacts"},
            ],
        },
        "subject": "Hello",
        "fromEmail": "news@acme.example",
        **overrides,
    }
    return EmailCampaignSpec.model_validate(raw)


def test_recipients_hash_follows_the_query_not_the_message_or_action() -> None:
    base = _spec()
    assert recipients_hash(base) == recipients_hash(_spec(subject="Other", action="Send"))
    assert recipients_hash(base) != recipients_hash(
        _spec(target={"connectionRef": {"name": "campaigns"}, "listKey": "L2"})
    )
    changed = base.model_copy(deep=True)
    changed.recipients.sources = changed.recipients.sources[:1]
    assert recipients_hash(base) != recipients_hash(changed)


def test_crm_fields_read_per_module() -> None:
    spec = _spec()
    assert crm_fields(spec, "Leads") == ["Email", "Email_Opt_Out", "Lead_Source"]
    assert crm_fields(spec, "Contacts") == ["Email", "Email_Opt_Out"]


def test_spec_defaults() -> None:
    spec = _spec()
    assert spec.action == CampaignAction.DRAFT
    assert spec.test_emails == []
    assert EmailCampaign.kind_info.short_names == ("ecamp",)


# --- the next step ----------------------------------------------------------------------

HASH = "h1"
PREPARED = Observed(
    campaign_key="K1", zoho_status="Draft", recipients_hash=HASH, recipients_selected=3
)


def want(action: CampaignAction, tests: tuple[str, ...] = ()) -> Desired:
    return Desired(action=action, recipients_hash=HASH, test_emails=tests)


def test_a_new_campaign_syncs_recipients_then_creates_then_holds_as_draft() -> None:
    first = decide(want(CampaignAction.DRAFT), Observed())
    assert (first.step, first.reason, first.state) == (
        Step.SYNC_RECIPIENTS,
        "NewCampaign",
        CampaignState.PENDING,
    )
    synced = Observed(recipients_hash=HASH, recipients_selected=3)
    create = decide(want(CampaignAction.DRAFT), synced)
    assert (create.step, create.adopt) == (Step.CREATE_CAMPAIGN, False)
    hold = decide(want(CampaignAction.DRAFT), PREPARED)
    assert (hold.step, hold.state) == (Step.HOLD, CampaignState.DRAFT)


def test_review_holds_in_to_review() -> None:
    decision = decide(want(CampaignAction.REVIEW), PREPARED)
    assert (decision.step, decision.state, decision.reason) == (
        Step.HOLD,
        CampaignState.TO_REVIEW,
        "AwaitingSend",
    )


def test_send_sends_then_confirms_and_is_done() -> None:
    send = decide(want(CampaignAction.SEND), PREPARED)
    assert (send.step, send.reason, send.state) == (
        Step.SEND,
        "SendRequested",
        CampaignState.SENDING,
    )
    done = decide(want(CampaignAction.SEND), replace(PREPARED, send_requested=True, sent=True))
    assert (done.step, done.state) == (Step.DONE, CampaignState.SENT)


def test_a_restart_after_create_before_the_key_was_recorded_looks_it_up_first() -> None:
    observed = Observed(recipients_hash=HASH, recipients_selected=3, create_requested=True)
    decision = decide(want(CampaignAction.SEND), observed)
    assert (decision.step, decision.adopt) == (Step.CREATE_CAMPAIGN, True)


def test_a_restart_after_send_before_it_was_recorded_never_sends_again() -> None:
    # Zoho says it went out: record it, no second sendcampaign.
    observed = replace(PREPARED, zoho_status="Sent", send_requested=True)
    decision = decide(want(CampaignAction.SEND), observed)
    assert (decision.step, decision.state) == (Step.CONFIRM_SENT, CampaignState.SENT)
    # Zoho still says Draft: the send did not happen; resend (Zoho refuses a double, 6600).
    pending = replace(PREPARED, send_requested=True)
    resumed = decide(want(CampaignAction.SEND), pending)
    assert (resumed.step, resumed.reason) == (Step.SEND, "ResumingSend")


@pytest.mark.parametrize("status", ["Sent", "In progress", "Scheduled"])
def test_sent_in_zoho_is_recorded_whatever_the_action(status: str) -> None:
    for action in CampaignAction:
        decision = decide(want(action), replace(PREPARED, zoho_status=status))
        assert decision.step is Step.CONFIRM_SENT
        assert decision.state is CampaignState.SENT


def test_a_send_request_freezes_the_recipients() -> None:
    observed = replace(PREPARED, recipients_hash="old", send_requested=True)
    assert decide(want(CampaignAction.SEND), observed).step is Step.SEND


def test_changed_recipients_are_synced_again_before_sending() -> None:
    observed = replace(PREPARED, recipients_hash="old")
    decision = decide(want(CampaignAction.SEND), observed)
    assert (decision.step, decision.reason, decision.state) == (
        Step.SYNC_RECIPIENTS,
        "RecipientsChanged",
        CampaignState.DRAFT,
    )


def test_cancel_before_sending_marks_cancelled_and_then_is_done() -> None:
    decision = decide(want(CampaignAction.CANCEL), PREPARED)
    assert (decision.step, decision.state) == (Step.MARK_CANCELLED, CampaignState.CANCELLED)
    # Cancel before anything exists in Zoho: nothing is created.
    assert decide(want(CampaignAction.CANCEL), Observed()).step is Step.MARK_CANCELLED
    done = decide(want(CampaignAction.CANCEL), replace(PREPARED, cancelled=True))
    assert (done.step, done.state, done.keep_reason) == (
        Step.DONE,
        CampaignState.CANCELLED,
        True,  # why it was cancelled (by spec, in Zoho) stays recorded
    )


def test_cancel_after_sent_reports_sent() -> None:
    decision = decide(want(CampaignAction.CANCEL), replace(PREPARED, sent=True))
    assert (decision.step, decision.reason, decision.state) == (
        Step.DONE,
        "AlreadySent",
        CampaignState.SENT,
    )


def test_cancelled_in_zoho_is_reported_and_never_sent() -> None:
    decision = decide(want(CampaignAction.SEND), replace(PREPARED, zoho_status="Canceled"))
    assert (decision.step, decision.reason) == (Step.MARK_CANCELLED, "CancelledInZohoCampaigns")


def test_a_campaign_deleted_in_zoho_is_not_created_again() -> None:
    decision = decide(want(CampaignAction.SEND), replace(PREPARED, campaign_found=False))
    assert (decision.step, decision.reason) == (Step.BLOCKED, "CampaignNotFound")


def test_no_recipients_creates_nothing_and_sends_nothing() -> None:
    observed = Observed(recipients_hash=HASH, recipients_selected=0)
    decision = decide(want(CampaignAction.SEND), observed)
    assert (decision.step, decision.reason) == (Step.BLOCKED, "NoRecipients")


def test_test_emails_are_recorded_once_per_address_set() -> None:
    tests = ("a@acme.example", "b@acme.example")
    first = decide(want(CampaignAction.DRAFT, tests), PREPARED)
    assert first.step is Step.RECORD_TEST_MAIL
    recorded = replace(PREPARED, test_mail_for=("b@acme.example", "a@acme.example"))
    assert decide(want(CampaignAction.DRAFT, tests), recorded).step is Step.HOLD
    changed = want(CampaignAction.DRAFT, ("c@acme.example",))
    assert decide(changed, recorded).step is Step.RECORD_TEST_MAIL


def test_message_changes_after_creation_are_reported_not_applied() -> None:
    spec = _spec(subject="New subject")
    assert unapplied_changes(spec, "Hello", "news@acme.example") == ("subject",)
    assert unapplied_changes(spec, "New subject", "NEWS@acme.example") == ()
    assert unapplied_changes(spec, "New subject", "other@acme.example") == ("fromEmail",)
    assert unapplied_changes(spec, "", "") == ()  # unknown in Zoho: nothing to report


def test_cancel_stops_a_send_zoho_has_not_carried_out() -> None:
    stuck = replace(PREPARED, send_requested=True)  # e.g. Zoho refused: no content (6607)
    decision = decide(want(CampaignAction.CANCEL), stuck)
    assert (decision.step, decision.state) == (Step.MARK_CANCELLED, CampaignState.CANCELLED)
    # ... but what Zoho reports sent is never reported cancelled.
    sent = replace(stuck, zoho_status="Sent", cancelled=True)
    assert decide(want(CampaignAction.CANCEL), sent).state is CampaignState.SENT
