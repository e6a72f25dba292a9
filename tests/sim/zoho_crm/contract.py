"""Validation against Zoho's official v8 OpenAPI files (``zoho-crm/`` in the specs folder).

The folder is the one setting of ``tests/specs.py``; without the files the tests skip.

Their cross-file ``$ref``s name a raw GitHub prefix; the registry below serves those URLs
from the local folder. Three documented relaxations of the spec, each for a defect of the
spec itself (see docs/sim-zoho-crm.md, "Contract tests"):

1. ``oneOf`` is read as ``anyOf``: the spec's alternatives (``Response_Wrapper`` vs
   ``API_Exception``) declare no required keys, so any object matches both and a strict
   ``oneOf`` rejects every answer. Tests therefore name the branch they expect.
2. In fields.json and modules.json ``required`` is dropped: the generator marks every one
   of ~75 properties required, including objects Zoho's own samples answer as ``null``.
   bulk_read.json likewise: it requires a ``result`` of every job and a
   ``next_page_token`` of every result, and ``cvid``, ``page``, ``criteria`` and
   ``file_type`` of every query, where the job-details doc's samples show an ``ADDED`` job
   without a result, a last page without a token, and a query of module and page only.
3. notifications.json: ``notify_url``'s pattern ``www[.][a-z]{5}zoho[.]com`` and
   ``channel_id``'s ``type: object`` are dropped (Zoho's docs show any URL and a long).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import quote

from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests import specs

PREFIX = "https://raw.githubusercontent.com/Zohocorp-Pvt-Ltd/crm-oas/refs/heads/main/v8.0/"
DROP_REQUIRED = {"fields.json", "modules.json", "bulk_read.json"}


def _relax(node: Any, file: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "required" and file in DROP_REQUIRED and isinstance(value, list):
                continue
            out["anyOf" if key == "oneOf" else key] = _relax(value, file)
        if file == "notifications.json":
            props = out.get("properties")
            if isinstance(props, dict) and "notify_url" in props:
                props["notify_url"] = {"type": "string"}
                props["channel_id"] = {}
        return out
    if isinstance(node, list):
        return [_relax(v, file) for v in node]
    return node


@cache
def spec(file: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((specs.require("zoho-crm") / file).read_text())
    relaxed: dict[str, Any] = _relax(document, file)
    return relaxed


def _retrieve(uri: str) -> Resource[Any]:
    if not uri.startswith(PREFIX):
        raise LookupError(uri)
    return Resource.from_contents(spec(uri[len(PREFIX) :]), default_specification=DRAFT4)


@cache
def _registry() -> Registry[Any]:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


def _ref(file: str, *parts: str) -> dict[str, str]:
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
    return {"$ref": f"{PREFIX}{file}#/{quote(pointer, safe='/~')}"}


def _check(schema: dict[str, str], instance: Any) -> None:
    specs.require("zoho-crm")
    OAS30Validator(schema, registry=_registry()).validate(instance)


def validate(file: str, schema_name: str, instance: Any) -> None:
    """Validate ``instance`` against ``components/schemas/<schema_name>`` of ``file``."""
    _check(_ref(file, "components", "schemas", schema_name), instance)


def _resolved(file: str, node: dict[str, Any], kind: str) -> tuple[str, ...]:
    """Pointer parts of an operation's requestBody/response, following a local ``$ref``."""
    if "$ref" in node:
        return ("components", kind, node["$ref"].rsplit("/", 1)[-1])
    raise LookupError


def validate_request(file: str, path: str, method: str, body: Any) -> None:
    """Validate a request body against the operation's ``requestBody`` schema."""
    node = spec(file)["paths"][path][method]["requestBody"]
    base = (
        _resolved(file, node, "requestBodies")
        if "$ref" in node
        else ("paths", path, method, "requestBody")
    )
    _check(_ref(file, *base, "content", "application/json", "schema"), body)


def validate_response(file: str, path: str, method: str, body: Any, status: int = 200) -> None:
    """Validate against the operation's schema for ``status`` (else its 200 schema).

    Most files declare only 200 for every outcome; notifications.json also declares
    201 (created) and 202 (per-item errors).
    """
    responses = spec(file)["paths"][path][method]["responses"]
    code = str(status) if str(status) in responses else "200"
    node = responses[code]
    base = (
        _resolved(file, node, "responses")
        if "$ref" in node
        else ("paths", path, method, "responses", code)
    )
    _check(_ref(file, *base, "content", "application/json", "schema"), body)
