"""List webhooks: registration (``/lists/{list_id}/webhooks``) and callback delivery.

Callbacks follow https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/ :
a ``POST`` of ``application/x-www-form-urlencoded`` fields ``type``, ``fired_at``
(``YYYY-MM-DD HH:MM:SS``, UTC) and ``data[...]``; registration first sends a ``GET`` that
must answer 2xx. A failed delivery is retried a few times with a short backoff (Mailchimp
retries for 75 minutes; a local server has no reason to wait that long).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp

from crmsync_testbed.sim.mailchimp import errors, rest
from crmsync_testbed.sim.mailchimp.lookups import require_list, require_row
from crmsync_testbed.sim.mailchimp.store import Store, dump, load, new_hex_id

log = logging.getLogger(__name__)

EVENT_TYPES = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
SOURCES = ("user", "admin", "api")
DEFAULT_SOURCES = {"user": True, "admin": True, "api": False}
UNSOURCED = "system"
"""Source of events no person caused (bounces, campaign sends): ``sources`` does not filter them."""
VERIFY_TIMEOUT_SECONDS = 5
DELIVERY_TIMEOUT_SECONDS = 10
RETRY_DELAYS_SECONDS = (0.5, 1.0, 2.0)


# --- registration ---------------------------------------------------------------------------


def _verify_url(url: str) -> None:
    """Mailchimp's registration check: a GET that must succeed.

    It runs on the DB thread (blocking it for at most the timeout): registrations are rare,
    and the operation stays one transaction.
    """
    try:
        with urllib.request.urlopen(url, timeout=VERIFY_TIMEOUT_SECONDS) as response:
            ok = 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        ok = False
    if not ok:
        raise errors.field_errors(
            [{"field": "url", "message": "We couldn't verify the URL is working."}]
        )


def _webhook(call: rest.Call) -> sqlite3.Row:
    require_list(call.db, call.params["list_id"])
    return require_row(
        call.db,
        "SELECT * FROM webhooks WHERE id = ? AND list_id = ?",
        (call.params["webhook_id"], call.params["list_id"]),
    )


def _render(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], **load(row["doc"]), "list_id": row["list_id"], "_links": []}


def _flags(
    given: Any, names: tuple[str, ...], defaults: dict[str, bool], field: str
) -> dict[str, bool]:
    if given is None:
        return dict(defaults)
    if not isinstance(given, dict):
        raise errors.field_errors([{"field": field, "message": "Schema describes object"}])
    return {name: bool(given.get(name, defaults[name])) for name in names}


def list_webhooks(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    rows = call.db.execute(
        "SELECT * FROM webhooks WHERE list_id = ? ORDER BY rowid", (list_id,)
    ).fetchall()
    return rest.Reply(
        rest.collection("webhooks", [_render(r) for r in rows], len(rows), list_id=list_id)
    )


def create_webhook(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    body = call.object_body()
    rest.require(body, "url")
    url = str(body["url"])
    if call.db.execute(
        "SELECT 1 FROM webhooks WHERE list_id = ? AND json_extract(doc, '$.url') = ?",
        (list_id, url),
    ).fetchone():
        raise errors.bad_request("Sorry, you can't use the same URL for more than one webhook.")
    _verify_url(url)
    doc = {
        "url": url,
        "events": _flags(
            body.get("events"), EVENT_TYPES, dict.fromkeys(EVENT_TYPES, True), "events"
        ),
        "sources": _flags(body.get("sources"), SOURCES, DEFAULT_SOURCES, "sources"),
    }
    webhook_id = new_hex_id()
    call.db.execute(
        "INSERT INTO webhooks (id, list_id, doc) VALUES (?, ?, ?)", (webhook_id, list_id, dump(doc))
    )
    call.params = {**call.params, "webhook_id": webhook_id}
    return rest.Reply(_render(_webhook(call)))


def get_webhook(call: rest.Call) -> rest.Reply:
    return rest.Reply(_render(_webhook(call)))


def update_webhook(call: rest.Call) -> rest.Reply:
    row = _webhook(call)
    body = call.object_body()
    doc = load(row["doc"])
    if body.get("url") and body["url"] != doc["url"]:
        _verify_url(str(body["url"]))
        doc["url"] = str(body["url"])
    if "events" in body:
        doc["events"] = _flags(body["events"], EVENT_TYPES, doc["events"], "events")
    if "sources" in body:
        doc["sources"] = _flags(body["sources"], SOURCES, doc["sources"], "sources")
    call.db.execute("UPDATE webhooks SET doc = ? WHERE id = ?", (dump(doc), row["id"]))
    return rest.Reply(_render(_webhook(call)))


def delete_webhook(call: rest.Call) -> rest.Reply:
    row = _webhook(call)
    call.db.execute("DELETE FROM webhooks WHERE id = ?", (row["id"],))
    return rest.no_content()


WEBHOOK = "/lists/{list_id}/webhooks/{webhook_id}"
ROUTES = [
    rest.get("/lists/{list_id}/webhooks", list_webhooks),
    rest.post("/lists/{list_id}/webhooks", create_webhook),
    rest.get(WEBHOOK, get_webhook),
    rest.patch(WEBHOOK, update_webhook),
    rest.delete(WEBHOOK, delete_webhook),
]


# --- delivery ---------------------------------------------------------------------------------


def form_fields(event: rest.Event, fired_at: datetime) -> list[tuple[str, str]]:
    """The callback body as ordered form fields: ``type``, ``fired_at``, ``data[...]``."""
    fields = [("type", event.type), ("fired_at", fired_at.strftime("%Y-%m-%d %H:%M:%S"))]
    fields += list(_flatten("data", event.data))
    return fields


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{prefix}[{key}]", item)
    elif isinstance(value, bool):
        yield prefix, "true" if value else "false"
    else:
        yield prefix, "" if value is None else str(value)


def _wants(doc: dict[str, Any], event: rest.Event) -> bool:
    if not doc["events"].get(event.type, False):
        return False
    return event.source == UNSOURCED or bool(doc["sources"].get(event.source, False))


EVENTS_CHECKED_TOGETHER = 1000


def _lists_with_webhooks(db: sqlite3.Connection, list_ids: list[str]) -> set[str]:
    marks = ",".join("?" * len(list_ids))
    rows = db.execute(
        f"SELECT DISTINCT list_id FROM webhooks WHERE list_id IN ({marks})", list_ids
    ).fetchall()
    return {str(row[0]) for row in rows}


class WebhookDispatcher:
    """Delivers events in order, in the background, after their transaction committed."""

    def __init__(self, store: Store, history: int = 1000) -> None:
        self.store = store
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=history)
        self._queue: asyncio.Queue[rest.Event] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    def publish(self, events: list[rest.Event]) -> None:
        for event in events:
            self._queue.put_nowait(event)

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._worker = asyncio.create_task(self._run(), name="mailchimp-webhooks")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            events = [await self._queue.get()]
            while not self._queue.empty() and len(events) < EVENTS_CHECKED_TOGETHER:
                events.append(self._queue.get_nowait())
            # One read tells which of these events' lists have webhooks at all: a batch
            # subscribe of 500 members to a list without any costs one query, not 500.
            lists = sorted({event.list_id for event in events})
            hooked = await self.store.run(
                partial(_lists_with_webhooks, list_ids=lists), write=False
            )
            for event in events:
                if event.list_id not in hooked:
                    continue
                try:
                    await self._deliver(event)
                except Exception:
                    log.exception("webhook delivery failed")

    async def _deliver(self, event: rest.Event) -> None:
        def targets(db: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = db.execute("SELECT doc FROM webhooks WHERE list_id = ?", (event.list_id,))
            return [load(row["doc"]) for row in rows]

        fields = form_fields(event, datetime.now(UTC))
        for doc in await self.store.run(targets, write=False):
            if _wants(doc, event):
                status = await self._post(doc["url"], fields)
                self.deliveries.append({"url": doc["url"], "type": event.type, "status": status})

    async def _post(self, url: str, fields: list[tuple[str, str]]) -> int:
        assert self._session is not None
        status = 0
        for delay in (0.0, *RETRY_DELAYS_SECONDS):
            await asyncio.sleep(delay)
            try:
                async with self._session.post(url, data=fields) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            if 200 <= status < 300:
                break
        return status
