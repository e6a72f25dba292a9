"""Generate apiextensions.k8s.io/v1 CRDs from the pydantic models (``crmsync crds``).

The models are the only place a field, description, default, enum or CEL rule is
written. This module turns pydantic's JSON Schema into a Kubernetes *structural*
schema: ``$ref`` inlined, ``Optional`` collapsed, titles and ``additionalProperties:
false`` dropped (the API server prunes unknown fields instead).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from crmsync.api.v1alpha1 import GROUP, KINDS, VERSION, Resource

JsonSchema = dict[str, Any]


def _collapse_optional(schema: JsonSchema) -> JsonSchema:
    """``anyOf: [X, {type: null}]`` → X (absent means "not set" in Kubernetes)."""
    variants = schema.get("anyOf")
    if not variants:
        return schema
    non_null = [v for v in variants if v.get("type") != "null"]
    if len(non_null) != 1:
        raise ValueError(f"unions are not structural: {schema}")
    merged = {k: v for k, v in schema.items() if k != "anyOf"}
    if merged.get("default", ...) is None:
        del merged["default"]
    return {**non_null[0], **merged}


def to_structural(schema: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Recursively inline refs and normalise one schema node."""
    schema = dict(schema)
    ref = schema.pop("$ref", None)
    if ref is not None:
        target = defs[ref.removeprefix("#/$defs/")]
        # The field's own keywords (description, default) win over the definition's.
        schema = {**target, **schema}
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = {**schema.pop("allOf")[0], **schema}
    schema = _collapse_optional(schema)
    if "$ref" in schema or "anyOf" in schema:
        return to_structural(schema, defs)

    schema.pop("title", None)
    for bound in ("Minimum", "Maximum"):
        exclusive = schema.get(f"exclusive{bound}")
        if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
            schema[bound.lower()] = exclusive
            schema[f"exclusive{bound}"] = True
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    if isinstance(schema.get("description"), str):
        schema["description"] = " ".join(schema["description"].split())

    if "properties" in schema:
        schema.pop("additionalProperties", None)
        schema["properties"] = {
            name: to_structural(sub, defs) for name, sub in schema["properties"].items()
        }
    elif isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = to_structural(schema["additionalProperties"], defs)
    elif schema.get("type") == "object" and schema.get("additionalProperties") is False:
        del schema["additionalProperties"]
    if isinstance(schema.get("items"), dict):
        schema["items"] = to_structural(schema["items"], defs)
    return schema


def openapi_schema(model: type[Resource]) -> JsonSchema:
    raw = model.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    body = to_structural(raw, defs)
    properties = body["properties"]
    properties["apiVersion"] = {"type": "string", "description": "crmsync.dev/v1alpha1"}
    properties["kind"] = {"type": "string", "description": model.kind_info.kind}
    properties["metadata"] = {"type": "object"}
    for name in ("apiVersion", "kind"):
        properties[name].pop("default", None)
    if "status" in properties:
        # Read back with its defaults (observedGeneration 0) before the operator wrote any:
        # kstatus then waits for the operator instead of calling a new object Current.
        properties["status"]["default"] = {}
    return {
        "type": "object",
        "description": body.get("description", ""),
        "properties": properties,
        "required": ["spec"],
    }


def crd_for(model: type[Resource]) -> JsonSchema:
    info = model.kind_info
    version: JsonSchema = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": openapi_schema(model)},
    }
    if "status" in model.model_fields:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [
        {
            "name": col.name,
            "type": col.type,
            "jsonPath": col.json_path,
            **({"description": col.description} if col.description else {}),
            **({"priority": col.priority} if col.priority else {}),
        }
        for col in info.printer_columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{info.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.kind.lower(),
                "shortNames": list(info.short_names),
                "categories": list(info.categories),
            },
            "versions": [version],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Repeated lists are written out again, never as YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_all() -> dict[str, str]:
    """File name → YAML text, for every kind."""
    header = "# Generated by `crmsync crds` from operator/crmsync/api/v1alpha1. Do not edit.\n"
    return {
        f"{GROUP}_{model.kind_info.plural}.yaml": header
        + yaml.dump(
            crd_for(model), Dumper=_NoAliasDumper, sort_keys=False, width=1000, allow_unicode=True
        )
        for model in KINDS
    }


def main_crds(out: Path, *, check: bool = False) -> int:
    rendered = render_all()
    stale = [
        name
        for name, text in rendered.items()
        if not (out / name).exists() or (out / name).read_text() != text
    ]
    extra = (
        sorted(p.name for p in out.glob("*.yaml") if p.name not in rendered) if out.exists() else []
    )
    if check:
        for name in stale + extra:
            print(f"stale: {out / name} (run `crmsync crds`)", file=sys.stderr)
        return 1 if stale or extra else 0
    out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (out / name).write_text(rendered[name])
    for name in extra:
        (out / name).unlink()
    print(f"wrote {len(stale)} of {len(rendered)} CRDs to {out}")
    return 0
