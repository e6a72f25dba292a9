"""API limits of the local Zoho CRM: concurrency per organisation and daily credits.

Sources: https://www.zoho.com/crm/developer/docs/api/v8/api-limits.html and Kaizen #203
(https://help.zoho.com/portal/en/community/topic/kaizen-203-answering-your-questions-handling-api-limits-and-error-responses):
credits per rolling 24 h; 1 credit per call, 1 per 10 records written, 2 for deleted
records, 5 for lead conversion; concurrency 10 (Standard edition); exceeding the
concurrency gives HTTP 429 ``TOO_MANY_REQUESTS``. Exhausted credits give HTTP 429 with
the spec's ``LIMIT_REACHED`` code.

Admin: ``GET /_admin/zoho_crm/credits``, ``PUT /_admin/zoho_crm/limits``
(``{"concurrency", "daily_credits", "hold_ms"}``), ``POST /_admin/zoho_crm/credits/reset``.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from aiohttp import web

from crmsync.sim.zoho_crm.context import ctx
from crmsync.sim.zoho_crm.errors import ZohoError
from crmsync.sim.zoho_crm.store import CrmStore

WINDOW_MINUTES = 24 * 60
DEFAULT_CONCURRENCY = 10
DEFAULT_DAILY_CREDITS = 5_000_000
ROUTE_COSTS = {"deleted": 2, "convert": 5}
"""Credits of a call by the last segment of its route (everything else costs 1)."""


def _minute() -> int:
    return int(time.time() // 60)


@dataclass
class Limits:
    store: CrmStore
    concurrency: int = DEFAULT_CONCURRENCY
    daily_credits: int = DEFAULT_DAILY_CREDITS
    hold_ms: float = 0.0
    """Extra time each API call keeps its concurrency slot (to test the limit)."""
    active: int = 0

    @classmethod
    def load(cls, store: CrmStore) -> Limits:
        return cls(
            store=store,
            concurrency=int(store.meta_default("limits.concurrency", str(DEFAULT_CONCURRENCY))),
            daily_credits=int(
                store.meta_default("limits.daily_credits", str(DEFAULT_DAILY_CREDITS))
            ),
        )

    def used(self) -> int:
        return self.store.credits_used_since(_minute() - WINDOW_MINUTES + 1)

    def charge(self, credits: int) -> None:
        if credits > 0:
            self.store.add_credits(_minute(), credits)

    def describe(self) -> dict[str, int | float]:
        used = self.used()
        return {
            "daily_limit": self.daily_credits,
            "used": used,
            "remaining": max(0, self.daily_credits - used),
            "window_seconds": WINDOW_MINUTES * 60,
            "concurrency_limit": self.concurrency,
            "active_requests": self.active,
            "hold_ms": self.hold_ms,
        }


def base_cost(request: web.Request) -> int:
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    return ROUTE_COSTS.get(last, 1)


def charge_records(request: web.Request, records: int) -> None:
    """Writes cost 1 credit per 10 records; the middleware already charged the first."""
    ctx(request).limits.charge(max(0, math.ceil(records / 10) - 1))


async def within_limits(request: web.Request) -> None:
    """Enter the concurrency slot and charge the call's credits, or raise the 429."""
    limits = ctx(request).limits
    if limits.active >= limits.concurrency:
        raise ZohoError(
            429,
            "TOO_MANY_REQUESTS",
            "The number of concurrent requests has exceeded the allowed limit",
            {"limit": limits.concurrency},
        )
    cost = base_cost(request)
    if limits.used() + cost > limits.daily_credits:
        raise ZohoError(
            429,
            "LIMIT_REACHED",
            "API credits limit reached for the day",
            {"limit": limits.daily_credits},
        )
    limits.charge(cost)


async def hold_slot(request: web.Request) -> None:
    limits = ctx(request).limits
    if limits.hold_ms:
        await asyncio.sleep(limits.hold_ms / 1000)


async def admin_credits(request: web.Request) -> web.Response:
    return web.json_response(ctx(request).limits.describe())


async def admin_reset_credits(request: web.Request) -> web.Response:
    limits = ctx(request).limits
    limits.store.reset_credits()
    return web.json_response(limits.describe())


async def admin_set_limits(request: web.Request) -> web.Response:
    limits = ctx(request).limits
    body = await request.json()
    if "concurrency" in body:
        limits.concurrency = int(body["concurrency"])
        limits.store.set_meta("limits.concurrency", str(limits.concurrency))
    if "daily_credits" in body:
        limits.daily_credits = int(body["daily_credits"])
        limits.store.set_meta("limits.daily_credits", str(limits.daily_credits))
    if "hold_ms" in body:
        limits.hold_ms = float(body["hold_ms"])
    return web.json_response(limits.describe())
