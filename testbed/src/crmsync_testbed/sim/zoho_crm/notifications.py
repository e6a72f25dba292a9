"""Notification channels (``/actions/watch``) and the callbacks they trigger.

Spec: notifications.json (``POST|PUT|PATCH|GET|DELETE /crm/v8/actions/watch``); docs
https://www.zoho.com/crm/developer/docs/api/v8/notifications/enable.html and
Kaizen #170 (channel expiry: default 1 h, maximum 1 week from v4, 1 day before).

A change made through the API POSTs, per matching channel, one JSON body:
``{"server_time", "module", "resource_uri", "ids", "affected_fields", "query_params",
"channel_id", "token", "operation"}`` (+ ``affected_values`` when the channel asked for
``return_affected_field_values``). ``operation`` is ``insert`` / ``update`` / ``delete``
(the event names of a channel are ``create`` / ``edit`` / ``delete`` or ``all``).
Delivery runs in a background task and never blocks the API call; the last deliveries are
visible at ``GET /_admin/zoho_crm/notifications``.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import api_version, ctx
from crmsync_testbed.sim.zoho_crm.errors import error_body, required_param_missing_body
from crmsync_testbed.sim.zoho_crm.fields import MODULES, RECORD_MODULES
from crmsync_testbed.sim.zoho_crm.store import CrmStore, now_ms, parse_zoho_time, zoho_time

EVENT_OF_OPERATION = {"insert": "create", "update": "edit", "delete": "delete"}
DEFAULT_EXPIRY = timedelta(hours=1)
MAX_EXPIRY = {"v8": timedelta(days=7), "v2": timedelta(days=1)}
MAX_TOKEN_LENGTH = 50
DELIVERY_TIMEOUT_SECONDS = 10.0


@dataclass
class Change:
    """What one API call did to one module (one notification per channel and operation)."""

    module: str
    operation: str
    ids: list[int]
    affected: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Changed fields and their new values, by record id (updates)."""


@dataclass
class Notifier:
    store: CrmStore
    base_url: str
    deliveries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None
    order: dict[str, asyncio.Lock] = field(default_factory=dict)
    """One lock per channel: its callbacks leave in the order the changes happened."""

    def publish(self, changes: list[Change]) -> None:
        """Schedule the callbacks for these changes; returns at once."""
        at = now_ms()
        for channel in self.store.channels(live_at_ms=at):
            for change in changes:
                if not change.ids or not _subscribed(channel, change):
                    continue
                body = self._body(channel, change, at)
                task = asyncio.get_running_loop().create_task(self._deliver(channel, body))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    def _body(self, channel: dict[str, Any], change: Change, at: int) -> dict[str, Any]:
        ids = [str(i) for i in change.ids]
        body: dict[str, Any] = {
            "server_time": at,
            "query_params": {},
            "module": change.module,
            "resource_uri": f"{self.base_url}/crm/v8/{change.module}",
            "ids": ids,
            "affected_fields": [{str(i): sorted(values)} for i, values in change.affected.items()],
            "operation": change.operation,
            "channel_id": channel["channel_id"],
            "token": channel.get("token"),
        }
        if channel.get("return_affected_field_values") and change.affected:
            body["affected_values"] = [
                {"record_id": str(i), "values": values} for i, values in change.affected.items()
            ]
        return body

    async def _deliver(self, channel: dict[str, Any], body: dict[str, Any]) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS)
            )
        record: dict[str, Any] = {"notify_url": channel["notify_url"], "body": body}
        async with self.order.setdefault(channel["channel_id"], asyncio.Lock()):
            try:
                async with self.session.post(channel["notify_url"], json=body) as response:
                    record["status"] = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                record["error"] = repr(exc)
        self.deliveries.append(record)

    async def close(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()


def _subscribed(channel: dict[str, Any], change: Change) -> bool:
    wanted = {f"{change.module}.all", f"{change.module}.{EVENT_OF_OPERATION[change.operation]}"}
    return bool(wanted.intersection(channel.get("events", [])))


# --- /actions/watch -----------------------------------------------------------------


class WatchError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = error_body(code, message, details)


def _valid_event(event: Any) -> bool:
    if not isinstance(event, str) or "." not in event:
        return False
    module, _, action = event.partition(".")
    return (
        module in MODULES
        and module in RECORD_MODULES
        and action in ("all", "create", "edit", "delete")
    )


def _expiry(raw: Any, index: int, version: str) -> datetime:
    now = datetime.now(tz=UTC)
    if raw in (None, ""):
        return now + DEFAULT_EXPIRY
    try:
        expiry = datetime.fromtimestamp(parse_zoho_time(str(raw)) / 1000, tz=UTC)
    except ValueError:
        raise WatchError(
            "INVALID_DATA",
            "invalid data",
            {
                "api_name": "channel_expiry",
                "json_path": f"$.watch[{index}].channel_expiry",
                "expected_data_type": "datetime",
            },
        ) from None
    if expiry <= now or expiry > now + MAX_EXPIRY[version]:
        raise WatchError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "channel_expiry", "json_path": f"$.watch[{index}].channel_expiry"},
        )
    return expiry


def _channel_from(
    item: Any, index: int, version: str, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise WatchError("INVALID_DATA", "invalid data", {"json_path": f"$.watch[{index}]"})
    merged = {**(previous or {}), **item}
    for key in ("channel_id", "events", "notify_url"):
        if merged.get(key) in (None, "", []):
            raise WatchError(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": key, "json_path": f"$.watch[{index}].{key}"},
            )
    events = merged["events"]
    if not isinstance(events, list) or not all(_valid_event(e) for e in events):
        raise WatchError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "events", "json_path": f"$.watch[{index}].events"},
        )
    token = merged.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH):
        raise WatchError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "token", "json_path": f"$.watch[{index}].token"},
        )
    expiry = _expiry(
        item.get("channel_expiry")
        if previous is None or "channel_expiry" in item
        else previous.get("channel_expiry"),
        index,
        version,
    )
    return {
        "channel_id": str(merged["channel_id"]),
        "events": list(dict.fromkeys(events)),
        "notify_url": str(merged["notify_url"]),
        "token": token,
        "channel_expiry": zoho_time(int(expiry.timestamp() * 1000)),
        "return_affected_field_values": bool(merged.get("return_affected_field_values", False)),
        "notify_on_related_action": bool(merged.get("notify_on_related_action", True)),
        "notification_condition": merged.get("notification_condition") or [],
        "fields": merged.get("fields"),
    }


def _event_details(base_url: str, channel: dict[str, Any]) -> list[dict[str, Any]]:
    details = []
    for event in channel["events"]:
        module = MODULES[event.partition(".")[0]]
        details.append(
            {
                "channel_expiry": channel["channel_expiry"],
                "resource_uri": f"{base_url}/crm/v8/{module.api_name}",
                "resource_id": str(module.module_id),
                "resource_name": module.api_name,
                "channel_id": channel["channel_id"],
                "notification_condition": [],
            }
        )
    return details


def _success(message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"code": "SUCCESS", "details": details, "message": message, "status": "success"}


class WatchBodyMissingError(Exception):
    pass


async def _watch_items(request: web.Request) -> list[Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        body = None
    items = body.get("watch") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise WatchBodyMissingError
    return items


def _answer(results: list[dict[str, Any]], success_status: int = 200) -> web.Response:
    """notifications.json: 201 (enabled) / 200 (changed); 202 when an item failed."""
    failed = any(r["status"] == "error" for r in results)
    return web.json_response({"watch": results}, status=202 if failed else success_status)


def _body_missing() -> web.Response:
    return web.json_response(
        error_body("MANDATORY_NOT_FOUND", "required field not found", {"api_name": "watch"}),
        status=400,
    )


async def enable(request: web.Request) -> web.Response:
    """``POST`` and ``PUT /actions/watch``: subscribe (PUT replaces a channel's settings)."""
    store, base_url = ctx(request).store, ctx(request).base_url
    try:
        items = await _watch_items(request)
    except WatchBodyMissingError:
        return _body_missing()
    results = []
    for index, item in enumerate(items):
        try:
            channel = _channel_from(item, index, api_version(request))
        except WatchError as exc:
            results.append(exc.body)
            continue
        store.save_channel(channel["channel_id"], _expiry_ms(channel), channel)
        message = (
            "Successfully subscribed for actions-watch of the given module"
            if request.method == "POST"
            else "Successfully updated the subscribe details"
        )
        results.append(_success(message, {"events": _event_details(base_url, channel)}))
    return _answer(results, 201 if request.method == "POST" else 200)


def _expiry_ms(channel: dict[str, Any]) -> int:
    return parse_zoho_time(channel["channel_expiry"])


def _find_channel(store: CrmStore, channel_id: str) -> dict[str, Any] | None:
    return next((c for c in store.channels() if c["channel_id"] == channel_id), None)


async def patch(request: web.Request) -> web.Response:
    """``PATCH /actions/watch``: change details; ``_delete_events: true`` removes events."""
    store, base_url = ctx(request).store, ctx(request).base_url
    try:
        items = await _watch_items(request)
    except WatchBodyMissingError:
        return _body_missing()
    results = []
    for index, item in enumerate(items):
        channel_id = str(item.get("channel_id", "")) if isinstance(item, dict) else ""
        previous = _find_channel(store, channel_id)
        if previous is None:
            results.append(
                error_body(
                    "NOT_SUBSCRIBED", "not subscribed for actions-watch", {"channel_id": channel_id}
                )
            )
            continue
        update = dict(item)
        if update.pop("_delete_events", False):
            remove = set(update.pop("events", []))
            update["events"] = [e for e in previous["events"] if e not in remove]
            if not update["events"]:
                store.delete_channel(channel_id)
                results.append(
                    _success(
                        "Successfully un-subscribed from actions-watch", {"channel_id": channel_id}
                    )
                )
                continue
        elif "events" in update:
            update["events"] = [*previous["events"], *update["events"]]
        try:
            channel = _channel_from(update, index, api_version(request), previous)
        except WatchError as exc:
            results.append(exc.body)
            continue
        store.save_channel(channel_id, _expiry_ms(channel), channel)
        results.append(
            _success(
                "Successfully updated the subscribe details",
                {"events": _event_details(base_url, channel)},
            )
        )
    return _answer(results)


async def list_channels(request: web.Request) -> web.Response:
    """``GET /actions/watch`` — the live channels of this organisation."""
    store = ctx(request).store
    channels = store.channels(live_at_ms=now_ms())
    if not channels:
        return web.Response(status=204)
    watch = []
    for channel in channels:
        for detail in _event_details(ctx(request).base_url, channel):
            watch.append(
                {
                    **detail,
                    "notify_url": channel["notify_url"],
                    "token": channel["token"],
                    "events": channel["events"],
                    "return_affected_field_values": channel["return_affected_field_values"],
                    "notify_on_related_action": channel["notify_on_related_action"],
                    "fields": channel["fields"],
                }
            )
    info = {"per_page": 200, "page": 1, "count": len(watch), "more_records": False}
    return web.json_response({"watch": watch, "info": info})


async def disable(request: web.Request) -> web.Response:
    """``DELETE /actions/watch?channel_ids=1,2`` — unsubscribe channels."""
    store = ctx(request).store
    raw = request.query.get("channel_ids", "")
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids:
        return web.json_response(
            required_param_missing_body("channel_ids"),
            status=400,
        )
    results = []
    for channel_id in ids:
        if store.delete_channel(channel_id):
            results.append(
                _success(
                    "Successfully un-subscribed from actions-watch", {"channel_id": channel_id}
                )
            )
        else:
            results.append(
                error_body(
                    "NOT_SUBSCRIBED", "not subscribed for actions-watch", {"channel_id": channel_id}
                )
            )
    return _answer(results)


async def admin_deliveries(request: web.Request) -> web.Response:
    """``GET /_admin/zoho_crm/notifications`` — the last callbacks sent (newest last)."""
    return web.json_response({"deliveries": list(ctx(request).notifier.deliveries)})
