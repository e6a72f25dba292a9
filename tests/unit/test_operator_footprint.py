"""What each sync keeps and costs per pass (issue 14 benchmark: many syncs, one operator):
a daemon's kept status patch, Connection models shared by their syncs, httpcore's
optional sniffio import answered from memory, one audience field read per field check,
freed memory handed back to the system, full runs beyond a limit waiting their turn."""

from __future__ import annotations

import asyncio
import importlib
import platform
import sys
from typing import Any

import pytest

from crmsync import memtrim
from crmsync.absent_modules import remember_absent
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.engine.records import CrmField
from crmsync.engine.settings import SyncSettings
from crmsync.reconcile.fullruns import FULL_RUNS_AT_ONCE, run_turn
from crmsync.reconcile.live import LiveObject, without_managed_fields
from crmsync.reconcile.resolve import check_fields, parsed_connection

MANAGED = [{"manager": "crmsync-operator", "operation": "Update", "fieldsV1": {"f:status": {}}}]


def body(version: str, status: dict[str, Any], managed: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "s", "namespace": "n", "resourceVersion": version}
    if managed:
        meta["managedFields"] = MANAGED
    return {"apiVersion": "v", "kind": "ContactSync", "metadata": meta, "spec": {}, "status": status}  # fmt: skip


class Patched(LiveObject):
    plural = "contactsyncs"

    def __init__(self, live: dict[str, Any]) -> None:
        self.live_body = live
        self.written = None


def test_the_kept_patch_answer_leaves_managed_fields_out() -> None:
    answer = body("7", {"x": 1}, managed=True)
    kept = without_managed_fields(answer)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["resourceVersion"] == "7"
    assert kept["status"] == {"x": 1}
    assert "managedFields" in answer["metadata"]  # the caller's object is not changed
    plain = body("7", {})
    assert without_managed_fields(plain) is plain


def test_the_patch_answer_is_used_until_kopf_catches_up_then_dropped() -> None:
    obj = Patched(body("5", {"phase": "old"}))
    obj.written = body("6", {"phase": "new"})
    assert obj.snapshot()["status"] == {"phase": "new"}
    assert obj.written is not None
    obj.live_body = body("6", {"phase": "new"})
    assert obj.snapshot()["status"] == {"phase": "new"}
    assert obj.written is None  # kopf's view is as new: no second copy kept


def connection_body(version: str, provider: str = "mailchimp") -> dict[str, Any]:
    return {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": "mc", "namespace": "ns", "resourceVersion": version},
        "spec": {"provider": provider, "credentialsSecretRef": {"name": "mc"}},
    }


def test_a_connection_body_is_parsed_once_for_all_its_syncs() -> None:
    first = connection_body("1")
    model = parsed_connection(first)
    assert parsed_connection(first) is model
    changed = connection_body("2", provider="zoho-crm")
    assert parsed_connection(changed).spec.provider == "zoho-crm"
    # An equal copy (a new read) is parsed again: identity, not equality, says unchanged.
    again = connection_body("2", provider="zoho-crm")
    assert parsed_connection(again) is not parsed_connection(changed)


class CountingFinder:
    """A meta path finder that only counts the searches it sees."""

    def __init__(self) -> None:
        self.searches = 0

    def find_spec(self, *_: Any) -> None:
        self.searches += 1


def test_an_absent_optional_module_fails_to_import_without_a_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "crmsync_no_such_module_for_tests"
    finder = CountingFinder()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    monkeypatch.delitem(sys.modules, name, raising=False)
    assert remember_absent((name,)) == [name]
    searched = finder.searches
    for _ in range(3):
        with pytest.raises(ImportError):
            importlib.import_module(name)
    assert finder.searches == searched  # answered from sys.modules, no path searched
    monkeypatch.delitem(sys.modules, name)


def test_an_installed_module_is_left_alone() -> None:
    assert remember_absent(("json",)) == []
    assert sys.modules["json"] is not None


class Fields:
    """The CRM's and the audience's field lists; counts the audience reads and creations."""

    def __init__(self, campaign: set[str]) -> None:
        self.campaign = set(campaign)
        self.reads = 0
        self.created: list[tuple[str, str]] = []

    async def fields(self, module: str) -> list[CrmField]:
        return [CrmField(name, "text") for name in ("Email", "First_Name", "Last_Name")]

    async def field_names(self, audience: str) -> set[str]:
        self.reads += 1
        return set(self.campaign)

    async def ensure_text_field(self, audience: str, name: str, label: str) -> None:
        if name not in await self.field_names(audience):
            self.campaign.add(name)
            self.created.append((name, label))


def mailchimp_settings() -> SyncSettings:
    spec = ContactSyncSpec.model_validate(
        {
            "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts"},
            "target": {"connectionRef": {"name": "mc"}, "listId": "L1"},
            "fieldMapping": [
                {"crmField": "First_Name", "campaignField": "FNAME"},
                {"crmField": "Last_Name", "campaignField": "LNAME"},
            ],
        }
    )
    return SyncSettings.resolve(spec, mapping=None, policy=None, target_provider="mailchimp")


async def test_a_field_check_reads_the_audience_fields_once() -> None:
    settings = mailchimp_settings()
    wanted = {settings.record_id_field, settings.fingerprint_field, "FNAME", "LNAME"} - {""}
    fields = Fields(wanted)
    await check_fields(fields, fields, settings, "L1", create_missing=True)  # type: ignore[arg-type]
    assert (fields.reads, fields.created) == (1, [])


async def test_missing_campaign_fields_are_still_created_with_their_labels() -> None:
    settings = mailchimp_settings()
    fields = Fields({"FNAME"})
    await check_fields(fields, fields, settings, "L1", create_missing=True)  # type: ignore[arg-type]
    created = dict(fields.created)
    assert created[settings.record_id_field] == "CRM record (crmsync)"
    assert created["LNAME"] == "LNAME"
    assert "FNAME" not in created
    if settings.fingerprint_field:
        assert created[settings.fingerprint_field] == "Last synced values (crmsync)"


def test_glibc_trim_is_found_and_callable_on_linux() -> None:
    trim = memtrim.glibc_trim()
    if sys.platform == "linux" and "glibc" in " ".join(platform.libc_ver()):
        assert trim is not None
        assert trim() in (0, 1)


async def test_freed_memory_is_trimmed_on_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memtrim, "glibc_trim", lambda: lambda: calls.append(1))
    task = asyncio.create_task(memtrim.trim_forever(every=0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    assert len(calls) >= 3


async def test_full_runs_beyond_the_limit_wait_their_turn_incremental_ones_never() -> None:
    running = {True: 0, False: 0}
    most = {True: 0, False: 0}

    async def one_run(full: bool) -> None:
        async with run_turn(full):
            running[full] += 1
            most[full] = max(most[full], running[full])
            await asyncio.sleep(0.01)
            running[full] -= 1

    runs = [one_run(full) for full in (True, False) for _ in range(FULL_RUNS_AT_ONCE + 10)]
    await asyncio.gather(*runs)
    assert most[True] == FULL_RUNS_AT_ONCE
    assert most[False] == FULL_RUNS_AT_ONCE + 10
