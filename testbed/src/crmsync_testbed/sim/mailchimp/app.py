"""The aiohttp application: routes under ``/3.0``, admin hooks, batch result downloads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.common import ADMIN_PREFIX, FaultConfig, Handler, new_app
from crmsync_testbed.sim.mailchimp import (
    account,
    admin,
    automations,
    batches,
    bulk,
    campaigns,
    carts,
    errors,
    interests,
    lists,
    members,
    mergefields,
    oauth_metadata,
    reports,
    rest,
    stores,
    tags,
    webhooks,
)
from crmsync_testbed.sim.mailchimp.auth import ConcurrencyLimit, credential
from crmsync_testbed.sim.mailchimp.seed import ensure_default_audience
from crmsync_testbed.sim.mailchimp.store import Store

API_ROUTES: list[rest.Route] = [
    *account.ROUTES,
    *lists.ROUTES,
    rest.post("/lists/{list_id}", bulk.batch_subscribe),
    *members.ROUTES,
    *mergefields.ROUTES,
    *tags.ROUTES,
    *interests.ROUTES,
    *webhooks.ROUTES,
    *batches.ROUTES,
    *campaigns.ROUTES,
    *reports.ROUTES,
    *automations.ROUTES,
    *stores.ROUTES,
    *carts.ROUTES,
]
ADMIN = f"{ADMIN_PREFIX}/mailchimp"
ADMIN_ROUTES: list[rest.Route] = [
    rest.post(f"{ADMIN}/campaigns/{{campaign_id}}/simulate", reports.simulate_activity),
    rest.post(f"{ADMIN}/lists/{{list_id}}/events", admin.member_event),
    rest.put(f"{ADMIN}{carts.ADMIN_TIMES}", carts.set_times),
]


class MailchimpApi:
    """Runs operations on the DB thread and publishes the webhook events they caused."""

    def __init__(self, store: Store, base_url: str, dispatcher: webhooks.WebhookDispatcher) -> None:
        self.store = store
        self.base_url = base_url
        self.dispatcher = dispatcher
        self.limit = ConcurrencyLimit()
        self._patterns = [(route, route.pattern) for route in API_ROUTES]

    async def execute(
        self, route: rest.Route, params: Mapping[str, str], query: Mapping[str, str], body: Any
    ) -> rest.Reply:
        events: list[rest.Event] = []

        def work(db: sqlite3.Connection) -> rest.Reply:
            return route.operation(rest.Call(db, self.base_url, dict(params), query, body, events))

        reply = await self.store.run(work, write=route.write)
        self.dispatcher.publish(events)
        if reply.body is not None:
            reply.body = rest.select_fields(reply.body, query)
        return reply

    async def dispatch(
        self, method: str, path: str, query: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        """One batch operation: ``path`` is relative to ``/3.0`` (as in Mailchimp batches)."""
        path = path.split("?", 1)[0].removeprefix(rest.API_PREFIX) or "/"
        for route, pattern in self._patterns:
            match = pattern.match(path)
            if match and route.method == method.upper():
                try:
                    reply = await self.execute(route, match.groupdict(), query, body)
                except errors.ApiError as exc:
                    return exc.status, exc.document()
                return reply.status, reply.body
        return 404, errors.not_found().document()

    def handler(self, route: rest.Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await _json_body(request)
            reply = await self.execute(route, request.match_info, request.query, body)
            if reply.status == 204:
                return web.Response(status=204)
            return web.json_response(reply.body, status=reply.status)

        return handle

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Problem documents for every failure; auth and the connection limit on ``/3.0``."""
        try:
            if not request.path.startswith(rest.API_PREFIX):
                return await handler(request)
            with self.limit.slot(credential(request)):
                return await handler(request)
        except errors.ApiError as exc:
            return exc.response(self.base_url)
        except web.HTTPNotFound:
            return errors.not_found().response(self.base_url)
        except web.HTTPMethodNotAllowed as exc:
            response = errors.method_not_allowed().response(self.base_url)
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
            return response


async def _json_body(request: web.Request) -> Any:
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    text = await request.text()
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.json_parse_error() from exc


def create_app(data_dir: Path, base_url: str, faults: FaultConfig | None = None) -> web.Application:
    store = Store(data_dir / "mailchimp.sqlite3")
    store.transaction(ensure_default_audience)
    dispatcher = webhooks.WebhookDispatcher(store)
    api = MailchimpApi(store, base_url, dispatcher)
    runner = batches.BatchRunner(store, data_dir / "batch-results", base_url, api.dispatch)

    app = new_app("mailchimp", faults)
    app.middlewares.append(api.middleware)
    for route in API_ROUTES:
        app.router.add_route(route.method, rest.API_PREFIX + route.path, api.handler(route))
    app.router.add_get(rest.API_PREFIX, api.handler(account.ROOT))
    app.router.add_get(oauth_metadata.PATH, oauth_metadata.metadata_handler(base_url))
    for route in ADMIN_ROUTES:
        app.router.add_route(route.method, route.path, api.handler(route))
    app.router.add_get(f"{ADMIN}/webhook-deliveries", _deliveries(dispatcher))
    app.router.add_get(f"{batches.RESULTS_PATH}/{{batch_id}}.tar.gz", _results(runner))

    async def start(_: web.Application) -> None:
        await dispatcher.start()
        await runner.start()

    async def stop(_: web.Application) -> None:
        await runner.stop()
        await dispatcher.stop()
        store.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def _deliveries(dispatcher: webhooks.WebhookDispatcher) -> Handler:
    async def handle(_: web.Request) -> web.StreamResponse:
        return web.json_response({"deliveries": list(dispatcher.deliveries)})

    return handle


def _results(runner: batches.BatchRunner) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = runner.results_file(request.match_info["batch_id"])
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "application/x-gzip"})

    return handle
