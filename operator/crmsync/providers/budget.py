"""One request budget per vendor account: every client of a Connection shares it.

A Connection's ``rateLimit`` (requests in flight, requests per second) is the account's
budget, not each run's: twenty syncs on one Zoho org must stay under the org's
concurrency limit together, not twenty times over. Clients opened for the same
Connection (and the same limits) in one event loop draw from one semaphore and one token
bucket; clients without a Connection (CLI, tests, benchmarks) get their own.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from crmsync.providers.http import Limits, TokenBucket


@dataclass
class Budget:
    limits: Limits
    in_flight: asyncio.Semaphore = field(init=False)
    pace: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        self.in_flight = asyncio.Semaphore(self.limits.max_concurrency)
        self.pace = TokenBucket(self.limits.requests_per_second)


_BUDGETS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str, int, float], Budget]
] = weakref.WeakKeyDictionary()


def account_budget(connection: str, vendor: str, limits: Limits) -> Budget:
    """The shared budget of ``connection``'s account at ``vendor``; a new one when the
    Connection's limits changed."""
    if not connection:
        return Budget(limits)
    budgets = _BUDGETS.setdefault(asyncio.get_running_loop(), {})
    key = (connection, vendor, limits.max_concurrency, limits.requests_per_second)
    for old in [k for k in budgets if k[:2] == key[:2] and k != key]:
        del budgets[old]
    if key not in budgets:
        budgets[key] = Budget(limits)
    return budgets[key]
