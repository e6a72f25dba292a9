"""What every local vendor server shares: fault injection, request counters, admin API.

The admin API lives under ``/_admin`` on each server, outside every vendor path:

- ``GET /_admin/counters`` → ``{"requests": [{"method", "route", "status", "count"}], "total"}``
- ``POST /_admin/counters/reset``
- ``GET /_admin/faults`` / ``PUT /_admin/faults`` (JSON body: :class:`FaultConfig` fields)

Faults apply to vendor paths only, never to ``/_admin``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

ADMIN_PREFIX = "/_admin"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultConfig(BaseModel):
    """Probabilities (0..1) of each injected fault, drawn independently per request."""

    model_config = ConfigDict(extra="forbid")

    rate_429: float = Field(0.0, ge=0, le=1)
    retry_after_seconds: float = Field(1.0, ge=0)
    rate_500: float = Field(0.0, ge=0, le=1)
    rate_502: float = Field(0.0, ge=0, le=1)
    rate_503: float = Field(0.0, ge=0, le=1)
    rate_timeout: float = Field(0.0, ge=0, le=1)
    """A request that "times out" is held for ``timeout_seconds`` and then dropped (504)."""
    timeout_seconds: float = Field(30.0, ge=0)
    latency_ms: float = Field(0.0, ge=0)
    """Extra latency added to every vendor request."""
    first_429: int = Field(0, ge=0)
    """The next this many vendor requests answer 429 before any drawn fault: a fault a
    test can count on, however few calls the client makes."""
    seed: int | None = None

    @classmethod
    def parse_cli(cls, text: str) -> FaultConfig:
        """Parse ``rate_429=0.1,latency_ms=20`` (the ``--faults`` option)."""
        values: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            values[key.strip()] = value.strip()
        return cls.model_validate(values)


@dataclass
class SimState:
    """Mutable state shared by the middlewares and the admin handlers of one server."""

    vendor: str
    faults: FaultConfig = field(default_factory=FaultConfig)
    counters: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random)
    forced_429_left: int = 0

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.forced_429_left = faults.first_429


STATE_KEY = web.AppKey("crmsync_sim_state", SimState)


def route_name(request: web.Request) -> str:
    """The matched route template (``/3.0/lists/{list_id}``), never the concrete path."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "<unmatched>"


def _fault_response(state: SimState) -> web.Response | str | None:
    """Pick the fault for this request, if any. ``"timeout"`` means: hold, then drop."""
    f, rng = state.faults, state.rng
    forced = state.forced_429_left > 0
    if forced:
        state.forced_429_left -= 1
    if forced or (f.rate_429 and rng.random() < f.rate_429):
        return web.json_response(
            {"status": 429, "title": "Too Many Requests", "detail": "injected fault"},
            status=429,
            headers={"Retry-After": f"{f.retry_after_seconds:g}"},
        )
    for status, rate in ((500, f.rate_500), (502, f.rate_502), (503, f.rate_503)):
        if rate and rng.random() < rate:
            return web.json_response(
                {"status": status, "title": "Server Error", "detail": "injected fault"},
                status=status,
            )
    if f.rate_timeout and rng.random() < f.rate_timeout:
        return "timeout"
    return None


@web.middleware
async def sim_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts every request by route and status; injects faults on vendor routes."""
    state = request.app[STATE_KEY]
    route = route_name(request)
    status = 500
    try:
        if not request.path.startswith(ADMIN_PREFIX):
            if state.faults.latency_ms:
                await asyncio.sleep(state.faults.latency_ms / 1000)
            fault = _fault_response(state)
            if fault == "timeout":
                await asyncio.sleep(state.faults.timeout_seconds)
                status = 504
                return web.json_response({"status": 504, "title": "Gateway Timeout"}, status=504)
            if isinstance(fault, web.Response):
                status = fault.status
                return fault
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        state.counters[(request.method, route, status)] += 1


async def _get_counters(request: web.Request) -> web.Response:
    counters = request.app[STATE_KEY].counters
    rows = [
        {"method": m, "route": r, "status": s, "count": c}
        for (m, r, s), c in sorted(counters.items())
    ]
    return web.json_response({"requests": rows, "total": sum(counters.values())})


async def _reset_counters(request: web.Request) -> web.Response:
    request.app[STATE_KEY].counters.clear()
    return web.json_response({"ok": True})


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].faults.model_dump())


async def _put_faults(request: web.Request) -> web.Response:
    try:
        faults = FaultConfig.model_validate(await request.json())
    except (ValueError, json.JSONDecodeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    request.app[STATE_KEY].set_faults(faults)
    return web.json_response(faults.model_dump())


def new_app(vendor: str, faults: FaultConfig | None = None) -> web.Application:
    """An aiohttp app with the shared middleware and admin routes already installed.

    Vendor modules add their own routes to it.
    """
    app = web.Application(middlewares=[sim_middleware], client_max_size=64 * 1024**2)
    state = SimState(vendor=vendor)
    if faults is not None:
        state.set_faults(faults)
    app[STATE_KEY] = state
    app.router.add_get(f"{ADMIN_PREFIX}/counters", _get_counters)
    app.router.add_post(f"{ADMIN_PREFIX}/counters/reset", _reset_counters)
    app.router.add_get(f"{ADMIN_PREFIX}/faults", _get_faults)
    app.router.add_put(f"{ADMIN_PREFIX}/faults", _put_faults)
    return app


def open_db(path: Path) -> sqlite3.Connection:
    """A SQLite connection tuned for a single-process local server (WAL, no fsync wait)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def json_column(value: Any) -> str:
    """Serialise a record's document column (unicode kept as is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
