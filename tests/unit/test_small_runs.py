"""Incremental runs read only the members their changes concern (runtime.smallrun)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from crmsync.engine.records import CrmRecord, Member, MemberStatus
from crmsync.runtime.smallrun import observe_incremental, prefetch
from tests.unit.test_plan import settings

SINCE = datetime(2026, 6, 1, tzinfo=UTC)


class Audience:
    reads_by_email = True

    def __init__(self, *emails: str) -> None:
        self.held = {e: Member(e, MemberStatus.SUBSCRIBED, {}) for e in emails}
        self.looked_up: list[str] = []
        self.listed = 0

    async def members_by_email(self, audience: str, emails: Sequence[str]) -> list[Member]:
        self.looked_up += emails
        return [self.held[e] for e in emails if e in self.held]

    async def members(
        self, audience: str, *, changed_since: datetime | None = None
    ) -> AsyncIterator[list[Member]]:
        if False:
            yield []

    async def list_all(self) -> dict[str, Member]:
        self.listed += 1
        return dict(self.held)


def record(rid: str, email: str, created: datetime) -> CrmRecord:
    return CrmRecord(rid, created, {"Email": email, "Created_Time": created.isoformat()})


def observe(
    target: Audience, records: list[CrmRecord], *, needs_listing: bool = False
) -> dict[str, Member]:
    result = asyncio.run(
        observe_incremental(
            target,  # type: ignore[arg-type]
            "L1",
            settings(),
            [records] if records else [],
            complete=True,
            since=SINCE,
            needs_listing=needs_listing,
            list_all=target.list_all,
        )
    )
    return result.observed


def test_a_quiet_run_reads_no_member() -> None:
    target = Audience("a@x.io")
    assert observe(target, []) == {}
    assert (target.looked_up, target.listed) == ([], 0)


def test_a_changed_record_reads_only_its_member() -> None:
    target = Audience("a@x.io", "b@x.io")
    observed = observe(target, [record("1", "A@x.io", SINCE - timedelta(days=9))])
    assert set(observed) == {"a@x.io"}
    assert (target.looked_up, target.listed) == (["a@x.io"], 0)


def test_a_new_record_without_member_needs_no_listing() -> None:
    target = Audience()
    assert observe(target, [record("1", "new@x.io", SINCE + timedelta(minutes=1))]) == {}
    assert target.listed == 0


def test_an_older_record_without_member_may_have_changed_its_email() -> None:
    target = Audience("old@x.io")
    observed = observe(target, [record("1", "moved@x.io", SINCE - timedelta(days=1))])
    assert target.listed == 1 and set(observed) == {"old@x.io"}


def test_deletions_and_retries_list_the_audience() -> None:
    target = Audience("a@x.io")
    observe(target, [], needs_listing=True)
    assert target.listed == 1


def test_prefetch_stops_past_the_limit() -> None:
    async def pages() -> AsyncIterator[list[CrmRecord]]:
        for i in range(5):
            yield [record(str(i), f"{i}@x.io", SINCE)] * 100

    read, complete = asyncio.run(prefetch(pages(), 200))
    assert (len(read), complete) == (3, False)
