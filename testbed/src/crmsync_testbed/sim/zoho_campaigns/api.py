"""What every Zoho Campaigns method shares: parameters, auth, limits, the envelope.

A method handler receives an :class:`ApiCall` (merged query + form parameters, the store)
and returns the success body, or raises :class:`ZohoApiError`. :func:`add_method`
registers it under ``/api/v1.1/<method>`` wrapped with, in order:

1. the OAuth check (``Authorization: Zoho-oauthtoken <token>``), see :mod:`.auth`;
2. ``resfmt``: JSON is served; XML is refused with code 1001 (not implemented);
3. the method's documented rate limit and lock period, see :mod:`.limits`;
4. the error envelope for :class:`ZohoApiError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_campaigns import errors
from crmsync_testbed.sim.zoho_campaigns.errors import API_PREFIX, ZohoApiError, error_body
from crmsync_testbed.sim.zoho_campaigns.limits import RateLimiter
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore

STORE_KEY = web.AppKey("zoho_campaigns_store", CampaignsStore)
LIMITER_KEY = web.AppKey("zoho_campaigns_limiter", RateLimiter)
TOKEN_PREFIX = "Zoho-oauthtoken "


@dataclass
class ApiCall:
    store: CampaignsStore
    params: dict[str, str]
    uri: str

    def get(self, name: str, default: str = "") -> str:
        return self.params.get(name, default).strip()

    def require(self, *names: str) -> list[str]:
        """The values of mandatory parameters; code 903 if one is missing or blank."""
        values = [self.get(name) for name in names]
        missing = [name for name, value in zip(names, values, strict=True) if not value]
        if missing:
            raise ZohoApiError(errors.MANDATORY_MISSING, "Mandatory fields are missing.")
        return values

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self.get(name)
        try:
            return max(minimum, int(raw)) if raw else default
        except ValueError:
            return default

    def json_param(self, name: str) -> Any:
        """A JSON-valued parameter, as strict JSON or Zoho's unquoted ``{k:v,k:v}`` form."""
        raw = self.get(name)
        if not raw:
            raise ZohoApiError(errors.MANDATORY_MISSING, "Mandatory fields are missing.")
        try:
            return parse_lenient_json(raw)
        except ValueError as exc:
            raise ZohoApiError(errors.BAD_JSON, "Please enter correct XML(or)JSON format.") from exc


ApiHandler = Callable[[ApiCall], dict[str, Any]]
"""Handlers are synchronous: every one is a few SQLite statements on a local file."""

_UNQUOTED_PAIR = re.compile(r"\s*([^:,{}\[\]]+?)\s*:\s*(\[[^\]]*\]|[^,{}]*)\s*(?:,|$)")


def parse_lenient_json(raw: str) -> Any:
    """Strict JSON first; else the docs' sample form ``{First Name:mac,Contact Email:a@b.c}``.

    The unquoted form (used in Zoho's own sample requests for ``contactinfo``, ``details``
    and ``list_details``) is read as a flat object whose values are strings, or lists of
    strings when written ``[a,b]``. Values cannot contain commas in that form.
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    text = raw.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("not a JSON object")
    body = text[1:-1].strip()
    result: dict[str, Any] = {}
    position = 0
    while position < len(body):
        match = _UNQUOTED_PAIR.match(body, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read {body[position:]!r}")
        key, value = match.group(1).strip().strip("\"'"), match.group(2).strip()
        if value.startswith("["):
            items = [item.strip().strip("\"'") for item in value[1:-1].split(",")]
            result[key] = [item for item in items if item]
        else:
            result[key] = value.strip("\"'")
        position = match.end()
    return result


async def _params(request: web.Request) -> dict[str, str]:
    params = {key: value for key, value in request.query.items()}
    if request.method == "POST" and request.can_read_body:
        content_type = request.content_type
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({key: str(value) for key, value in form.items()})
        elif content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(
                    {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
                )
    return params


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith(TOKEN_PREFIX):
        return header[len(TOKEN_PREFIX) :].strip()
    return None


def add_method(
    app: web.Application,
    method: str,
    handler: ApiHandler,
    http_methods: Iterable[str] = ("GET", "POST"),
    limit_name: str | None = None,
) -> None:
    """Serve ``handler`` at ``/api/v1.1/<method>`` (``json/<name>`` variants included)."""
    uri = f"{API_PREFIX}/{method}"
    limit_key = limit_name or method.removeprefix("json/")

    async def endpoint(request: web.Request) -> web.Response:
        store = request.app[STORE_KEY]
        token = _bearer(request)
        if token is None or not store.token_valid(token):
            body = error_body(uri, errors.UNAUTHORIZED, "Unauthorized access. Invalid OAuth token.")
            return web.json_response(body, status=401)
        params = await _params(request)
        if params.get("resfmt", "JSON").strip().upper() not in ("JSON", ""):
            body = error_body(uri, errors.RESFMT_MISMATCH, '"resfmt" pattern does not match.')
            return web.json_response(body)
        locked_for = request.app[LIMITER_KEY].acquire(limit_key)
        if locked_for is not None:
            message = (
                "Please retry after sometime. This API is locked for "
                f"{int(locked_for) + 1} seconds after its call limit was exceeded."
            )
            body = error_body(uri, errors.RETRY_LATER, message)
            return web.json_response(body, headers={"Retry-After": str(int(locked_for) + 1)})
        try:
            payload = handler(ApiCall(store=store, params=params, uri=uri))
        except ZohoApiError as exc:
            return web.json_response(error_body(uri, exc.code, exc.message), status=exc.http_status)
        return web.json_response(payload)

    for http_method in http_methods:
        app.router.add_route(http_method, uri, endpoint)


def page_bounds(call: ApiCall, default_range: int = 20) -> tuple[int, int]:
    """(fromindex, range): ``fromindex`` is 1-based in Zoho's responses."""
    return call.integer("fromindex", 1, minimum=1), call.integer("range", default_range, minimum=1)


def sort_order(call: ApiCall) -> tuple[str, str]:
    """(SQL direction, Zoho's label) from ``sort=asc|desc`` (default desc)."""
    if call.get("sort").lower() == "asc":
        return "ASC", "Ascending Order"
    return "DESC", "Descending Order"


def as_strings(row: dict[str, Any]) -> dict[str, Any]:
    """Zoho sends numbers and booleans as strings in these responses."""
    return {
        key: (value if isinstance(value, str | dict | list) or value is None else _text(value))
        for key, value in row.items()
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def display_time(epoch_ms: int | None) -> str:
    """Zoho's display form of a time, e.g. ``"02 Aug 2013, 12:39 PM"`` (UTC here)."""
    if epoch_ms is None:
        return ""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%d %b %Y, %I:%M %p")
