"""What each sync keeps and costs per pass (issue 14 benchmark: many syncs, one operator):
a daemon's kept status patch, Connection models shared by their syncs, and httpcore's
optional sniffio import answered from memory."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest

from crmsync.absent_modules import remember_absent
from crmsync.reconcile.live import LiveObject, without_managed_fields
from crmsync.reconcile.resolve import parsed_connection

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
