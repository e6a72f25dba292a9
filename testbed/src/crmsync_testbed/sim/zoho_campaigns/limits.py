"""Zoho Campaigns' per-method API limits and their lock periods.

Each method page states a limit as "Duration / Number of Calls / Lock Period": after too
many calls in the window, *that method* is locked for the lock period while other methods
keep working. The table below copies those figures; tests shrink them through
``PUT /_admin/zoho_campaigns/rate_limits``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


class Limit(BaseModel):
    """``calls`` per ``window_seconds``; once exceeded, the method is locked ``lock_seconds``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int = Field(ge=1)
    window_seconds: float = Field(gt=0)
    lock_seconds: float = Field(ge=0)


def _every(calls: int, window: float, lock: float) -> tuple[Limit, ...]:
    return (Limit(calls=calls, window_seconds=window, lock_seconds=lock),)


FIVE_MIN_500_LOCK_30 = _every(500, 5 * MINUTE, 30 * MINUTE)

DOCUMENTED_LIMITS: dict[str, tuple[Limit, ...]] = {
    # https://www.zoho.com/campaigns/help/developers/contact-subscribe.html
    "listsubscribe": (
        Limit(calls=500, window_seconds=MINUTE, lock_seconds=30 * MINUTE),
        Limit(calls=12_500, window_seconds=HOUR, lock_seconds=30 * MINUTE),
        Limit(calls=75_000, window_seconds=DAY, lock_seconds=30 * MINUTE),
    ),
    # https://www.zoho.com/campaigns/help/developers/add-contacts-existing-list.html
    "addlistsubscribersinbulk": _every(2_000, MINUTE, 10 * MINUTE),
    # https://www.zoho.com/campaigns/help/developers/create-custom-field.html (and allfields)
    "custom/add": _every(100, 5 * MINUTE, 30 * MINUTE),
    "contact/allfields": _every(100, 5 * MINUTE, 30 * MINUTE),
}
"""Methods not named here have the most common documented limit: 500 calls / 5 min, 30 min lock."""


def documented_limits(method: str) -> tuple[Limit, ...]:
    return DOCUMENTED_LIMITS.get(method, FIVE_MIN_500_LOCK_30)


@dataclass
class _Window:
    started: float
    calls: int = 0


@dataclass
class RateLimiter:
    """Fixed-window counters per (method, limit) and a lock deadline per method."""

    clock: Callable[[], float] = time.monotonic
    overrides: dict[str, tuple[Limit, ...]] = field(default_factory=dict)
    _windows: dict[tuple[str, int], _Window] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def limits(self, method: str) -> tuple[Limit, ...]:
        return self.overrides.get(method) or documented_limits(method)

    def acquire(self, method: str) -> float | None:
        """Count one call; ``None`` if allowed, else the seconds the method stays locked."""
        now = self.clock()
        locked_until = self._locked_until.get(method, 0.0)
        if now < locked_until:
            return locked_until - now
        for index, limit in enumerate(self.limits(method)):
            window = self._windows.get((method, index))
            if window is None or now - window.started >= limit.window_seconds:
                window = self._windows[(method, index)] = _Window(started=now)
            window.calls += 1
            if window.calls > limit.calls:
                self._locked_until[method] = now + limit.lock_seconds
                self._windows.pop((method, index))
                return limit.lock_seconds
        return None

    def configure(self, overrides: dict[str, tuple[Limit, ...]]) -> None:
        """Replace the overrides and forget every window and lock."""
        self.overrides = dict(overrides)
        self._windows.clear()
        self._locked_until.clear()
