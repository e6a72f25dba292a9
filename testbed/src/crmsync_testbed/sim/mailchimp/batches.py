"""Batch operations (``/batches``): queued, run in the background, results as a tar.gz.

As at Mailchimp (https://mailchimp.com/developer/marketing/guides/run-async-requests-batch-endpoint/),
one batch runs at a time; each operation goes through the same endpoint code as a direct
request; the archive at ``response_body_url`` holds JSON files of
``[{"status_code", "operation_id", "response"}]`` where ``response`` is the JSON text.
Batches left unfinished by a restart are resumed from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sqlite3
import tarfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from crmsync_testbed.sim.mailchimp import errors, rest
from crmsync_testbed.sim.mailchimp.lookups import require_row
from crmsync_testbed.sim.mailchimp.store import Store, dump, load, new_hex_id, now_iso

log = logging.getLogger(__name__)

RESULTS_PATH = "/mailchimp-batch-results"
MAX_PENDING = 500
RESULTS_PER_FILE = 1000
PROGRESS_EVERY = 50
POLL_SECONDS = 0.2
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

Dispatch = Callable[[str, str, Mapping[str, str], Any], Awaitable[tuple[int, Any]]]
"""``(method, path, query, body) -> (status, json body)``: one operation, as HTTP would run it."""


def _render(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], **load(row["doc"]), "_links": []}


def _batch(call: rest.Call) -> sqlite3.Row:
    return require_row(call.db, "SELECT * FROM batches WHERE id = ?", (call.params["batch_id"],))


def _check_operations(operations: Any) -> list[dict[str, Any]]:
    if not isinstance(operations, list):
        raise errors.missing_fields("operations")
    problems = []
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            problems.append(
                {"field": f"operations.item:{index}", "message": "Schema describes object"}
            )
        elif operation.get("method") not in METHODS or not operation.get("path"):
            problems.append(
                {"field": f"operations.item:{index}", "message": "method and path are required"}
            )
    if problems:
        raise errors.field_errors(problems)
    return operations


def create_batch(call: rest.Call) -> rest.Reply:
    operations = _check_operations(call.object_body().get("operations"))
    pending = call.db.execute("SELECT COUNT(*) FROM batches WHERE status != 'finished'").fetchone()[
        0
    ]
    if pending >= MAX_PENDING:
        raise errors.too_many_requests(f"You have more than {MAX_PENDING} pending batches.")
    batch_id = new_hex_id()
    doc = {
        "status": "pending",
        "total_operations": len(operations),
        "finished_operations": 0,
        "errored_operations": 0,
        "submitted_at": now_iso(),
        "completed_at": "",
        "response_body_url": "",
    }
    call.db.execute(
        "INSERT INTO batches (id, submitted_at, status, doc, operations) VALUES (?, ?, 'pending', ?, ?)",
        (batch_id, doc["submitted_at"], dump(doc), dump(operations)),
    )
    return rest.Reply(
        _render(require_row(call.db, "SELECT * FROM batches WHERE id = ?", (batch_id,)))
    )


def list_batches(call: rest.Call) -> rest.Reply:
    page = rest.Page.of(call)
    rows = call.db.execute(
        f"SELECT * FROM batches ORDER BY submitted_at, rowid{page.sql}"
    ).fetchall()
    total = call.db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    return rest.Reply(rest.collection("batches", [_render(r) for r in rows], total))


def get_batch(call: rest.Call) -> rest.Reply:
    return rest.Reply(_render(_batch(call)))


def delete_batch(call: rest.Call) -> rest.Reply:
    call.db.execute("DELETE FROM batches WHERE id = ?", (_batch(call)["id"],))
    return rest.no_content()


ROUTES = [
    rest.get("/batches", list_batches),
    rest.post("/batches", create_batch),
    rest.get("/batches/{batch_id}", get_batch),
    rest.delete("/batches/{batch_id}", delete_batch),
]


class BatchRunner:
    """Runs queued batches one at a time and writes their result archives."""

    def __init__(self, store: Store, results_dir: Path, base_url: str, dispatch: Dispatch) -> None:
        self.store = store
        self.results_dir = results_dir
        self.base_url = base_url
        self.dispatch = dispatch
        self._task: asyncio.Task[None] | None = None

    def results_file(self, batch_id: str) -> Path:
        return self.results_dir / f"{batch_id}.tar.gz"

    async def start(self) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name="mailchimp-batches")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            batch = await self.store.run(_next_batch, write=False)
            if batch is None:
                await asyncio.sleep(POLL_SECONDS)
                continue
            try:
                await self._process(batch["id"], load(batch["operations"]))
            except Exception:
                log.exception("batch %s failed", batch["id"])
                await self._update(batch["id"], status="finished", completed_at=now_iso())

    async def _process(self, batch_id: str, operations: list[dict[str, Any]]) -> None:
        await self._update(batch_id, status="started")
        results: list[dict[str, Any]] = []
        errored = 0
        for index, operation in enumerate(operations, start=1):
            status, body = await self._execute(operation)
            errored += status >= 400
            results.append(
                {
                    "status_code": status,
                    "operation_id": operation.get("operation_id"),
                    "response": json.dumps(body) if body is not None else "",
                }
            )
            if index % PROGRESS_EVERY == 0 and not await self._update(
                batch_id, finished_operations=index, errored_operations=errored
            ):
                return  # deleted while running: stop, as DELETE /batches/{id} promises
        await asyncio.to_thread(self._write_archive, batch_id, results)
        await self._update(
            batch_id,
            status="finished",
            finished_operations=len(operations),
            errored_operations=errored,
            completed_at=now_iso(),
            response_body_url=f"{self.base_url}{RESULTS_PATH}/{batch_id}.tar.gz",
        )

    async def _execute(self, operation: dict[str, Any]) -> tuple[int, Any]:
        raw_body = operation.get("body")
        try:
            body = json.loads(raw_body) if raw_body else None
        except json.JSONDecodeError:
            return 400, errors.json_parse_error().document()
        query = {str(k): _query_value(v) for k, v in (operation.get("params") or {}).items()}
        return await self.dispatch(str(operation["method"]), str(operation["path"]), query, body)

    def _write_archive(self, batch_id: str, results: list[dict[str, Any]]) -> None:
        with tarfile.open(self.results_file(batch_id), "w:gz") as archive:
            for start in range(0, max(len(results), 1), RESULTS_PER_FILE):
                payload = json.dumps(results[start : start + RESULTS_PER_FILE]).encode()
                info = tarfile.TarInfo(f"{batch_id}/{start // RESULTS_PER_FILE}.json")
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))

    async def _update(self, batch_id: str, **changes: Any) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT doc FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                return False
            doc = {**load(row["doc"]), **changes}
            db.execute(
                "UPDATE batches SET doc = ?, status = ? WHERE id = ?",
                (dump(doc), doc["status"], batch_id),
            )
            return True

        return await self.store.run(work)


def _next_batch(db: sqlite3.Connection) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM batches WHERE status != 'finished' ORDER BY submitted_at, rowid LIMIT 1"
    ).fetchone()
    return row


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
