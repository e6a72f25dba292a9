"""Is a run due now, of which kind, and when to look again (Z2, P1, M4, Z11, B1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from crmsync.api.v1alpha1.contactsync import (
    ContactSyncSpec,
    FlowDirection,
    FlowType,
    TriggerMode,
)
from crmsync.api.v1alpha1.fieldmapping import RelatedRecord
from crmsync.api.v1alpha1.status import RunSummary, RunTrigger
from crmsync.engine.related import routed_sources
from crmsync.engine.schedule import next_run, parse_duration, time_zone

IDLE_RECHECK = timedelta(hours=1)
"""With nothing due, look again this often anyway (changes also wake the loop)."""


@dataclass(frozen=True)
class Observed:
    """What the decision needs from the object besides its spec."""

    generation: int
    synced_generation: int
    """The generation the last run was made for."""
    sync_now: str
    """The crmsync.dev/sync-now annotation's value ("" when absent)."""
    last_handled_sync_now: str
    last_run: RunSummary | None
    last_full_sync: datetime | None
    last_scheduled_run: datetime | None
    created: datetime
    """The object's creationTimestamp: a schedule counts from here until it first ran."""
    notified: bool = False
    """A CRM change notification arrived since the last run."""
    resume_pending: bool = False
    """A full run was interrupted (crash, kill, restart) and left a resume point (B5)."""
    retry_at: datetime | None = None
    """Backing off after failures at this generation: no run before this time except one
    the user asks for (sync-now); a spec change starts a new generation and no backoff."""
    quiet_poll: datetime | None = None
    """The last poll that found nothing changed and ran nothing (:mod:`crmsync.engine.quiet`;
    kept in memory: after a restart the sync polls once more): the next poll counts from it."""


@dataclass(frozen=True)
class Decision:
    trigger: RunTrigger | None
    full: bool = False
    next_check: datetime | None = None
    """When to look again (at the latest)."""
    next_run: datetime | None = None
    """When the next run is due, as users see it (status.nextRunTime): for polls, one
    interval after the last run (the quiet polls since, which write nothing, leave it)."""


def _waiting(spec: ContactSyncSpec, seen: Observed, now: datetime) -> Decision | None:
    """Suspended, or backing off after failures (a sync-now still runs at once)."""
    if spec.suspend:
        return Decision(None, next_check=now + IDLE_RECHECK)
    manual = bool(seen.sync_now) and seen.sync_now != seen.last_handled_sync_now
    if seen.retry_at is not None and now < seen.retry_at and not manual:
        return Decision(None, next_check=seen.retry_at)
    return None


def decide(spec: ContactSyncSpec, seen: Observed, now: datetime) -> Decision:
    """What is due now; SpecError when the spec cannot be carried out (unknown zone)."""
    mode = TriggerMode(spec.trigger.mode)
    if mode == TriggerMode.SCHEDULED and spec.trigger.schedule is not None:
        time_zone(spec.trigger.schedule)
    waiting = _waiting(spec, seen, now)
    if waiting is not None:
        return waiting
    if seen.resume_pending:
        return Decision(RunTrigger.RESUMED, full=True)
    if seen.sync_now and seen.sync_now != seen.last_handled_sync_now:
        return Decision(RunTrigger.MANUAL, full=True)
    on_change = mode != TriggerMode.SCHEDULED
    if on_change and seen.last_run is None:
        return Decision(RunTrigger.INITIAL, full=True)
    if on_change and seen.generation != seen.synced_generation:
        return Decision(RunTrigger.SPEC_CHANGE, full=True)

    full_interval = parse_duration(spec.trigger.full_resync_interval)
    full_due = seen.last_full_sync is None or seen.last_full_sync + full_interval <= now
    last_end = seen.last_run.end_time or seen.last_run.start_time if seen.last_run else now

    if mode == TriggerMode.SCHEDULED and spec.trigger.schedule is not None:
        after = seen.last_scheduled_run or seen.created
        due = next_run(spec.trigger.schedule, after)
        if due is not None and due <= now:
            return Decision(RunTrigger.SCHEDULE, full=full_due)
        return Decision(
            None,
            next_check=min(due, now + IDLE_RECHECK) if due else now + IDLE_RECHECK,
            next_run=due,
        )

    if mode == TriggerMode.MANUAL:
        return Decision(None, next_check=now + IDLE_RECHECK)

    if full_due:
        return Decision(RunTrigger.FULL_RESYNC, full=True)
    if seen.notified:
        return Decision(RunTrigger.NOTIFICATION)
    polled = max(last_end, seen.quiet_poll) if seen.quiet_poll is not None else last_end
    poll_interval = parse_duration(spec.trigger.poll_interval)
    poll_due = polled + poll_interval
    if poll_due <= now:
        return Decision(RunTrigger.POLL)
    assert seen.last_full_sync is not None
    full_due_at = seen.last_full_sync + full_interval
    # Shown as of the last run: quiet polls write nothing, this one included.
    shown = min(last_end + poll_interval, full_due_at)
    return Decision(None, next_check=min(poll_due, full_due_at), next_run=shown)


# --- notification channels (Z2) -------------------------------------------------------

CHANNEL_LIFETIME = timedelta(days=1)
"""Asked-for channel expiry (Zoho: default 1 h, at most 1 week on v8)."""
CHANNEL_RENEW_BEFORE = timedelta(hours=6)
"""A channel is re-subscribed this long before it expires."""


class ChannelAction(StrEnum):
    KEEP = "keep"
    SUBSCRIBE = "subscribe"
    """No channel yet, or one that must be renewed (same channel id, new expiry)."""
    UNSUBSCRIBE = "unsubscribe"


def channel_events(module: str, related: Iterable[RelatedRecord]) -> list[str]:
    """Every change of the module, and the changes of the related records whose fields the
    mapping carries (their records' members change with them)."""
    events = [f"{module}.all"]
    for source in routed_sources(module, related):
        events.extend(source.events)
    return events


def channel_renewal(expires_at: datetime) -> datetime:
    """When a channel expiring at ``expires_at`` is renewed."""
    return expires_at - CHANNEL_RENEW_BEFORE


# --- campaign-side webhooks (Mailchimp list webhooks) ------------------------------------


def reads_campaign_side(spec: ContactSyncSpec) -> bool:
    """TwoWay, or OneWay CampaignToCrm: the sync carries campaign-side changes to the CRM."""
    if spec.flow.type == FlowType.TWO_WAY:
        return True
    return spec.flow.direction == FlowDirection.CAMPAIGN_TO_CRM


def audience_webhook_action(
    spec: ContactSyncSpec,
    registered: bool,
    *,
    endpoint_ready: bool,
    target_has_webhooks: bool,
    url_changed: bool = False,
) -> ChannelAction:
    """Instant, unsuspended syncs that read the campaign side hold one list webhook on a
    platform that has them; every other sync holds none (a registered one is removed)."""
    wanted = (
        endpoint_ready
        and target_has_webhooks
        and not spec.suspend
        and TriggerMode(spec.trigger.mode) == TriggerMode.INSTANT
        and reads_campaign_side(spec)
    )
    if not wanted:
        return ChannelAction.UNSUBSCRIBE if registered else ChannelAction.KEEP
    if not registered or url_changed:
        return ChannelAction.SUBSCRIBE
    return ChannelAction.KEEP
