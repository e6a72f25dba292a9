"""The operator's webhook endpoint: vendor change notifications wake a sync (Z2, M9).

``POST /notifications/zoho-crm/{namespace}/{connection}/{module}`` takes the JSON body Zoho
CRM sends for the notification channel of a Connection and module, shared by every Instant
sync there (``channel_id``, ``token``, ``module``, ``operation``, ``ids`` …). Zoho signs
nothing: the channel's token, echoed in the body, is the only proof, so a body whose token
is not the channel's is refused (401) and counted. The ids of an accepted delivery go to
the syncs on the channel they may concern (:mod:`crmsync.reconcile.screening` decides which
wake), each of which runs only for the ids that concern it (:mod:`crmsync.reconcile.routing`).

``GET|POST /notifications/mailchimp/{namespace}/{name}/{secret}`` receives a Mailchimp list
webhook (form fields ``type``, ``fired_at``, ``data[...]``). Mailchimp signs nothing
either and sends no custom header, so the proof is a random secret path segment kept in
a Secret the sync owns (Mailchimp's own advice); the GET is Mailchimp's check at
registration.

Both authenticate before parsing (the Zoho body must hold the token before it is parsed)
and bound the body first (:mod:`crmsync.webhook_body`: 1 MiB, 32 levels of JSON, 2,000
form fields); every malformed request gets a 4xx — 400, 413 or 415 — never a 500.

An accepted notification marks the syncs notified and wakes their loops, which run an
incremental pass right away when concerned (polling stays the fallback).

Plain HTTP on ``--webhook-port``; TLS terminates at the Service or ingress in front.
"""

from __future__ import annotations

import hmac
import itertools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard

from aiohttp import web

from crmsync import metrics
from crmsync.webhook_body import (
    MAX_BODY_BYTES,
    MalformedRequestError,
    form_fields,
    json_object,
    read_body,
    require_form,
    require_json,
)

log = logging.getLogger("crmsync.webhook")
PATH = "/notifications/zoho-crm/{namespace}/{connection}/{module}"
PROVIDER = "zoho-crm"
MAILCHIMP_PATH = "/notifications/mailchimp/{namespace}/{name}/{secret}"
MAILCHIMP = "mailchimp"
MAILCHIMP_EVENT_TYPES = frozenset(
    {"subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign"}
)


UNKNOWN_IDS = "*"
"""Stands for the ids of a delivery that named none (or too many): every sync it reached runs."""


class Wakeable(Protocol):
    """What a notification needs from a sync's loop (its :class:`SyncSignals`)."""

    notified: bool
    campaign_side: bool
    """A campaign-side delivery is among the notifications (they always run)."""

    def wake_up(self) -> None: ...


ChannelKey = tuple[str, str, str]
"""Namespace, Connection, module."""


@dataclass
class Inbox:
    """What the deliveries of its channel left for one sync's loop."""

    signals: Wakeable
    channel: ChannelKey
    """The channel it receives through; notifications of another module than the channel's
    are its parents' (Z3)."""
    needs: tuple[str, ...] = ()
    """The events this sync needs the channel to carry."""
    record_ids: set[str] = field(default_factory=set)
    """Ids named by notifications since the loop last looked (bounded)."""
    parent_ids: dict[str, set[str]] = field(default_factory=dict)
    """Module → ids of the parent records (Accounts) edited since the loop last looked."""

    def pending(self) -> int:
        return len(self.record_ids) + sum(len(ids) for ids in self.parent_ids.values())


MAX_PENDING_IDS = 5000


class Dispatcher(Protocol):
    """Decides which syncs on a channel a delivery of its own module's ids wakes
    (:mod:`crmsync.reconcile.screening`); without one, every sync on it wakes."""

    def dispatch(self, key: ChannelKey, inboxes: Sequence[Inbox], ids: Sequence[str]) -> None: ...


_VERSIONS = itertools.count(1)
"""One sequence for every route: a route removed and made again never repeats a version."""


@dataclass
class ChannelRoute:
    """A Connection's channel for a module as this process receives it."""

    token: str = ""
    """Empty until subscribed: deliveries are refused."""
    channel_id: str = ""
    members: set[str] = field(default_factory=set)
    """The names of the syncs (in the channel's namespace) receiving through it."""
    version: int = 0
    """Moves whenever its members or what they need change (a channel to reconcile)."""


@dataclass
class AudienceHook:
    """A sync's campaign-side webhook as this process knows it."""

    secret: str
    signals: Wakeable
    events: Counter[str] = field(default_factory=Counter)
    """Event types received since the loop last looked."""


@dataclass
class NotificationServer:
    """Routes notifications to the syncs registered in this process."""

    port: int = 8443
    host: str = "0.0.0.0"
    public_url: str = ""
    """Base URL the CRM calls (``--webhook-url``); default ``http://127.0.0.1:<port>``."""
    inboxes: dict[tuple[str, str], Inbox] = field(default_factory=dict)
    channels: dict[ChannelKey, ChannelRoute] = field(default_factory=dict)
    audience_hooks: dict[tuple[str, str], AudienceHook] = field(default_factory=dict)
    dispatcher: Dispatcher | None = None
    counters: Counter[str] = field(default_factory=Counter)
    """``accepted`` / ``rejected_token`` / ``unknown_sync`` / ``bad_request``."""
    _runner: web.AppRunner | None = None

    def notify_url(self, namespace: str, connection: str, module: str) -> str:
        base = self.public_url.rstrip("/")
        return f"{base}/notifications/zoho-crm/{namespace}/{connection}/{module}"

    def register(
        self,
        namespace: str,
        name: str,
        *,
        signals: Wakeable,
        connection: str,
        module: str,
        needs: tuple[str, ...] = (),
    ) -> None:
        """The sync receives through the channel of its Connection and module (leaving the
        one it was on); what it received and not taken yet is kept."""
        key = (namespace, connection, module)
        current = self.inboxes.get((namespace, name))
        route = self.channels.setdefault(key, ChannelRoute())
        if current is not None and current.signals is signals and current.channel == key:
            if current.needs != needs:
                current.needs = needs
                route.version = next(_VERSIONS)
        else:
            self.unregister(namespace, name)
            self.inboxes[(namespace, name)] = Inbox(signals, key, needs)
        if name not in route.members:
            route.members.add(name)
            route.version = next(_VERSIONS)

    def unregister(self, namespace: str, name: str) -> None:
        inbox = self.inboxes.pop((namespace, name), None)
        if inbox is not None and (route := self.channels.get(inbox.channel)) is not None:
            route.members.discard(name)
            route.version = next(_VERSIONS)

    def version(self, key: ChannelKey) -> int:
        """Moves whenever the channel's members or their needs change."""
        route = self.channels.get(key)
        return route.version if route is not None else -1

    def needs(self, key: ChannelKey) -> list[tuple[str, ...]]:
        """What each sync on the channel needs it to carry."""
        route = self.channels.get(key)
        names = route.members if route is not None else set()
        return [self.inboxes[(key[0], n)].needs for n in sorted(names)]

    def members(self, key: ChannelKey) -> set[str]:
        route = self.channels.get(key)
        return set(route.members) if route is not None else set()

    def open_channel(self, key: ChannelKey, *, token: str, channel_id: str) -> None:
        """Deliveries with this token are accepted (set before subscribing: the first may
        arrive at once)."""
        route = self.channels.setdefault(key, ChannelRoute())
        route.token, route.channel_id = token, channel_id

    def close_channel(self, key: ChannelKey) -> None:
        route = self.channels.get(key)
        if route is None:
            return
        route.token = route.channel_id = ""
        if not route.members:
            del self.channels[key]

    def audience_hook_url(self, namespace: str, name: str, secret: str) -> str:
        base = self.public_url.rstrip("/")
        return f"{base}/notifications/mailchimp/{namespace}/{name}/{secret}"

    def register_audience_hook(
        self, namespace: str, name: str, *, secret: str, signals: Wakeable
    ) -> None:
        current = self.audience_hooks.get((namespace, name))
        if current is not None and current.secret == secret and current.signals is signals:
            return
        self.audience_hooks[(namespace, name)] = AudienceHook(secret, signals)

    def has_audience_hook(self, namespace: str, name: str, signals: Wakeable) -> bool:
        hook = self.audience_hooks.get((namespace, name))
        return hook is not None and hook.signals is signals

    def unregister_audience_hook(self, namespace: str, name: str) -> None:
        self.audience_hooks.pop((namespace, name), None)

    def take_audience_events(self, namespace: str, name: str) -> Counter[str]:
        """Campaign-side event types received since the last call (emptied)."""
        hook = self.audience_hooks.get((namespace, name))
        if hook is None:
            return Counter()
        events, hook.events = hook.events, Counter()
        return events

    def take_ids(self, namespace: str, name: str) -> set[str]:
        """Record ids the notifications named since the last call (emptied)."""
        inbox = self.inboxes.get((namespace, name))
        if inbox is None:
            return set()
        ids, inbox.record_ids = inbox.record_ids, set()
        return ids

    def take_parent_ids(self, namespace: str, name: str) -> dict[str, set[str]]:
        """Module → ids of the edited parent records (Accounts) since the last call."""
        inbox = self.inboxes.get((namespace, name))
        if inbox is None:
            return {}
        ids, inbox.parent_ids = inbox.parent_ids, {}
        return ids

    # -- HTTP ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(PATH, self.handle)
        app.router.add_get(MAILCHIMP_PATH, self.verify_audience_hook)
        app.router.add_post(MAILCHIMP_PATH, self.handle_audience_hook)
        app.router.add_get("/healthz", self.healthz)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        if not self.public_url:
            self.public_url = f"http://127.0.0.1:{self.port}"
        log.info("webhook endpoint listening on %s:%d (%s)", self.host, self.port, self.public_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True, "counters": dict(self.counters)})

    async def handle(self, request: web.Request) -> web.Response:
        """Zoho signs nothing and the token is in the body: the body is bounded, and must
        hold the channel's token before it is parsed (and match it once parsed)."""
        m = request.match_info
        key = (m["namespace"], m["connection"], m["module"])
        route = self.channels.get(key)
        if route is None or not route.token:
            # Not (or no longer) subscribed here; the CRM retries nothing, polling covers it.
            self.counters["unknown_sync"] += 1
            metrics.record_notification(PROVIDER, "unknown_sync")
            return web.json_response({"error": "no such subscription"}, status=404)
        try:
            require_json(request)
            raw = await read_body(request)
            if route.token.encode() not in raw:
                return self._bad_token(PROVIDER, key)
            body = json_object(raw)
        except MalformedRequestError as exc:
            return self._malformed(PROVIDER, exc)
        token = body.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), route.token.encode()
        ):
            return self._bad_token(PROVIDER, key)
        self.counters["accepted"] += 1
        metrics.record_notification(PROVIDER)
        module, ids = body.get("module"), body.get("ids")
        inboxes = [
            inbox
            for name in sorted(route.members)
            if (inbox := self.inboxes.get((key[0], name))) is not None and _receives(inbox, module)
        ]
        own_module = not isinstance(module, str) or module == key[2]
        if self.dispatcher is not None and own_module and _named_ids(ids):
            self.dispatcher.dispatch(key, inboxes, [str(i) for i in ids])
        else:
            for inbox in inboxes:
                deliver(inbox, ids, module)
        return web.json_response({"accepted": True})

    def _malformed(self, provider: str, exc: MalformedRequestError) -> web.Response:
        self.counters["bad_request"] += 1
        metrics.record_notification(provider, "malformed_body")
        return exc.response()

    def _bad_token(self, provider: str, key: tuple[str, ...]) -> web.Response:
        self.counters["rejected_token"] += 1
        metrics.record_notification(provider, "bad_token")
        log.warning("notification for %s refused: wrong channel token", "/".join(key))
        return web.json_response({"error": "invalid channel token"}, status=401)

    # -- Mailchimp list webhooks ---------------------------------------------------------

    def _audience_hook(self, request: web.Request) -> AudienceHook | web.Response:
        """The registered hook the request's secret segment proves, or the refusal."""
        key = (request.match_info["namespace"], request.match_info["name"])
        hook = self.audience_hooks.get(key)
        if hook is None:
            self.counters["unknown_sync"] += 1
            metrics.record_notification(MAILCHIMP, "unknown_sync")
            return web.json_response({"error": "no such webhook"}, status=404)
        if not hmac.compare_digest(request.match_info["secret"].encode(), hook.secret.encode()):
            self.counters["rejected_token"] += 1
            metrics.record_notification(MAILCHIMP, "bad_token")
            log.warning("Mailchimp webhook for %s/%s refused: wrong secret", *key)
            return web.json_response({"error": "invalid webhook secret"}, status=401)
        return hook

    async def verify_audience_hook(self, request: web.Request) -> web.Response:
        """Mailchimp's registration check (a GET that must answer 2xx)."""
        hook = self._audience_hook(request)
        if isinstance(hook, web.Response):
            return hook
        return web.json_response({"ok": True})

    async def handle_audience_hook(self, request: web.Request) -> web.Response:
        hook = self._audience_hook(request)
        if isinstance(hook, web.Response):
            return hook
        try:
            require_form(request)
            form = form_fields(await read_body(request))
        except MalformedRequestError as exc:
            return self._malformed(MAILCHIMP, exc)
        event_type = form.get("type", "")
        if event_type not in MAILCHIMP_EVENT_TYPES:
            return self._malformed(
                MAILCHIMP, MalformedRequestError(400, "a Mailchimp webhook form is expected")
            )
        self.counters["accepted"] += 1
        metrics.record_notification(MAILCHIMP)
        hook.events[event_type] += 1
        hook.signals.notified = True
        hook.signals.campaign_side = True
        hook.signals.wake_up()
        return web.json_response({"accepted": True})


def _receives(inbox: Inbox, module: object) -> bool:
    """The channel's own module goes to every sync on it; a parent module's edits (Z3)
    only to the syncs that asked for them."""
    if not isinstance(module, str) or module == inbox.channel[2]:
        return True
    return any(event.startswith(f"{module}.") for event in inbox.needs)


def _named_ids(ids: object) -> TypeGuard[list[object]]:
    return isinstance(ids, list) and bool(ids) and all(isinstance(i, (str, int)) for i in ids)


def deliver(inbox: Inbox, ids: object, module: object) -> None:
    """Leave a delivery's ids for the sync's loop and wake it."""
    if not isinstance(ids, list) or not ids or inbox.pending() + len(ids) > MAX_PENDING_IDS:
        inbox.record_ids.add(UNKNOWN_IDS)  # the syncs it reached run, whatever changed
    elif isinstance(module, str) and module != inbox.channel[2]:
        inbox.parent_ids.setdefault(module, set()).update(str(i) for i in ids)
    else:
        inbox.record_ids.update(str(i) for i in ids)
    inbox.signals.notified = True
    inbox.signals.wake_up()
