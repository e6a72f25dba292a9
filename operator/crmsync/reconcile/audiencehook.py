"""The campaign-side webhook of an Instant sync that reads the campaign side (M9, issue 7).

Mailchimp pushes subscribe, unsubscribe, profile, upemail, cleaned and campaign events of
an audience to a URL registered on it. The operator registers one per sync on its own
endpoint (``/notifications/mailchimp/{namespace}/{name}/{secret}``); the secret segment is
random, lives in a Secret the sync owns (``<name>-crmsync-audience-hook``) and is shown in
status as ``…``. A delivery wakes the sync, whose incremental pass reads the members changed
since its checkpoint (``since_last_changed``), which also stays the fallback when a delivery
is lost. API-sourced events are not asked for: the operator's own writes would come back.

Registration is idempotent: Mailchimp refuses the same URL twice, so a webhook left behind
by a pass that crashed before recording it is found by its URL and adopted, and any other
webhook of this sync on the audience (an older secret or host) is removed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import httpx

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.status import AudienceWebhook
from crmsync.engine.triggers import ChannelAction, audience_webhook_action
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.logs import Logger
from crmsync.providers.base import AudienceTarget
from crmsync.providers.factory import open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.reconcile.notifications import owned_secret
from crmsync.reconcile.resolve import NotReadyError, load_endpoint
from crmsync.webhook import NotificationServer, Wakeable

SECRET_KEY = "pathSecret"
SECRET_BYTES = 30
SHOWN_SECRET = "…"


def hook_secret_name(name: str) -> str:
    return f"{name}-crmsync-audience-hook"[:253]


def current_hook(body: dict[str, Any]) -> AudienceWebhook | None:
    raw = (body.get("status") or {}).get("audienceWebhook")
    return AudienceWebhook.model_validate(raw) if raw else None


async def reconcile_audience_hook(
    kube: KubeApi,
    webhook: NotificationServer | None,
    body: dict[str, Any],
    spec: ContactSyncSpec,
    target: AudienceTarget,
    signals: Wakeable,
) -> AudienceWebhook | None:
    """Bring the audience webhook to what the spec wants; the webhook to show in status."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    current = current_hook(body)
    audience = spec.target.list_id or ""
    shown = webhook.audience_hook_url(namespace, name, SHOWN_SECRET) if webhook else ""
    moved = current is not None and (current.notify_url != shown or current.list_id != audience)
    action = audience_webhook_action(
        spec,
        current is not None,
        endpoint_ready=webhook is not None,
        target_has_webhooks=isinstance(target, Mailchimp) and bool(audience),
        url_changed=moved,
    )
    if action == ChannelAction.UNSUBSCRIBE:
        if webhook is not None:
            webhook.unregister_audience_hook(namespace, name)
        if current is not None and isinstance(target, Mailchimp):
            await target.delete_webhook(current.list_id, current.webhook_id)
        return None
    if webhook is None or not isinstance(target, Mailchimp):
        return current
    if action == ChannelAction.KEEP:
        if current is None:
            return None
        if webhook.has_audience_hook(namespace, name, signals):
            return current
        # First pass in this process (a restart): the webhook may have been removed at
        # Mailchimp meanwhile (by a person, or after failed deliveries).
        if any(h.id == current.webhook_id for h in await target.webhooks(audience)):
            secret = await _secret(kube, body)
            webhook.register_audience_hook(namespace, name, secret=secret, signals=signals)
            return current
    if current is not None and current.list_id != audience:
        await target.delete_webhook(current.list_id, current.webhook_id)
    return await _register(kube, webhook, body, target, audience, signals)


async def _register(
    kube: KubeApi,
    webhook: NotificationServer,
    body: dict[str, Any],
    target: Mailchimp,
    audience: str,
    signals: Wakeable,
) -> AudienceWebhook:
    """Register this sync's webhook on ``audience`` (adopting one already there) and
    remove any other of this sync's webhooks from it."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    secret = await _secret(kube, body)
    # Registered here before Mailchimp is asked: its check GET comes during the request.
    webhook.register_audience_hook(namespace, name, secret=secret, signals=signals)
    url = webhook.audience_hook_url(namespace, name, secret)
    mine = webhook.audience_hook_url(namespace, name, "")
    webhook_id = ""
    for hook in await target.webhooks(audience):
        if hook.url == url:
            webhook_id = hook.id
        elif hook.url.startswith(mine):
            await target.delete_webhook(audience, hook.id)
    if not webhook_id:
        webhook_id = await target.add_webhook(audience, url)
    return AudienceWebhook(
        webhook_id=webhook_id,
        list_id=audience,
        notify_url=webhook.audience_hook_url(namespace, name, SHOWN_SECRET),
        token_secret=hook_secret_name(name),
        registered_at=datetime.now(UTC),
    )


async def _secret(kube: KubeApi, body: dict[str, Any]) -> str:
    def make() -> dict[str, str]:
        return {SECRET_KEY: secrets.token_urlsafe(SECRET_BYTES)}

    data = await owned_secret(kube, body, hook_secret_name(body["metadata"]["name"]), make)
    return data[SECRET_KEY]


async def drop_audience_hook(
    kube: KubeApi, webhook: NotificationServer | None, body: dict[str, Any], logger: Logger
) -> None:
    """On delete: remove the webhook from the audience and the secret (best effort: a
    delivery for a gone sync is refused, and Mailchimp disables a failing webhook)."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if webhook is not None:
        webhook.unregister_audience_hook(namespace, name)
    current = current_hook(body)
    try:
        if current is not None:
            ref = ((body.get("spec") or {}).get("target") or {}).get("connectionRef") or {}
            conn = await kube.get_custom("connections", namespace, str(ref.get("name", "")))
            resolved = await load_endpoint(kube, namespace, conn)
            async with open_target(resolved.endpoint, CallStats()) as target:
                if isinstance(target, Mailchimp):
                    await target.delete_webhook(current.list_id, current.webhook_id)
        await kube.delete_secret(namespace, hook_secret_name(name))
    except (NotFoundError, NotReadyError, ProviderError, httpx.HTTPError, OSError) as exc:
        logger.warning("audience webhook not removed: %s", exc)
