"""Secrets the operator owns, and a ContactSync's notification channel on delete (Z2).

Since 14.3 the CRM notification channel belongs to the sync's Connection and module
(:mod:`crmsync.reconcile.channels`); a sync's own channel from before (token in the Secret
``<name>-crmsync-notify``) is unsubscribed and its Secret removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmsync.api.v1alpha1.status import NotificationChannel
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.providers.zoho_crm import ZohoCrm

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


def sync_channel(status: dict[str, Any]) -> NotificationChannel | None:
    raw = status.get("notificationChannel")
    return NotificationChannel.model_validate(raw) if raw else None


async def retire_sync_channel(kube: KubeApi, body: dict[str, Any], crm: ZohoCrm | None) -> bool:
    """A channel of the sync's own (before 14.3): unsubscribed and its Secret removed.
    True when there was one (its status entry is then stale)."""
    current = sync_channel(body.get("status") or {})
    if current is None or current.connection:
        return False
    if crm is not None:
        await crm.unwatch([current.channel_id])
    await kube.delete_secret(
        body["metadata"]["namespace"], token_secret_name(body["metadata"]["name"])
    )
    return True
