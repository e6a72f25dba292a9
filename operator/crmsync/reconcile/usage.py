"""API usage per Connection per UTC day, shown in the Connection's status (Z15).

Every run's requests are attributed to the Connection whose client made them; a sync
whose CRM Connection has spent its ``rateLimit.dailyCreditBudget`` waits for the next day.
The ledger lives in the operator process and is restored from the Connection's status
after a restart, so a restart does not reset the day's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crmsync.api.v1alpha1.connection import Quota
from crmsync.providers.http import CallObserver

ConnectionKey = tuple[str, str]
"""(namespace, name) of a Connection."""


def utc_day(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%d")


@dataclass
class DailyUsage:
    day: str
    requests: int = 0
    rate_limited: int = 0

    def as_quota(self) -> Quota:
        return Quota(day=self.day, requests=self.requests, rate_limited=self.rate_limited)


class UsageLedger:
    def __init__(self) -> None:
        self._usage: dict[ConnectionKey, DailyUsage] = {}

    def today(self, key: ConnectionKey) -> DailyUsage:
        day = utc_day()
        usage = self._usage.get(key)
        if usage is None or usage.day != day:
            usage = self._usage[key] = DailyUsage(day)
        return usage

    def restore(self, key: ConnectionKey, quota: dict[str, Any] | None) -> None:
        """After a restart: take the day's count from the status when the ledger has none."""
        if not quota or quota.get("day") != utc_day():
            return
        usage = self.today(key)
        usage.requests = max(usage.requests, int(quota.get("requests") or 0))
        usage.rate_limited = max(usage.rate_limited, int(quota.get("rateLimited") or 0))

    def observer(self, by_vendor: dict[str, ConnectionKey], inner: CallObserver | None) -> RunUsage:
        return RunUsage(self, by_vendor, inner)


@dataclass
class RunUsage:
    """The observer one run's clients report to: counts per Connection, then the metrics."""

    ledger: UsageLedger
    by_vendor: dict[str, ConnectionKey]
    inner: CallObserver | None

    def request_done(self, vendor: str, method: str, path: str, status_class: str) -> None:
        if (key := self.by_vendor.get(vendor)) is not None:
            self.ledger.today(key).requests += 1
        if self.inner is not None:
            self.inner.request_done(vendor, method, path, status_class)

    def retry_scheduled(self, vendor: str, reason: str, delay: float) -> None:
        if reason == "rate_limited" and (key := self.by_vendor.get(vendor)) is not None:
            self.ledger.today(key).rate_limited += 1
        if self.inner is not None:
            self.inner.retry_scheduled(vendor, reason, delay)


LEDGER = UsageLedger()
