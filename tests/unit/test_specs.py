"""The pinned vendor specs (hack/specs.lock): complete, and what the specs folder holds."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests import specs


def test_lock_entries_are_pinned_to_a_commit() -> None:
    entries = specs.pinned()
    assert len({e.path for e in entries}) == len(entries)
    for entry in entries:
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
        assert re.search(r"/[0-9a-f]{40}/", entry.url), f"{entry.url} names no commit"


def test_unset_setting_means_shared_beside_the_repository(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(specs.ENV, raising=False)
    assert specs.specs_dir() == specs.REPO.parent / "shared" / "specs"


def test_missing_specs_skip_with_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(specs, "DEFAULT", tmp_path)
    monkeypatch.delenv(specs.ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"bash hack/fetch-specs\.sh"):
        specs.require("zoho-crm")
    monkeypatch.setenv(specs.ENV, str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=specs.ENV):
        specs.require("mailchimp")


@pytest.mark.parametrize("folder", ["zoho-crm", "mailchimp"])
def test_specs_folder_matches_the_lock(folder: str) -> None:
    base = specs.require(folder).parent
    for entry in specs.pinned():
        if entry.path.startswith(f"{folder}/"):
            digest = hashlib.sha256((base / entry.path).read_bytes()).hexdigest()
            assert digest == entry.sha256, entry.path


def test_every_zoho_crm_ref_is_pinned() -> None:
    folder = specs.require("zoho-crm")
    names = {
        e.path.removeprefix("zoho-crm/") for e in specs.pinned() if e.path.startswith("zoho-crm/")
    }
    for name in names:
        text = (folder / name).read_text()
        json.loads(text)
        referenced = set(re.findall(r"crm-oas/refs/heads/main/v8\.0/([\w.]+\.json)#", text))
        assert referenced <= names, f"{name} refers to unpinned {referenced - names}"
