"""Field metadata: ``GET /settings/fields[/{field}]`` (modules and subforms) and the
fields inside ``GET /settings/modules/{api_name}``.

fields.json ``Get Fields``; under the ``/crm/v2`` alias the v2 shapes apply: a lookup's
``module`` is the module's API name (v2 field-meta doc; v2 SDKs read it as a string),
where v2.1 and later answer ``{"api_name", "id"}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import api_version
from crmsync_testbed.sim.zoho_crm.errors import ZohoError, required_param_missing
from crmsync_testbed.sim.zoho_crm.fields import (
    ModuleDef,
    field_id,
    field_json,
    module_for,
    module_json,
)
from crmsync_testbed.sim.zoho_crm.subforms import subform_module_for


def _module(request: web.Request) -> ModuleDef:
    name = request.query.get("module")
    if not name:
        raise required_param_missing("module")
    return subform_module_for(name) or module_for(name, allow_notes=True)


def _versioned(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    if api_version(request) != "v2":
        return body
    lookup = body.get("lookup")
    if isinstance(lookup, dict) and isinstance(lookup.get("module"), dict):
        body["lookup"] = {**lookup, "module": lookup["module"]["api_name"]}
    return body


def _field(request: web.Request, module: ModuleDef, index: int) -> dict[str, Any]:
    return _versioned(request, field_json(module, index, module.fields[index]))


async def get_fields(request: web.Request) -> web.Response:
    """``GET /settings/fields?module=&type=``."""
    module = _module(request)
    wanted = request.query.get("type", "all")
    if wanted not in ("all", "used", "unused"):
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "type"})
    if wanted == "unused" or not module.fields:
        return web.Response(status=204)
    return web.json_response(
        {"fields": [_field(request, module, i) for i in range(len(module.fields))]}
    )


async def get_field(request: web.Request) -> web.Response:
    """``GET /settings/fields/{id|api_name}?module=``."""
    module = _module(request)
    wanted = request.match_info["field"]
    for i, f in enumerate(module.fields):
        if wanted in (f.api_name, field_id(module, i)):
            return web.json_response({"fields": [_field(request, module, i)]})
    raise ZohoError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": wanted})


async def get_module(request: web.Request) -> web.Response:
    """``GET /settings/modules/{api_name}``; modules.json, with the module's fields."""
    module = module_for(request.match_info["api_name"], allow_notes=True)
    body = module_json(module)
    body["fields"] = [_field(request, module, i) for i in range(len(module.fields))]
    return web.json_response({"modules": [body]})
