"""Issue 15.1: the Zoho Campaigns record index spreads over several ConfigMaps, so lists of
100,000 members and more keep their record links. Entries go to shards by a stable hash of
the record key; a save writes only the shards whose keys changed; the shard count grows
(never shrinks) when a shard would not fit, crash-safely; the single-ConfigMap index of
earlier releases still loads."""

from __future__ import annotations

import asyncio
import base64
import gzip
import random
from typing import Any, cast

import pytest

from crmsync.engine.ownership import owner_id
from crmsync.engine.plan import Action, ActionKind, Reason
from crmsync.engine.records import WriteOutcome, WriteResult
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.reconcile.indexstore import load_index, save_index
from crmsync.reconcile.ownership import list_owners
from crmsync.runtime import indexlayout
from crmsync.runtime.indexcodec import (
    DATA_KEY,
    MAX_SHARD_BYTES,
    SHARD_BYTES_ENV,
    Shard,
    configmap_name,
    decode_shard,
    encode_shard,
    shard_of,
)
from crmsync.runtime.indexlayout import Layout, RecordIndexFullError, merge, plan_writes
from crmsync.runtime.recordindex import RecordIndex


def varied(count: int, seed: int = 7) -> dict[str, str]:
    """Record keys and addresses that compress about as badly as real ones."""
    rng = random.Random(seed)
    return {
        f"Contacts:{rng.getrandbits(60)}": f"{rng.getrandbits(48):x}.{i}@{rng.getrandbits(24):x}.com"
        for i in range(count)
    }


def reload(writes: list[tuple[int, dict[str, str]]]) -> RecordIndex:
    return RecordIndex.from_shards({n: decode_shard(n, data) for n, data in writes})


def added(index: RecordIndex, key: str, email: str) -> None:
    action = Action(ActionKind.ADD, email, Reason.NEW_RECORD, key.partition(":")[2])
    index.note(action, WriteResult(email, WriteOutcome.CREATED), key)


# --- pure: encoding, assignment, planning --------------------------------------------


def test_150000_varied_members_spread_over_shards_each_under_the_limit() -> None:
    entries = varied(150_000)
    plan = plan_writes(entries, {}, entries, Layout(), MAX_SHARD_BYTES)
    assert plan.count >= 4
    assert [n for n, _ in plan.writes] == list(range(plan.count - 1, -1, -1))  # shard 0 last
    for _, data in plan.writes:
        assert len(data[DATA_KEY]) <= MAX_SHARD_BYTES
    index = reload(plan.writes)
    assert index.entries == entries
    assert not index.dirty


def test_changing_one_entry_rewrites_one_shard() -> None:
    entries = varied(2_000)
    index = reload(plan_writes(entries, {}, entries, Layout(), 8_000).writes)
    assert index.layout.count >= 4
    added(index, "Contacts:42", "new@example.com")
    plan = plan_writes(index.entries, index.removed, index.changed, index.layout, 8_000)
    [(number, data)] = plan.writes
    assert number == shard_of("Contacts:42", index.layout.count)
    assert decode_shard(number, data).entries["Contacts:42"] == "new@example.com"


def test_shard_assignment_is_stable_and_a_doubled_layout_splits_each_shard() -> None:
    # Pinned: a different assignment in a later release would misread every stored index.
    assert [shard_of(f"Contacts:{i}", 8) for i in range(6)] == [4, 2, 0, 6, 5, 3]
    for key in varied(500):
        assert shard_of(key, 8) in (shard_of(key, 4), shard_of(key, 4) + 4)


def test_the_single_configmap_index_of_earlier_releases_loads_as_shard_0() -> None:
    text = "Contacts:1\ta@x.com\nContacts:2\tb@x.com\n!Leads:9\tc@x.com\n"
    old = {
        DATA_KEY: base64.b64encode(gzip.compress(text.encode())).decode(),
        "entries": "2",
    }
    index = RecordIndex.from_shards({0: decode_shard(0, old)})
    assert index.entries == {"Contacts:1": "a@x.com", "Contacts:2": "b@x.com"}
    assert index.removed == {"Leads:9": "c@x.com"}
    assert index.layout == Layout(1, {0: 1}) and not index.dirty

    # It grows like any other index: all shards written, the old name (shard 0) last.
    for key, email in varied(400).items():
        added(index, key, email)
    plan = plan_writes(index.entries, index.removed, index.changed, index.layout, 2_000)
    assert plan.count > 1 and plan.writes[-1][0] == 0
    grown = reload(plan.writes)
    assert (grown.entries, grown.removed) == (index.entries, index.removed)


def test_a_growth_cut_off_anywhere_reads_each_key_as_before_or_after() -> None:
    """The crash safety of the growth: after any prefix of its writes, each key reads as it
    was before the save or as it is after it (never a removed entry come back, never a
    lost one beyond the save's own changes), and the next save completes the layout."""
    before = varied(600, seed=1)
    stored = plan_writes(before, {}, before, Layout(), 4_000).writes
    index = reload(stored)
    old_count = index.layout.count
    gone = sorted(before)[:50]
    for key in gone:
        del index.entries[key]
        index.changed.add(key)
    moved = sorted(before)[50:60]
    for key in moved:
        added(index, key, f"moved.{key}@example.com")
    for key, email in varied(600, seed=2).items():
        added(index, key, email)
    after = dict(index.entries)
    plan = plan_writes(index.entries, index.removed, index.changed, index.layout, 4_000)
    assert plan.count > old_count

    configmaps = dict(stored)
    for written in range(len(plan.writes) + 1):
        state = dict(configmaps) | dict(plan.writes[:written])
        read: dict[int, Shard] = {0: decode_shard(0, state[0])}
        while wanted := indexlayout.to_read(read):
            read.update({n: decode_shard(n, state[n]) for n in wanted})
        seen = RecordIndex.from_shards(read)
        for key in before.keys() | after.keys():
            assert seen.entries.get(key) in (before.get(key), after.get(key)), (written, key)
        if written == len(plan.writes):
            assert seen.entries == after and not seen.dirty
        elif written > plan.count - old_count:  # an old shard already has the new layout
            assert seen.layout.count == plan.count and seen.dirty
            repair = plan_writes(seen.entries, {}, (), seen.layout, 4_000)
            assert {n for n, _ in repair.writes} == seen.layout.stale()
            assert reload(list((state | dict(repair.writes)).items())).entries == seen.entries
        else:  # only the new shards: readers still go by the old layout
            assert seen.entries == before


def test_merge_takes_each_key_from_the_largest_layout_that_covers_it() -> None:
    key = next(k for k in varied(100) if shard_of(k, 2) == 1 and shard_of(k, 4) == 3)
    old = Shard(1, 2, {key: "old@x.com"})
    assert merge([old]) == ({key: "old@x.com"}, {})
    assert merge([old, Shard(3, 4)]) == ({}, {})  # removed after the growth
    assert merge([old, Shard(3, 4, {}, {key: "old@x.com"})]) == ({}, {key: "old@x.com"})


def test_an_index_too_large_for_every_shard_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexlayout, "MAX_SHARDS", 4)
    entries = varied(3_000)
    with pytest.raises(RecordIndexFullError):
        plan_writes(entries, {}, entries, Layout(), 4_000)


def test_a_shard_names_its_layout() -> None:
    data = encode_shard(Shard(3, 4, {"Contacts:1": "a@x.com"}))
    assert (data["shards"], data["entries"]) == ("4", "1")
    for wrong in ("3", "0", str(2**40)):
        with pytest.raises(ValueError, match="power of two"):
            decode_shard(0, {**data, "shards": wrong})
    with pytest.raises(ValueError, match="shard 5"):
        decode_shard(5, data)


# --- the ConfigMaps --------------------------------------------------------------------


class FakeKube:
    """ConfigMaps and ContactSyncs as ``KubeApi`` sees them."""

    def __init__(self) -> None:
        self.configmaps: dict[tuple[str, str], dict[str, str]] = {}
        self.owners: dict[tuple[str, str], str] = {}
        self.applied: list[str] = []
        self.syncs: list[dict[str, Any]] = []

    async def get_configmap(self, namespace: str, name: str) -> dict[str, str]:
        try:
            return dict(self.configmaps[namespace, name])
        except KeyError:
            raise NotFoundError(name) from None

    async def apply_configmap(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, Any]
    ) -> None:
        self.configmaps[namespace, name] = dict(data)
        self.owners[namespace, name] = owner["metadata"]["uid"]
        self.applied.append(name)

    async def list_custom_everywhere(self, plural: str) -> list[dict[str, Any]]:
        assert plural == "contactsyncs"
        return self.syncs


def sync(name: str, list_id: str = "L1") -> dict[str, Any]:
    return {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": "ContactSync",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"target": {"listId": list_id}},
    }


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    monkeypatch.setenv(SHARD_BYTES_ENV, "200")  # a few dozen members fill several shards
    return FakeKube()


def members(prefix: str, count: int = 60) -> RecordIndex:
    index = RecordIndex()
    for i in range(count):
        added(index, f"Contacts:{i}", f"{prefix}.{i}@example.com")
    return index


def test_the_index_is_saved_to_owned_configmaps_and_read_back(fake: FakeKube) -> None:
    kube, owner = cast(KubeApi, fake), sync("news")

    async def scenario() -> None:
        assert await load_index(kube, "ns", "news") == RecordIndex()
        index = members("news")
        await save_index(kube, owner, index)
        count = index.layout.count
        assert count >= 4 and not index.dirty
        names = {configmap_name("news", n) for n in range(count)}
        assert set(fake.applied) == names and fake.applied[-1] == "news-record-index"
        assert {fake.owners["ns", n] for n in names} == {"uid-news"}

        loaded = await load_index(kube, "ns", "news")
        assert loaded.entries == index.entries and loaded.layout.count == count
        fake.applied.clear()
        key = next(k for k in index.entries if shard_of(k, count))
        del loaded.entries[key]
        loaded.changed.add(key)
        await save_index(kube, owner, loaded)
        assert fake.applied == [configmap_name("news", shard_of(key, count))]

    asyncio.run(scenario())


def test_an_unreadable_shard_reads_as_empty_and_is_written_again(fake: FakeKube) -> None:
    kube, owner = cast(KubeApi, fake), sync("news")

    async def scenario() -> None:
        index = members("news")
        await save_index(kube, owner, index)
        fake.configmaps["ns", "news-record-index-1"][DATA_KEY] = "not gzip"
        del fake.configmaps["ns", "news-record-index-2"]
        loaded = await load_index(kube, "ns", "news")
        lost = {k for k in index.entries if shard_of(k, index.layout.count) in (1, 2)}
        assert loaded.entries == {k: e for k, e in index.entries.items() if k not in lost}
        assert loaded.layout.stale() == {1, 2}
        fake.applied.clear()
        await save_index(kube, owner, loaded)
        assert sorted(fake.applied) == ["news-record-index-1", "news-record-index-2"]
        assert (await load_index(kube, "ns", "news")).entries == loaded.entries

    asyncio.run(scenario())


def test_other_syncs_claims_come_from_every_shard_of_their_index(fake: FakeKube) -> None:
    kube = cast(KubeApi, fake)
    fake.syncs = [sync("me"), sync("other"), sync("elsewhere", list_id="L2")]

    async def scenario() -> None:
        for name in ("other", "elsewhere"):
            index = members("shared")
            await save_index(kube, sync(name), index)
            assert index.layout.count >= 4
        owners = await list_owners(kube, sync("me"))
        claim = frozenset({owner_id("ns", "other")})
        assert owners == {f"shared.{i}@example.com": claim for i in range(60)}

    asyncio.run(scenario())
