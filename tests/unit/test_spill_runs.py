"""A run's containers on disk (:mod:`crmsync.runtime.spill`) read like dicts and sets, and
a run plans the same wherever they live."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.plan import Action
from crmsync.engine.records import CrmRecord, Member, MemberStatus
from crmsync.runtime import spill
from crmsync.runtime.spill import RunStore, SpillDict, SpillingMemory, SpillSet
from crmsync.runtime.sync import RunRequest, RunResult, SyncRun
from tests.unit.test_plan import member, record, settings
from tests.unit.test_sync_crm_opt_outs import FakeCrm, FakeTarget


def test_a_dict_moves_to_disk_past_its_limit_and_reads_the_same() -> None:
    keys = [f"k{i:02}" for i in range(20)]
    random.Random(7).shuffle(keys)
    spilled: SpillDict[str] = SpillDict(RunStore(), 5, pickled=False)
    for key in keys[:5]:
        spilled[key] = key.upper()
    assert not spilled.on_disk
    for key in keys[5:]:
        spilled[key] = key.upper()
    assert spilled.on_disk
    assert len(spilled) == 20
    assert list(spilled) == sorted(keys)
    assert list(spilled.items()) == [(k, k.upper()) for k in sorted(keys)]
    assert list(spilled.values()) == [k.upper() for k in sorted(keys)]
    spilled["k03"] = "again"
    assert spilled["k03"] == "again" and spilled.get("nope") is None and "k03" in spilled
    assert spilled.pop("k03") == "again" and "k03" not in spilled
    assert spilled.pop("k03", None) is None
    with pytest.raises(KeyError):
        del spilled["k03"]
    assert spilled.setdefault("k04", "other") == "K04"
    assert len(spilled) == 19


def test_writes_not_yet_inserted_are_read_like_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "BATCH", 1_000)
    spilled: SpillDict[Action] = SpillDict(RunStore(), 0)
    action = Action(kind="add", email="a@x.io", reason="new_record")  # type: ignore[arg-type]
    spilled["a@x.io"] = action
    spilled["b@x.io"] = action
    assert spilled.on_disk and spilled["b@x.io"] == action and "a@x.io" in spilled
    del spilled["b@x.io"]
    assert "b@x.io" not in spilled and list(spilled.items()) == [("a@x.io", action)]


def test_a_set_moves_to_disk_too() -> None:
    seen = SpillSet(RunStore(), 2)
    for key in ("c", "a", "b", "a"):
        seen.add(key)
    assert len(seen) == 3 and list(seen) == ["a", "b", "c"] and "b" in seen
    seen.discard("b")
    seen.discard("zz")
    assert "b" not in seen and len(seen) == 2


def test_the_audience_on_disk_finds_a_member_by_its_record_link() -> None:
    memory = SpillingMemory(limit=1)
    audience = memory.members("CRMID")
    for m in (member("a@x.io", "1"), member("b@x.io"), member("c@x.io", "1")):
        audience[m.email] = m
    audience["a@x.io"] = member("a@x.io", "1", FNAME="Ann")  # an update keeps its place
    links = memory.record_links(audience, "CRMID")
    assert links.get("Leads:1") == "c@x.io"  # the last one listed wins, as in a dict
    assert links.get("Leads:2") is None
    assert audience["a@x.io"].values["FNAME"] == "Ann"
    small = {m.email: m for m in (member("a@x.io", "1"), member("c@x.io", "1"))}
    assert SpillingMemory(limit=5).record_links(small, "CRMID") == {"Leads:1": "c@x.io"}


def test_a_large_audience_given_as_a_dict_moves_to_disk() -> None:
    observed = {m.email: m for m in (member("a@x.io", "1"), member("b@x.io", "2"))}
    moved = SpillingMemory(limit=1).audience(observed, "CRMID")
    assert isinstance(moved, SpillDict) and moved.on_disk and dict(moved.items()) == observed
    assert SpillingMemory(limit=2).audience(observed, "CRMID") is observed


@dataclass
class Scenario:
    records: list[CrmRecord]
    members: list[Member]


def scenario(size: int) -> Scenario:
    """Records and members of every kind a full run meets: new, changed, unchanged,
    duplicates, bad emails, opted out, moved emails, members of deleted records."""
    rng = random.Random(size)
    records: list[CrmRecord] = []
    members: list[Member] = []
    for i in range(size):
        email = f"p{rng.randrange(size)}@x.io"
        roll = rng.random()
        if roll < 0.05:
            email = "not-an-email"
        values: dict[str, Any] = {"First_Name": f"F{i}", "Last_Name": "L"}
        if roll > 0.95:
            values["Email_Opt_Out"] = True
        records.append(record(str(i + 1), email, **values))
        if rng.random() < 0.5:
            link = rng.random()
            # Most are this record's, some a deleted record's, some no record's.
            rid = str(i + 1) if link < 0.7 else str(size + i) if link < 0.9 else None
            status = MemberStatus.UNSUBSCRIBED if rng.random() < 0.1 else MemberStatus.SUBSCRIBED
            first = f"F{i}" if rng.random() < 0.5 else "F"
            address = f"m{i}@x.io" if roll < 0.3 else email
            members.append(member(address, rid, status, FNAME=first, LNAME="L"))
    return Scenario(records, list({m.email: m for m in members}.values()))


def full_run(case: Scenario, spill_after: int | None, **spec: Any) -> RunResult:
    s = settings(**spec)
    request = RunRequest(
        s,
        "L1",
        Checkpoint(mapping_hash=s.mapping_hash),
        True,
        dry_run=True,
        spill_after=spill_after,
    )
    crm = FakeCrm({r.id: r for r in case.records})
    target = FakeTarget(case.members)
    return asyncio.run(SyncRun(crm, target, request).execute())  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["Mirror", "Upsert"])
def test_a_full_run_plans_the_same_in_memory_and_on_disk(mode: str) -> None:
    case = scenario(400)
    runs = [full_run(case, limit, syncMode=mode) for limit in (None, 0, 37)]
    first = runs[0]
    assert len(first.planned) > 400
    for other in runs[1:]:
        assert other.planned == first.planned
        assert other.tally == first.tally
        assert other.members == first.members
        assert sorted(other.taking_part) == sorted(first.taking_part)


def test_a_member_on_disk_comes_back_whole() -> None:
    assert tuple(f.name for f in fields(Member)) == spill.MEMBER_FIELDS
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    whole = Member(
        "a@x.io",
        MemberStatus.CLEANED,
        {"CRMID": "Leads:1", "FNAME": "Ann"},
        frozenset({"crm", "vip"}),
        in_list=False,
        last_changed=at,
        opted_in_at=at.astimezone(timezone(timedelta(hours=2))),
        removed_by_sync=True,
        owners=frozenset({"sync-a"}),
    )
    audience = SpillingMemory(limit=0).members("CRMID")
    audience[whole.email] = whole
    audience["b@x.io"] = bare = Member("b@x.io", MemberStatus.SUBSCRIBED, {})
    assert audience.on_disk and dict(audience.items()) == {"a@x.io": whole, "b@x.io": bare}
    assert audience["a@x.io"].opted_in_at == whole.opted_in_at
