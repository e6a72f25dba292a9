"""Bulk Read (bulk_read.json): export a module's records as a ZIP holding one CSV.

- ``POST /crm/bulk/v8/read`` creates a job (201, ``ADDED_SUCCESSFULLY``) and costs 50
  credits (:data:`limits.ROUTE_COSTS`);
- ``GET /crm/bulk/v8/read/{job_id}``: ``ADDED`` → ``IN PROGRESS`` → ``COMPLETED`` (or
  ``FAILURE``) over the processing delay; a completed job's ``result`` is ``{page, count,
  per_page, download_url, more_records, next_page_token}``;
- ``GET /crm/bulk/v8/read/{job_id}/result`` downloads the ZIP for a day after completion;
  at most 10 downloads a minute (the download-result doc), then 429.

One job exports up to ``per_page`` (200,000) records; the next page is another job with
``query.page_token`` (the previous result's ``next_page_token``) or ``query.page`` (1–50,
bulk_read.json's ``Query.page`` pattern). Converted leads are left out, as in a listing
without ``converted``. Docs: https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/overview.html,
create-job.html, job-details.html, download-result.html. Not modelled: callbacks are
validated but never called, ``cvid`` is refused (no custom views), ICS export; jobs
live in memory (a restart forgets them).

Admin: ``PUT /_admin/zoho_crm/bulk_read`` ``{"processing_ms", "per_page", "fail_jobs",
"downloads_per_minute"}`` (``fail_jobs``: that many next jobs end in ``FAILURE``; a PUT
also empties the download window);
``GET`` the same path for the settings and job count.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.bulk_criteria import parse_criteria
from crmsync_testbed.sim.zoho_crm.bulk_export import Column, Exporter, exportable, write_page
from crmsync_testbed.sim.zoho_crm.context import CURRENT_USER, ctx
from crmsync_testbed.sim.zoho_crm.errors import ZohoError
from crmsync_testbed.sim.zoho_crm.fields import ModuleDef, module_for
from crmsync_testbed.sim.zoho_crm.query import QueryError, compile_condition
from crmsync_testbed.sim.zoho_crm.records import live_where
from crmsync_testbed.sim.zoho_crm.store import now_ms, zoho_time

PATH = "/crm/bulk/v8/read"
PER_PAGE = 200_000
MAX_PAGE = 50
RESULT_HOURS = 24
DOWNLOADS_PER_MINUTE = 10
DEFAULT_PROCESSING_MS = 300.0


@dataclass
class Job:
    id: str
    module: ModuleDef
    query: dict[str, Any]
    created_ms: int
    page: int
    state: str = "ADDED"
    result: dict[str, Any] | None = None
    completed_ms: int | None = None
    path: Path | None = None

    def details(self) -> dict[str, Any]:
        query = {
            **self.query,
            "module": {"api_name": self.module.api_name, "id": str(self.module.module_id)},
            "page": self.page,
        }
        body: dict[str, Any] = {
            "id": self.id,
            "operation": "read",
            "state": self.state,
            "query": query,
            "created_by": {"id": CURRENT_USER["id"], "name": CURRENT_USER["name"]},
            "created_time": zoho_time(self.created_ms),
            "file_type": "csv",
        }  # fmt: skip
        if self.result is not None:
            body["result"] = self.result
        return body


@dataclass
class BulkReads:
    directory: Path
    processing_ms: float = DEFAULT_PROCESSING_MS
    per_page: int = PER_PAGE
    fail_jobs: int = 0
    downloads_per_minute: int = DOWNLOADS_PER_MINUTE
    jobs: dict[str, Job] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    downloads: list[float] = field(default_factory=list)
    next_id: int = 5725767000090000000

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def download_allowed(self) -> bool:
        now = time.monotonic()
        self.downloads = [t for t in self.downloads if now - t < 60]
        if len(self.downloads) >= self.downloads_per_minute:
            return False
        self.downloads.append(now)
        return True

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def describe(self) -> dict[str, Any]:
        return {
            "processing_ms": self.processing_ms,
            "per_page": self.per_page,
            "fail_jobs": self.fail_jobs,
            "downloads_per_minute": self.downloads_per_minute,
            "jobs": len(self.jobs),
        }


BULK_KEY = web.AppKey("zoho_crm_bulk_reads", BulkReads)


def _bad(code: str, message: str, details: dict[str, Any] | None = None) -> ZohoError:
    return ZohoError(400, code, message, details or {})


def _columns(module: ModuleDef, fields: Any) -> list[Column]:
    if fields is None or fields == []:
        names = [f.api_name for f in module.fields if exportable(f)]
    elif isinstance(fields, list) and all(isinstance(f, str) for f in fields):
        names = [f for f in dict.fromkeys(fields) if f != "id"]
    else:
        raise _bad("INVALID_REQUEST", "fields must be a list of API names", {"param": "fields"})
    columns = [Column("id", None)]
    for name in names:
        base, _, sub = name.partition(".")
        field_def = module.by_name.get(base)
        if field_def is None or (
            sub and field_def.lookup is None and "lookup" not in field_def.data_type
        ):
            raise _bad("FIELD_NOT_AVAILABLE", "the field is not available",
                       {"api_name": name, "module": module.api_name})  # fmt: skip
        if not exportable(field_def):
            raise _bad("FIELD_NOT_SUPPORTED", "the field is not supported for bulk read",
                       {"api_name": name, "module": module.api_name})  # fmt: skip
        columns.append(Column(name, field_def, sub or None))
    return columns


def _signature(module: ModuleDef, query: dict[str, Any]) -> str:
    return json.dumps([module.api_name, query.get("fields"), query.get("criteria")],
                      sort_keys=True)  # fmt: skip


def _token(signature: str, after_id: int, page: int) -> str:
    raw = json.dumps({"s": signature, "a": after_id, "p": page}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(signature: str, token: Any) -> tuple[int, int]:
    try:
        text = str(token)
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if payload["s"] == signature:
            return int(payload["a"]), int(payload["p"])
    except (ValueError, KeyError, TypeError):
        pass
    raise _bad("INVALID_REQUEST", "the page_token is invalid", {"param": "page_token"})


def _check_callback(body: dict[str, Any]) -> None:
    callback = body.get("callback")
    if callback is None:
        return
    if not isinstance(callback, dict) or not str(callback.get("url", "")).startswith("http"):
        raise _bad("INVALID_CALLBACK_URL", "the callback url is invalid")
    if str(callback.get("method", "")).lower() != "post":
        raise _bad("INVALID_CALLBACK_METHOD", "the callback method must be post")


async def _body(request: web.Request) -> dict[str, Any]:
    if not await request.read():
        raise _bad("REQUEST_BODY_IS_EMPTY", "the request body is empty")
    try:
        body = await request.json()
    except ValueError:
        raise _bad("REQUEST_BODY_NOT_READABLE", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _bad("REQUEST_BODY_NOT_READABLE", "the request body must be a JSON object")
    return body


async def create_job(request: web.Request) -> web.Response:
    body = await _body(request)
    _check_callback(body)
    if body.get("file_type", "csv") != "csv":
        raise _bad("NOT_SUPPORTED_FEATURE", "only csv is exported here", {"param": "file_type"})
    query = body.get("query")
    if not isinstance(query, dict) or not isinstance(query.get("module"), dict):
        raise _bad("INVALID_REQUEST", "query.module is required", {"param": "query.module"})
    try:
        module = module_for(str(query["module"].get("api_name", "")))
    except ZohoError:
        raise _bad("MODULE_NOT_AVAILABLE", "the module is not available",
                   {"api_name": query["module"].get("api_name")}) from None  # fmt: skip
    if query.get("cvid"):
        raise _bad("CVID_NOT_SUPPORTED", "custom views are not supported", {"cvid": query["cvid"]})
    columns = _columns(module, query.get("fields"))
    where, params = live_where(module)
    where += " AND converted = 0"
    if query.get("criteria") is not None:
        try:
            condition = compile_condition(module, parse_criteria(module, query["criteria"]))
        except QueryError as exc:
            raise _bad("INVALID_CRITERIA", str(exc)) from None
        where, params = f"{where} AND {condition.text}", (*params, *condition.params)
    bulk = request.app[BULK_KEY]
    signature = _signature(module, query)
    after_id, page = await _start(request, query, signature, where, params, bulk.per_page)
    job = Job(bulk.new_id(), module, _echo(query), now_ms(), page)
    bulk.jobs[job.id] = job
    exporter = Exporter(ctx(request).store, module, columns)
    task = asyncio.ensure_future(_process(bulk, job, exporter, where, params, after_id, signature))
    bulk.tasks.add(task)
    task.add_done_callback(bulk.tasks.discard)
    details = {key: job.details()[key] for key in ("id", "operation", "state", "created_by",
                                                     "created_time")}  # fmt: skip
    return web.json_response(
        {"data": [{"status": "success", "code": "ADDED_SUCCESSFULLY",
                   "message": "Added successfully.", "details": details}], "info": {}},
        status=201,
    )  # fmt: skip


def _echo(query: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in query.items() if k in ("fields", "criteria", "page_token")}


async def _start(
    request: web.Request,
    query: dict[str, Any],
    signature: str,
    where: str,
    params: tuple[Any, ...],
    per_page: int,
) -> tuple[int, int]:
    """The id the page starts after, and the page number."""
    if query.get("page_token") is not None:
        if query.get("page") is not None:
            raise _bad("INVALID_REQUEST", "page and page_token cannot be combined",
                       {"param": "page"})  # fmt: skip
        return _read_token(signature, query["page_token"])
    page = query.get("page", 1)
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE:
        raise ZohoError(400, "PAGE_RANGE_EXCEEDED", "the page is out of range",
                        {"max_limit": MAX_PAGE})  # fmt: skip
    if page == 1:
        return 0, 1
    skipped = ctx(request).store.select(where, params, "id ASC", 1, (page - 1) * per_page - 1)
    return (skipped[0].id if skipped else 2**62), page


async def _process(
    bulk: BulkReads,
    job: Job,
    exporter: Exporter,
    where: str,
    params: tuple[Any, ...],
    after_id: int,
    signature: str,
) -> None:
    half = bulk.processing_ms / 2000
    await asyncio.sleep(half)
    job.state = "IN PROGRESS"
    if bulk.fail_jobs > 0:
        bulk.fail_jobs -= 1
        await asyncio.sleep(half)
        job.state = "FAILURE"
        return
    path = bulk.directory / f"{job.id}.zip"
    written = await write_page(path, exporter, where, params, after_id, bulk.per_page)
    more = written.last_id is not None and exporter.store.exists(
        f"{where} AND id > ?", (*params, written.last_id)
    )
    await asyncio.sleep(half)
    job.path = path
    job.result = {
        "page": job.page,
        "count": written.count,
        "per_page": bulk.per_page,
        "download_url": f"{PATH}/{job.id}/result",
        "more_records": more,
    }
    if more and written.last_id is not None:
        job.result["next_page_token"] = _token(signature, written.last_id, job.page + 1)
    job.completed_ms = now_ms()
    job.state = "COMPLETED"


def _job(request: web.Request) -> Job:
    job = request.app[BULK_KEY].jobs.get(request.match_info["job_id"])
    if job is None:
        raise ZohoError(404, "RESOURCE_NOT_FOUND", "the requested resource is not found",
                        {"resource": "job_id"})  # fmt: skip
    return job


async def get_job(request: web.Request) -> web.Response:
    return web.json_response({"data": [_job(request).details()]})


async def download(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    expired = job.completed_ms is not None and now_ms() - job.completed_ms > RESULT_HOURS * 3600_000
    if job.state != "COMPLETED" or job.path is None or expired:
        raise _bad("RESOURCE_NOT_FOUND", "the result is not available", {"resource": "job_id"})
    if not request.app[BULK_KEY].download_allowed():
        raise ZohoError(429, "TOO_MANY_REQUESTS", "at most 10 downloads a minute", {})
    return web.FileResponse(job.path, headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{job.id}.zip"',
    })  # fmt: skip


async def admin_settings(request: web.Request) -> web.Response:
    bulk = request.app[BULK_KEY]
    if request.method == "PUT":
        body = await request.json()
        for key in ("processing_ms",):
            if key in body:
                setattr(bulk, key, float(body[key]))
        for key in ("per_page", "fail_jobs", "downloads_per_minute"):
            if key in body:
                setattr(bulk, key, int(body[key]))
        bulk.downloads.clear()
    return web.json_response(bulk.describe())


def install(app: web.Application, data_dir: Path, admin: str) -> None:
    bulk = BulkReads(data_dir / "bulk_read")
    app[BULK_KEY] = bulk
    app.router.add_routes([
        web.post(PATH, create_job),
        web.get(f"{PATH}/{{job_id:[0-9]+}}", get_job),
        web.get(f"{PATH}/{{job_id:[0-9]+}}/result", download),
        web.get(f"{admin}/bulk_read", admin_settings),
        web.put(f"{admin}/bulk_read", admin_settings),
    ])  # fmt: skip

    async def close(app: web.Application) -> None:
        await bulk.close()

    app.on_cleanup.append(close)
