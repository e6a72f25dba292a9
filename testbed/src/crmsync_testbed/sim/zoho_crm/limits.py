"""API limits of the local Zoho CRM: concurrency per organisation and daily credits.

Both depend on the org's edition and user licences, a setting of the local server
(default: Standard with 200 licences, i.e. concurrency 10 and 100,000 credits, that
edition's maximum). Sources: https://www.zoho.com/crm/developer/docs/api/v8/api-limits.html,
Kaizen #93 "Credit Calculation and Concurrency in Zoho CRM APIs" and Kaizen #203
(https://help.zoho.com/portal/en/community/topic/kaizen-203-answering-your-questions-handling-api-limits-and-error-responses):

- credits per rolling 24 h: Free 5,000; Standard 50,000 + 250/licence (at most 100,000);
  Professional 50,000 + 500/licence (1,000,000); Enterprise 50,000 + 1,000/licence
  (2,000,000); Ultimate 50,000 + 2,000/licence (no maximum); plus add-on credits;
- 1 credit per call, 1 per 10 records written, 2 for deleted records, 5 for a lead
  conversion, 50 for a Bulk Read job (``POST /crm/bulk/v8/read``); a COQL call 1 up to
  LIMIT 200, 2 up to 1,000, 3 up to 2,000;
- concurrent calls per org: Free 5, Standard 10, Professional 15, Enterprise 20,
  Ultimate 25; one more gives HTTP 429 ``TOO_MANY_REQUESTS``.

Exhausted credits give HTTP 429 with the spec's ``LIMIT_REACHED`` code.

Admin: ``GET /_admin/zoho_crm/credits``, ``PUT /_admin/zoho_crm/limits``
(``{"edition", "users", "addon_credits", "concurrency", "daily_credits", "hold_ms"}``;
``concurrency`` and ``daily_credits`` override the edition's figures, ``null`` drops the
override), ``POST /_admin/zoho_crm/credits/reset``.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import ctx
from crmsync_testbed.sim.zoho_crm.errors import ZohoError
from crmsync_testbed.sim.zoho_crm.store import CrmStore

WINDOW_MINUTES = 24 * 60
ROUTE_COSTS = {"deleted": 2, "convert": 5, "read": 50}
"""Credits of a call by the last segment of its route (everything else costs 1)."""


@dataclass(frozen=True)
class Edition:
    concurrency: int
    base_credits: int
    credits_per_user: int
    max_credits: int | None

    def credits(self, users: int, addon: int) -> int:
        allowed = self.base_credits + users * self.credits_per_user
        if self.max_credits is not None:
            allowed = min(allowed, self.max_credits)
        return allowed + addon


EDITIONS: dict[str, Edition] = {
    "free": Edition(5, 5_000, 0, 5_000),
    "standard": Edition(10, 50_000, 250, 100_000),
    "professional": Edition(15, 50_000, 500, 1_000_000),
    "enterprise": Edition(20, 50_000, 1_000, 2_000_000),
    "ultimate": Edition(25, 50_000, 2_000, None),
}
DEFAULT_EDITION = "standard"
DEFAULT_USERS = 200
_SETTINGS = ("edition", "users", "addon_credits", "concurrency_override", "credits_override")


def _minute() -> int:
    return int(time.time() // 60)


@dataclass
class Limits:
    store: CrmStore
    edition: str = DEFAULT_EDITION
    users: int = DEFAULT_USERS
    addon_credits: int = 0
    concurrency_override: int | None = None
    credits_override: int | None = None
    hold_ms: float = 0.0
    """Extra time each API call keeps its concurrency slot (to test the limit)."""
    active: int = 0

    @classmethod
    def load(cls, store: CrmStore) -> Limits:
        limits = cls(store=store)
        for name in _SETTINGS:
            raw = store.get_meta(f"limits.{name}")
            if raw:
                setattr(limits, name, raw if name == "edition" else int(raw))
        return limits

    def save(self) -> None:
        for name in _SETTINGS:
            value = getattr(self, name)
            self.store.set_meta(f"limits.{name}", "" if value is None else str(value))

    @property
    def concurrency(self) -> int:
        if self.concurrency_override is not None:
            return self.concurrency_override
        return EDITIONS[self.edition].concurrency

    @property
    def daily_credits(self) -> int:
        if self.credits_override is not None:
            return self.credits_override
        return EDITIONS[self.edition].credits(self.users, self.addon_credits)

    def used(self) -> int:
        return self.store.credits_used_since(_minute() - WINDOW_MINUTES + 1)

    def charge(self, credits: int) -> None:
        if credits > 0:
            self.store.add_credits(_minute(), credits)

    def describe(self) -> dict[str, int | float | str]:
        used = self.used()
        return {
            "edition": self.edition,
            "users": self.users,
            "addon_credits": self.addon_credits,
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
    charge_extra(request, math.ceil(records / 10) - 1)


def charge_extra(request: web.Request, credits: int) -> None:
    """Credits a call costs beyond the one the middleware charged (a COQL LIMIT over 200)."""
    ctx(request).limits.charge(max(0, credits))


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
    edition = str(body.get("edition", limits.edition)).lower()
    if edition not in EDITIONS:
        return web.json_response(
            {"error": f"edition must be one of {', '.join(EDITIONS)}"}, status=400
        )
    limits.edition = edition
    for key, attribute in (("users", "users"), ("addon_credits", "addon_credits")):
        if key in body:
            setattr(limits, attribute, int(body[key]))
    for key, attribute in (
        ("concurrency", "concurrency_override"),
        ("daily_credits", "credits_override"),
    ):
        if key in body:
            setattr(limits, attribute, None if body[key] is None else int(body[key]))
    if "hold_ms" in body:
        limits.hold_ms = float(body["hold_ms"])
    limits.save()
    return web.json_response(limits.describe())
