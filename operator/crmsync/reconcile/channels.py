"""One CRM notification channel per Connection and module, shared by its Instant syncs (14.3).

Zoho delivers every change to every channel subscribed to it: with a channel per sync,
N syncs on a module meant N deliveries per edit and N channels to renew. Now each sync
loop registers what it needs on the webhook endpoint (:meth:`NotificationServer.register`)
and asks the hub to bring its Connection's channel for the module to the union of the
needs registered (:mod:`crmsync.engine.channels`): subscribed by the first sync, re-
subscribed when the union changes or renewal is due, unsubscribed when the last one goes.

State: the Connection's ``status.notificationChannels`` (no token), and a Secret the
Connection owns per module (``<connection>-crmsync-notify-<module>``) with the channel id
and token, created once (random). The id is fixed by the Secret, so a subscription a crash
cut off before its status was written is simply subscribed again (Zoho replaces a channel
of the same id). The Connection's timer also audits once per process what Zoho holds for
this Connection (a channel left by a crash after its Secret went is removed; one in
status that Zoho no longer holds is subscribed again) and sweeps channels no sync needs.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.fieldmapping import RelatedRecord
from crmsync.api.v1alpha1.status import NotificationChannel, SharedChannel
from crmsync.engine.channels import (
    channel_union,
    settling,
    shared_channel_action,
    wants_channel,
)
from crmsync.engine.settings import SyncSettings
from crmsync.engine.triggers import (
    CHANNEL_LIFETIME,
    CHANNEL_RENEW_BEFORE,
    ChannelAction,
    channel_events,
)
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.logs import Logger
from crmsync.providers.factory import open_crm
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.notifications import (
    ChannelCredentials,
    owned_secret,
    retire_sync_channel,
    sync_channel,
)
from crmsync.reconcile.resolve import NotReadyError, ResolvedConnection, load_endpoint
from crmsync.sharding import Sharding
from crmsync.webhook import ChannelKey, NotificationServer, Wakeable

TOKEN_KEY = "token"
CHANNEL_KEY = "channelId"
TOKEN_BYTES = 30
"""40 URL-safe characters: Zoho takes tokens of at most 50."""

OpenCrm = Callable[[], AbstractAsyncContextManager[ZohoCrm]]


def channel_secret_name(connection: str, module: str) -> str:
    suffix = module.lower().replace("_", "-") + (f"-{Sharding.shard}" if Sharding.shard else "")
    return f"{connection}-crmsync-notify-{suffix}"[:253].rstrip("-")


def status_key(module: str) -> str:
    """Where this shard's channel for ``module`` is in the Connection's status."""
    return f"{Sharding.shard}/{module}" if Sharding.shard else module


def _new_credentials() -> dict[str, str]:
    return {
        # Numeric (Zoho's channel_id is a long), below 2^53 so JSON readers keep it exact.
        CHANNEL_KEY: str(10**14 + secrets.randbelow(9 * 10**14)),
        TOKEN_KEY: secrets.token_urlsafe(TOKEN_BYTES),
    }


def as_sync_channel(channel: SharedChannel) -> NotificationChannel:
    """What a sync's status shows of the shared channel it is on."""
    return NotificationChannel.model_validate(
        channel.model_dump(include=set(NotificationChannel.model_fields))
    )


@dataclass
class ChannelHub:
    """The shared channels of this process's Connections, as their status shows them."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    _channels: dict[ChannelKey, SharedChannel] = field(default_factory=dict)
    _loaded: set[tuple[str, str]] = field(default_factory=set)
    _audited: set[tuple[str, str]] = field(default_factory=set)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    _settled: dict[ChannelKey, tuple[int, SharedChannel]] = field(default_factory=dict)
    """The channel each key was last brought to, and the version of its syncs' needs then:
    while neither moved, a sync's pass finds its channel as it is, without the lock (a
    delivery wakes every sync of the module, a thousand passes at once)."""

    def _load(self, connection: dict[str, Any]) -> tuple[str, str]:
        meta = connection["metadata"]
        conn = (str(meta["namespace"]), str(meta["name"]))
        if conn not in self._loaded:
            self._loaded.add(conn)
            stored = (connection.get("status") or {}).get("notificationChannels") or {}
            for channel in (SharedChannel.model_validate(raw) for raw in stored.values()):
                if channel.shard == Sharding.shard:
                    self._channels[(*conn, channel.module)] = channel
        return conn

    def modules(self, namespace: str, connection: str) -> list[str]:
        return sorted(k[2] for k in self._channels if k[:2] == (namespace, connection))

    async def reconcile(
        self,
        kube: KubeApi,
        webhook: NotificationServer,
        connection: dict[str, Any],
        module: str,
        open_crm: OpenCrm,
        now: datetime | None = None,
    ) -> SharedChannel | None:
        """Bring the channel of ``connection`` and ``module`` to what its syncs need now;
        returns it (None: no channel)."""
        now = now or datetime.now(UTC)
        conn = self._load(connection)
        key = (*conn, module)
        version = webhook.version(key)
        if (settled := self._unchanged(key, version, now)) is not None:
            return settled
        async with self._locks.setdefault(conn, asyncio.Lock()):
            current = self._channels.get(key)
            starting = settling(self.started, now)
            kept = current.events if starting and current is not None else ()
            events = channel_union(module, webhook.needs(key), keep=kept)
            if not events:
                if current is not None and not starting:
                    await self._unsubscribe(kube, webhook, key, current, open_crm)
                    return None
                return current
            creds = await self._credentials(kube, connection, module)
            url = webhook.notify_url(*key)
            # Open before subscribing: the first delivery may arrive at once.
            webhook.open_channel(key, token=creds.token, channel_id=creds.channel_id)
            action = shared_channel_action(
                events, current, now, channel_id=creds.channel_id, notify_url=url
            )
            if action == ChannelAction.KEEP:
                if current is not None and not starting:  # kept while starting: not settled
                    self._settled[key] = (version, current)
                return current
            async with open_crm() as crm:
                watched = await crm.watch(
                    creds.channel_id, events, url, creds.token, now + CHANNEL_LIFETIME
                )
                if current is not None and current.channel_id != creds.channel_id:
                    await crm.unwatch([current.channel_id])
            channel = SharedChannel(
                module=module,
                channel_id=creds.channel_id,
                expires_at=watched.expiry.replace(microsecond=0),  # as status keeps it
                notify_url=url,
                token_secret=channel_secret_name(conn[1], module),
                events=events,
                connection=conn[1],
                shard=Sharding.shard,
            )
            self._channels[key] = channel
            await self._save(kube, key)
            if not starting:
                self._settled[key] = (version, channel)
            return channel

    def _unchanged(self, key: ChannelKey, version: int, now: datetime) -> SharedChannel | None:
        """The channel as last settled, while its syncs' needs, the channel itself, the
        start-up grace and its renewal time all leave it so; else None."""
        settled = self._settled.get(key)
        current = self._channels.get(key)
        if settled is None or current is None or settled != (version, current):
            return None
        if settling(self.started, now) or current.expires_at - CHANNEL_RENEW_BEFORE <= now:
            return None
        return current

    async def _credentials(
        self, kube: KubeApi, connection: dict[str, Any], module: str
    ) -> ChannelCredentials:
        secret = channel_secret_name(connection["metadata"]["name"], module)
        data = await owned_secret(kube, connection, secret, _new_credentials)
        return ChannelCredentials(data[CHANNEL_KEY], data[TOKEN_KEY])

    async def _unsubscribe(
        self,
        kube: KubeApi,
        webhook: NotificationServer,
        key: ChannelKey,
        current: SharedChannel,
        open_crm: OpenCrm,
    ) -> None:
        """At Zoho first: a crash before the status is written leaves a channel in status
        that the next sweep unsubscribes again (Zoho answers NOT_SUBSCRIBED, which is fine)."""
        async with open_crm() as crm:
            await crm.unwatch([current.channel_id])
        webhook.close_channel(key)
        del self._channels[key]
        await self._save(kube, key)
        await kube.delete_secret(key[0], channel_secret_name(key[1], key[2]))

    async def _save(self, kube: KubeApi, key: ChannelKey) -> None:
        """This channel only (a merge patch of its key): other shards write theirs."""
        channel = self._channels.get(key)
        entry = {status_key(key[2]): channel.to_wire() if channel is not None else None}
        await kube.patch_status("connections", key[0], key[1], {"notificationChannels": entry})

    def _audit_due(self, conn: tuple[str, str], now: datetime | None) -> bool:
        return conn not in self._audited and not settling(self.started, now or datetime.now(UTC))

    def due(self, connection: dict[str, Any], now: datetime | None = None) -> bool:
        """Whether the Connection's channels need a look (an audit not done yet, or a
        channel in status)."""
        conn = self._load(connection)
        return self._audit_due(conn, now) or bool(self.modules(*conn))

    async def sweep(
        self,
        kube: KubeApi,
        webhook: NotificationServer,
        connection: dict[str, Any],
        open_crm: OpenCrm,
        now: datetime | None = None,
    ) -> None:
        """The Connection's timer: audit Zoho once per process, then renew what is due and
        unsubscribe what no sync needs any more (the last sync deleted while the operator
        was down, or moved to another Connection)."""
        conn = self._load(connection)
        lost: list[str] = []
        if self._audit_due(conn, now):
            lost = await self._audit(kube, webhook, connection, open_crm)
            self._audited.add(conn)
        for module in sorted({*self.modules(*conn), *lost}):
            await self.reconcile(kube, webhook, connection, module, open_crm, now)

    async def _audit(
        self,
        kube: KubeApi,
        webhook: NotificationServer,
        connection: dict[str, Any],
        open_crm: OpenCrm,
    ) -> list[str]:
        """Removes the channels Zoho holds for this Connection's endpoint that status does
        not know; returns the modules whose channel in status Zoho no longer holds."""
        conn = self._load(connection)
        prefix = webhook.notify_url(*conn, "")
        async with open_crm() as crm:
            live = await crm.channels()
            async with self._locks.setdefault(conn, asyncio.Lock()):
                known = {self._channels[(*conn, m)].channel_id: m for m in self.modules(*conn)}
                strays = [i for i, url in live.items() if url.startswith(prefix) and i not in known]
                if strays:
                    await crm.unwatch(strays)
                lost = [module for channel_id, module in known.items() if channel_id not in live]
                for module in lost:
                    del self._channels[(*conn, module)]  # subscribed again when needed
                    await self._save(kube, (*conn, module))
        return lost


HUB = ChannelHub()


async def join_channel(
    kube: KubeApi,
    webhook: NotificationServer,
    body: dict[str, Any],
    spec: ContactSyncSpec,
    crm_conn: ResolvedConnection,
    settings: SyncSettings,
    signals: Wakeable,
) -> NotificationChannel | None:
    """Put the sync on its Connection's channel for its module while it wants one (else
    off it), bring that channel to what its syncs need, and return what the sync's status
    shows. A channel of the sync's own from before 14.3 is retired first."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    on_zoho = crm_conn.endpoint.provider == Provider.ZOHO_CRM
    wanted = on_zoho and wants_channel(spec)
    if wanted:
        related = [r for r in RelatedRecord if settings.related_fields(r)]
        webhook.register(
            namespace,
            name,
            signals=signals,
            connection=spec.crm.connection_ref.name,
            module=spec.crm.module,
            needs=tuple(channel_events(spec.crm.module, related)),
        )
    elif sync_channel(body.get("status") or {}) is None:
        return None
    else:
        webhook.unregister(namespace, name)

    def crm() -> ZohoCrm:
        return open_crm(crm_conn.endpoint, CallStats())

    if not on_zoho:
        await retire_sync_channel(kube, body, None)
        return None
    if (legacy := sync_channel(body.get("status") or {})) is not None and not legacy.connection:
        async with crm() as client:
            await retire_sync_channel(kube, body, client)
    shared = await HUB.reconcile(kube, webhook, crm_conn.body, spec.crm.module, crm)
    return as_sync_channel(shared) if shared is not None and wanted else None


async def drop_sync_channel(
    kube: KubeApi, webhook: NotificationServer | None, body: dict[str, Any], logger: Logger
) -> None:
    """On delete: the sync leaves its Connection's shared channel, which is unsubscribed
    when it was the last on it; a per-sync channel from before 14.3 is unsubscribed and its
    Secret removed (best effort: a channel expires by itself, and a delivery no sync
    receives is refused)."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if webhook is not None:
        webhook.unregister(namespace, name)
    current = sync_channel(body.get("status") or {})
    try:
        if current is None:
            return
        crm_spec = (body.get("spec") or {}).get("crm") or {}
        connection = current.connection or str((crm_spec.get("connectionRef") or {}).get("name"))
        conn = await kube.get_custom("connections", namespace, connection)
        resolved = await load_endpoint(kube, namespace, conn)
        if current.connection and webhook is not None:
            module = str(crm_spec.get("module", ""))
            await HUB.reconcile(
                kube, webhook, conn, module, lambda: open_crm(resolved.endpoint, CallStats())
            )
            return
        async with open_crm(resolved.endpoint, CallStats()) as crm:
            await retire_sync_channel(kube, body, crm)
    except (NotFoundError, NotReadyError, ProviderError, httpx.HTTPError, OSError) as exc:
        logger.warning("notification channel not removed: %s", exc)


async def sweep_channels(
    kube: KubeApi, webhook: NotificationServer | None, connection: dict[str, Any], logger: Logger
) -> None:
    """The Connection's timer: its channels audited (once), renewed, or removed when no
    sync needs them any more."""
    if webhook is None or connection["spec"].get("provider") != Provider.ZOHO_CRM:
        return
    meta = connection["metadata"]
    if not HUB.due(connection):
        return
    try:
        resolved = await load_endpoint(kube, meta["namespace"], connection)
        await HUB.sweep(kube, webhook, connection, lambda: open_crm(resolved.endpoint, CallStats()))
    except (NotFoundError, NotReadyError, ProviderError, httpx.HTTPError, OSError) as exc:
        logger.warning("notification channels not checked: %s", exc)
