"""CRM notifications wake only the syncs they concern (issue 14.3)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from crmsync.engine.records import CrmRecord
from crmsync.reconcile.routing import HeldRecords, SharedReads, concerns
from crmsync.webhook import UNKNOWN_IDS
from tests.unit.test_plan import settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GERMANY = settings(crm={"criteria": [{"field": "Country", "operator": "in", "values": ["DE"]}]})


def record(rid: str, country: str) -> CrmRecord:
    return CrmRecord(rid, T0, {"Email": f"{rid}@x.io", "Country": country})


def test_a_record_in_the_criteria_or_held_concerns_the_sync() -> None:
    records = {"1": record("1", "DE"), "2": record("2", "FR")}
    assert concerns(GERMANY, set(), ["1"], records)
    assert not concerns(GERMANY, set(), ["2"], records)
    assert concerns(GERMANY, {"2"}, ["2"], records)  # it may have left the criteria


def test_unknown_holdings_and_unknown_ids_always_run() -> None:
    assert concerns(GERMANY, None, ["2"], {"2": record("2", "FR")})
    assert concerns(GERMANY, set(), [UNKNOWN_IDS], {})
    assert not concerns(GERMANY, set(), ["9"], {})  # deleted, never held


def test_holdings_follow_the_runs() -> None:
    held = HeldRecords()
    held.after_run(False, {"1"}, set())
    assert held.ids is None  # not known before a full comparison
    held.after_run(True, {"1", "2"}, set())
    held.after_run(False, {"3"}, {"1"})
    assert held.ids == {"2", "3"}


class Crm:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str]]] = []

    async def records_by_id(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        self.calls.append((list(ids), list(fields)))
        await asyncio.sleep(0.01)
        return [record(i, "DE") for i in ids if i != "gone"]


def test_syncs_notified_together_read_the_records_once() -> None:
    crm, reads = Crm(), SharedReads()

    async def notified() -> list[dict[str, CrmRecord]]:
        return await asyncio.gather(
            *(
                reads.records(crm, "ns/crm", "Contacts", ["1", "gone"], ["Country", "Email"])  # type: ignore[arg-type]
                for _ in range(50)
            )
        )

    answers = asyncio.run(notified())
    assert len(crm.calls) == 1
    assert all(set(a) == {"1"} for a in answers)

    async def wider() -> None:
        await reads.records(crm, "ns/crm", "Contacts", ["1"], ["Lead_Source"])  # type: ignore[arg-type]

    asyncio.run(wider())
    assert crm.calls[-1] == (["1"], ["Country", "Email", "Lead_Source"])
