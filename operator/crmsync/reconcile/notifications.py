"""An Instant ContactSync's CRM notification channel: subscribe, renew, unsubscribe (Z2).

The channel token is random per channel and lives in a Secret the ContactSync owns
(``<name>-crmsync-notify``), never in status; the webhook endpoint compares each
notification's token with it. Status shows only the channel id, its expiry and the URL.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.fieldmapping import RelatedRecord
from crmsync.api.v1alpha1.status import NotificationChannel
from crmsync.engine.triggers import (
    CHANNEL_LIFETIME,
    ChannelAction,
    channel_action,
    channel_events,
)
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.logs import Logger
from crmsync.providers.base import CrmSource
from crmsync.providers.factory import open_crm
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.resolve import NotReadyError, load_endpoint
from crmsync.webhook import NotificationServer, Wakeable

TOKEN_KEY = "token"
CHANNEL_KEY = "channelId"
TOKEN_BYTES = 30
"""40 URL-safe characters: Zoho takes tokens of at most 50."""
OWNED_SECRET_MAX_AGE = 3000.0
"""The operator writes its own Secrets once (random values): memory stays right for long."""


def token_secret_name(name: str) -> str:
    return f"{name}-crmsync-notify"[:253]


@dataclass(frozen=True)
class ChannelCredentials:
    channel_id: str
    token: str


async def owned_secret(
    kube: KubeApi, body: dict[str, Any], secret: str, make: Callable[[], dict[str, str]]
) -> dict[str, str]:
    """The data of a Secret the sync owns, created once from ``make()`` (random values):
    whoever creates it first wins, so concurrent passes agree on one value."""
    namespace = body["metadata"]["namespace"]
    wanted = set(make())
    for _ in range(2):
        try:
            data, _version = await kube.secrets.get(namespace, secret, OWNED_SECRET_MAX_AGE)
            if wanted <= {k for k, v in data.items() if v}:
                return data
        except NotFoundError:
            pass
        kube.secrets.forget(namespace, secret)
        created = make()
        if await kube.create_secret(namespace, secret, created, body):
            return created
    raise RuntimeError(f"Secret {secret!r} exists without the keys {sorted(wanted)}")


async def channel_credentials(kube: KubeApi, body: dict[str, Any]) -> ChannelCredentials:
    """The sync's channel id and token, created once (random) in its own Secret."""

    def make() -> dict[str, str]:
        return {
            # Numeric (Zoho's channel_id is a long), below 2^53 so JSON readers keep it exact.
            CHANNEL_KEY: str(10**14 + secrets.randbelow(9 * 10**14)),
            TOKEN_KEY: secrets.token_urlsafe(TOKEN_BYTES),
        }

    data = await owned_secret(kube, body, token_secret_name(body["metadata"]["name"]), make)
    return ChannelCredentials(data[CHANNEL_KEY], data[TOKEN_KEY])


def _channel_of(status: dict[str, Any]) -> NotificationChannel | None:
    raw = status.get("notificationChannel")
    return NotificationChannel.model_validate(raw) if raw else None


async def reconcile_channel(
    kube: KubeApi,
    webhook: NotificationServer | None,
    body: dict[str, Any],
    spec: ContactSyncSpec,
    crm: CrmSource,
    signals: Wakeable,
    now: datetime | None = None,
    related: Iterable[RelatedRecord] = (),
) -> tuple[ChannelAction, NotificationChannel | None]:
    """Bring the channel to what the spec wants; returns what was done and the channel
    to show in status (None: no channel). ``related``: the parent records the mapping
    reads fields of (their edits are subscribed to as well)."""
    now = now or datetime.now(UTC)
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    current = _channel_of(body.get("status") or {})
    url = webhook.notify_url(namespace, name) if webhook is not None else ""
    module = spec.crm.module
    events = channel_events(module, related)
    action = channel_action(
        spec,
        current.expires_at if current else None,
        now,
        endpoint_ready=webhook is not None and isinstance(crm, ZohoCrm),
        url_changed=current is not None and current.notify_url != url,
        # Channels from before Z3 routing hold the module's changes only.
        events_changed=current is not None and (current.events or [f"{module}.all"]) != events,
    )
    if action == ChannelAction.UNSUBSCRIBE:
        if webhook is not None:
            webhook.unregister(namespace, name)
        if current is not None and isinstance(crm, ZohoCrm):
            await crm.unwatch([current.channel_id])
        return action, None
    if webhook is None or not isinstance(crm, ZohoCrm):
        return action, current
    creds = await channel_credentials(kube, body)
    # Registered before subscribing: the first notification may arrive at once.
    webhook.register(
        namespace,
        name,
        token=creds.token,
        channel_id=creds.channel_id,
        signals=signals,
        module=module,
    )
    if action == ChannelAction.KEEP:
        return action, current
    watched = await crm.watch(creds.channel_id, events, url, creds.token, now + CHANNEL_LIFETIME)
    return action, NotificationChannel(
        channel_id=creds.channel_id,
        expires_at=watched.expiry,
        notify_url=url,
        token_secret=token_secret_name(name),
        events=events,
    )


async def drop_sync_channel(
    kube: KubeApi, webhook: NotificationServer | None, body: dict[str, Any], logger: Logger
) -> None:
    """On delete: unsubscribe at the CRM and remove the token Secret (best effort: the
    channel expires by itself, and a notification for a gone sync is refused)."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if webhook is not None:
        webhook.unregister(namespace, name)
    current = _channel_of(body.get("status") or {})
    try:
        if current is not None:
            ref = ((body.get("spec") or {}).get("crm") or {}).get("connectionRef") or {}
            conn = await kube.get_custom("connections", namespace, str(ref.get("name", "")))
            resolved = await load_endpoint(kube, namespace, conn)
            async with open_crm(resolved.endpoint, CallStats()) as crm:
                await crm.unwatch([current.channel_id])
        await kube.delete_secret(namespace, token_secret_name(name))
    except (NotFoundError, NotReadyError, ProviderError, httpx.HTTPError, OSError) as exc:
        logger.warning("notification channel not removed: %s", exc)
