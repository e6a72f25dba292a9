"""The one CRM notification channel of a Connection and module (14.3): what it must carry
and what to do about it. Every Instant sync there needs some events (:func:`channel_events`);
the channel carries their union, exists while one sync needs it, and is renewed before it
expires."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec, TriggerMode
from crmsync.api.v1alpha1.status import NotificationChannel
from crmsync.engine.triggers import CHANNEL_RENEW_BEFORE, ChannelAction

SETTLING = timedelta(seconds=90)
"""After the operator starts, its syncs join their channels one loop at a time: for this
long a channel only grows (events of syncs not back yet are kept, none is removed)."""


def wants_channel(spec: ContactSyncSpec) -> bool:
    """Instant syncs that are not suspended receive CRM notifications."""
    return not spec.suspend and TriggerMode(spec.trigger.mode) == TriggerMode.INSTANT


def channel_union(
    module: str, needs: Iterable[Iterable[str]], keep: Iterable[str] = ()
) -> list[str]:
    """The events the channel carries: every sync's needs (and ``keep``), the module's
    own first; empty when nothing needs it."""
    events = {e for need in needs for e in need} | set(keep)
    own = f"{module}.all"
    return ([own] if own in events else []) + sorted(events - {own})


def shared_channel_action(
    events: list[str],
    current: NotificationChannel | None,
    now: datetime,
    *,
    channel_id: str,
    notify_url: str,
) -> ChannelAction:
    """Subscribe when needed and missing, different (events, URL, id) or due for renewal;
    unsubscribe when nothing needs it any more."""
    if not events:
        return ChannelAction.UNSUBSCRIBE if current is not None else ChannelAction.KEEP
    if current is None or current.expires_at - CHANNEL_RENEW_BEFORE <= now:
        return ChannelAction.SUBSCRIBE
    same = (current.events, current.notify_url, current.channel_id) == (
        events,
        notify_url,
        channel_id,
    )
    return ChannelAction.KEEP if same else ChannelAction.SUBSCRIBE


def settling(started: datetime, now: datetime) -> bool:
    return now < started + SETTLING
