"""When runs happen: one case per trigger rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.status import RunSummary, RunTrigger
from crmsync.engine.triggers import Decision, Observed, decide

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def spec(**trigger: Any) -> ContactSyncSpec:
    return ContactSyncSpec.model_validate(
        {
            "crm": {"connectionRef": {"name": "c"}, "module": "Leads"},
            "target": {"connectionRef": {"name": "t"}, "listId": "L"},
            "trigger": trigger,
        }
    )


def run(minutes_ago: int) -> RunSummary:
    end = NOW - timedelta(minutes=minutes_ago)
    return RunSummary(
        id="r", trigger=RunTrigger.POLL, start_time=end - timedelta(seconds=5), end_time=end
    )


SETTLED = Observed(
    generation=1,
    synced_generation=1,
    sync_now="",
    last_handled_sync_now="",
    last_run=run(1),
    last_full_sync=NOW - timedelta(hours=1),
    last_scheduled_run=None,
    created=NOW - timedelta(minutes=10),
)


def test_first_run_is_full() -> None:
    assert decide(spec(), replace(SETTLED, last_run=None), NOW) == Decision(
        RunTrigger.INITIAL, full=True
    )


def test_spec_change_runs_in_full() -> None:
    assert decide(spec(), replace(SETTLED, generation=2), NOW).trigger == RunTrigger.SPEC_CHANGE


def test_sync_now_annotation_runs_once() -> None:
    assert decide(spec(), replace(SETTLED, sync_now="a"), NOW).trigger == RunTrigger.MANUAL
    assert (
        decide(spec(), replace(SETTLED, sync_now="a", last_handled_sync_now="a"), NOW).trigger
        is None
    )


def test_suspended_sync_never_runs() -> None:
    suspended = spec().model_copy(update={"suspend": True})
    assert decide(suspended, replace(SETTLED, sync_now="x", last_run=None), NOW).trigger is None


def test_poll_waits_for_its_interval() -> None:
    decision = decide(spec(pollInterval="5m"), SETTLED, NOW)
    assert decision.trigger is None
    assert decision.next_check == NOW + timedelta(minutes=4)
    assert (
        decide(spec(pollInterval="5m"), replace(SETTLED, last_run=run(6)), NOW).trigger
        == RunTrigger.POLL
    )


def test_notification_runs_at_once() -> None:
    assert decide(spec(), replace(SETTLED, notified=True), NOW).trigger == RunTrigger.NOTIFICATION


def test_full_resync_on_its_own_interval() -> None:
    stale = replace(SETTLED, last_full_sync=NOW - timedelta(hours=25))
    assert decide(spec(fullResyncInterval="24h"), stale, NOW) == Decision(
        RunTrigger.FULL_RESYNC, full=True
    )


def test_schedule_waits_for_its_time_even_on_creation() -> None:
    daily = spec(mode="Scheduled", schedule={"frequency": "Daily", "at": "10:30"})
    decision = decide(daily, replace(SETTLED, last_run=None), NOW)
    assert decision.trigger is None
    assert decision.next_check == NOW + timedelta(minutes=30)
    later = NOW + timedelta(minutes=31)
    assert decide(daily, replace(SETTLED, last_run=None), later).trigger == RunTrigger.SCHEDULE


def test_scheduled_run_is_not_started_twice() -> None:
    daily = spec(mode="Scheduled", schedule={"frequency": "Daily", "at": "09:00"})
    done_today = replace(SETTLED, last_scheduled_run=NOW - timedelta(minutes=59))
    assert decide(daily, done_today, NOW).trigger is None


def test_manual_mode_runs_only_when_asked() -> None:
    assert decide(spec(mode="Manual"), replace(SETTLED, last_run=run(600)), NOW).trigger is None


# --- crash safety and notification channels -------------------------------------------


def test_an_interrupted_full_run_is_resumed_before_anything_else() -> None:
    seen = replace(SETTLED, resume_pending=True, sync_now="x", generation=2)
    assert decide(spec(), seen, NOW) == Decision(RunTrigger.RESUMED, full=True)


def test_a_suspended_sync_does_not_resume() -> None:
    suspended = ContactSyncSpec.model_validate(
        {**spec().model_dump(by_alias=True), "suspend": True}
    )
    assert decide(suspended, replace(SETTLED, resume_pending=True), NOW).trigger is None


def flow_spec(flow: dict[str, Any], *, suspend: bool = False, **trigger: Any) -> ContactSyncSpec:
    return ContactSyncSpec.model_validate(
        {
            "crm": {"connectionRef": {"name": "c"}, "module": "Leads"},
            "target": {"connectionRef": {"name": "t"}, "listId": "L"},
            "trigger": trigger,
            "flow": flow,
            "suspend": suspend,
        }
    )


TWO_WAY = {"type": "TwoWay"}
FROM_CAMPAIGN = {"type": "OneWay", "direction": "CampaignToCrm"}
TO_CAMPAIGN = {"type": "OneWay", "direction": "CrmToCampaign"}


def test_audience_webhook_only_for_instant_syncs_that_read_the_campaign_side() -> None:
    from crmsync.engine.triggers import ChannelAction, audience_webhook_action

    def action(s: ContactSyncSpec, registered: bool, **kw: bool) -> ChannelAction:
        options = {"endpoint_ready": True, "target_has_webhooks": True, **kw}
        return audience_webhook_action(s, registered, **options)

    for flow in (TWO_WAY, FROM_CAMPAIGN):
        assert action(flow_spec(flow), False) == ChannelAction.SUBSCRIBE
        assert action(flow_spec(flow), True) == ChannelAction.KEEP
        assert action(flow_spec(flow), True, url_changed=True) == ChannelAction.SUBSCRIBE
    assert action(flow_spec(TO_CAMPAIGN), False) == ChannelAction.KEEP
    assert action(flow_spec(TO_CAMPAIGN), True) == ChannelAction.UNSUBSCRIBE
    assert action(flow_spec(TWO_WAY, suspend=True), True) == ChannelAction.UNSUBSCRIBE
    hourly = {"mode": "Scheduled", "schedule": {"frequency": "Hourly"}}
    assert action(flow_spec(TWO_WAY, **hourly), True) == ChannelAction.UNSUBSCRIBE
    assert action(flow_spec(TWO_WAY, mode="Manual"), False) == ChannelAction.KEEP
    # Zoho Campaigns has no list webhooks; an operator without an endpoint holds none.
    assert action(flow_spec(TWO_WAY), False, target_has_webhooks=False) == ChannelAction.KEEP
    assert action(flow_spec(TWO_WAY), True, endpoint_ready=False) == ChannelAction.UNSUBSCRIBE


def test_next_run_is_the_schedule_not_the_recheck() -> None:
    weekly = spec(mode="Scheduled", schedule={"frequency": "Weekly", "at": "10:30"})
    decision = decide(weekly, replace(SETTLED, last_run=None), NOW)
    assert decision.next_check == NOW + timedelta(hours=1)
    assert decision.next_run is not None
    assert decision.next_run - NOW > timedelta(hours=1)
    assert decide(spec(mode="Manual"), SETTLED, NOW).next_run is None
    polled = decide(spec(pollInterval="5m"), SETTLED, NOW)
    assert polled.next_run == polled.next_check == NOW + timedelta(minutes=4)


def test_channel_carries_account_edits_when_the_mapping_reads_account_fields() -> None:
    from crmsync.api.v1alpha1.fieldmapping import RelatedRecord
    from crmsync.engine.triggers import channel_events

    assert channel_events("Contacts", []) == ["Contacts.all"]
    assert channel_events("Contacts", [RelatedRecord.ACCOUNT]) == ["Contacts.all", "Accounts.edit"]
    # A Lead links to no Account; a Contact's newest Deal changes with new and edited Deals.
    assert channel_events("Leads", [RelatedRecord.ACCOUNT]) == ["Leads.all"]
    assert channel_events("Contacts", [RelatedRecord.DEAL, RelatedRecord.ACCOUNT]) == [
        "Contacts.all",
        "Accounts.edit",
        "Deals.create",
        "Deals.edit",
    ]
    assert channel_events("Subscribers", [RelatedRecord.DEAL]) == ["Subscribers.all"]
