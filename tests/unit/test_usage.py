from __future__ import annotations

from crmsync.reconcile.usage import UsageLedger, utc_day


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def request_done(self, vendor: str, method: str, path: str, status_class: str) -> None:
        self.calls.append((vendor, status_class))

    def retry_scheduled(self, vendor: str, reason: str, delay: float) -> None:
        self.calls.append((vendor, reason))


def test_requests_are_counted_per_connection_and_forwarded() -> None:
    ledger, inner = UsageLedger(), Recorder()
    run = ledger.observer({"zoho-crm": ("ns", "crm"), "mailchimp": ("ns", "mc")}, inner)
    run.request_done("zoho-crm", "GET", "/crm/v8/Contacts", "2xx")
    run.request_done("mailchimp", "POST", "/3.0/lists/x", "4xx")
    run.retry_scheduled("mailchimp", "rate_limited", 1.0)
    run.retry_scheduled("mailchimp", "server_error", 1.0)
    assert ledger.today(("ns", "crm")).requests == 1
    assert (ledger.today(("ns", "mc")).requests, ledger.today(("ns", "mc")).rate_limited) == (1, 1)
    assert len(inner.calls) == 4, "metrics still see every call"


def test_a_restart_keeps_the_days_count_but_not_yesterdays() -> None:
    ledger = UsageLedger()
    ledger.restore(("ns", "crm"), {"day": utc_day(), "requests": 120, "rateLimited": 3})
    ledger.restore(("ns", "old"), {"day": "2001-01-01", "requests": 999})
    assert ledger.today(("ns", "crm")).requests == 120
    assert ledger.today(("ns", "old")).requests == 0
    assert ledger.today(("ns", "crm")).as_quota().to_wire()["rateLimited"] == 3
