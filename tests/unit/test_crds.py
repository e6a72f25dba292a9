"""The checked-in crds/ are exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.api import crdgen
from crmsync.api.v1alpha1 import KINDS, ContactSync
from tests.conftest import REPO


def test_checked_in_crds_are_fresh() -> None:
    assert crdgen.main_crds(REPO / "crds", check=True) == 0, "run `crmsync crds`"


def test_check_detects_a_model_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in crdgen.render_all().items():
        (tmp_path / name).write_text(text)
    assert crdgen.main_crds(tmp_path, check=True) == 0
    original = ContactSync.model_json_schema

    def changed(*args: object, **kwargs: object) -> dict[str, object]:
        schema = original(*args, **kwargs)  # type: ignore[arg-type]
        schema["description"] = "a changed model"
        return schema

    monkeypatch.setattr(ContactSync, "model_json_schema", changed)
    assert crdgen.main_crds(tmp_path, check=True) == 1


def _walk(schema: object, path: str = "") -> list[tuple[str, dict[str, object]]]:
    nodes: list[tuple[str, dict[str, object]]] = []
    if isinstance(schema, dict):
        nodes.append((path, schema))
        for key, sub in schema.get("properties", {}).items():
            nodes += _walk(sub, f"{path}.{key}")
        if isinstance(schema.get("items"), dict):
            nodes += _walk(schema["items"], f"{path}[]")
    return nodes


@pytest.mark.parametrize("model", KINDS, ids=[k.kind_info.kind for k in KINDS])
def test_schema_is_structural_and_documented(model: type) -> None:
    schema = crdgen.crd_for(model)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        assert "type" in node, f"{path} has no type"
        if path.startswith((".spec", ".status")) and path.count(".") > 1:
            assert node.get("description") or path.endswith("[]"), f"{path} has no description"
