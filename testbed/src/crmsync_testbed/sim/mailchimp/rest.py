"""The plumbing every endpoint shares: operations, routes, paging and field selection.

An endpoint is a plain synchronous *operation* ``(Call) -> Reply`` that runs on the DB
thread inside one transaction. The same route table serves HTTP requests and the
operations inside ``POST /batches``, so both behave identically.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crmsync_testbed.sim.mailchimp import errors

API_PREFIX = "/3.0"
MAX_COUNT = 1000
DEFAULT_COUNT = 10


@dataclass(frozen=True)
class Event:
    """A list change that webhooks may report (``type`` as in Mailchimp's callbacks)."""

    type: str
    list_id: str
    source: str
    """``api``, ``admin`` or ``user``: matched against each webhook's ``sources``."""
    data: dict[str, Any]


@dataclass
class Call:
    db: sqlite3.Connection
    base_url: str
    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    events: list[Event] = field(default_factory=list)

    def object_body(self) -> dict[str, Any]:
        """The JSON body, which must be an object."""
        if not isinstance(self.body, dict):
            raise errors.field_errors(
                [{"field": "", "message": "Schema describes object, other type found instead"}]
            )
        return self.body

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"

    def link(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}{path}"


@dataclass
class Reply:
    body: Any = None
    status: int = 200


Operation = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """Template below ``/3.0``, in aiohttp's syntax: ``/lists/{list_id}``."""
    operation: Operation
    write: bool = True

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "/?$")


def get(path: str, operation: Operation) -> Route:
    return Route("GET", path, operation, write=False)


def post(path: str, operation: Operation) -> Route:
    return Route("POST", path, operation)


def put(path: str, operation: Operation) -> Route:
    return Route("PUT", path, operation)


def patch(path: str, operation: Operation) -> Route:
    return Route("PATCH", path, operation)


def delete(path: str, operation: Operation) -> Route:
    return Route("DELETE", path, operation)


def no_content() -> Reply:
    return Reply(None, 204)


# --- paging -------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """``count`` (at most 1,000: a larger one is capped, as Mailchimp does) and ``offset``."""

    count: int
    offset: int

    @classmethod
    def of(cls, call: Call) -> Page:
        try:
            count = int(call.query.get("count", DEFAULT_COUNT))
            offset = int(call.query.get("offset", 0))
        except ValueError as exc:
            raise errors.field_errors(
                [{"field": "count", "message": "count and offset must be integers"}]
            ) from exc
        return cls(min(max(count, 0), MAX_COUNT), max(offset, 0))

    @property
    def sql(self) -> str:
        return f" LIMIT {self.count} OFFSET {self.offset}"


def collection(key: str, items: list[Any], total: int, **extra: Any) -> dict[str, Any]:
    return {key: items, **extra, "total_items": total, "_links": []}


# --- field selection ------------------------------------------------------------------


def _field_tree(spec: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted in filter(None, (part.strip() for part in spec.split(","))):
        node = tree
        for name in dotted.split("."):
            node = node.setdefault(name, {})
    return tree


def _include(value: Any, tree: dict[str, Any]) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [_include(item, tree) for item in value]
    if isinstance(value, dict):
        return {k: _include(v, tree[k]) for k, v in value.items() if k in tree}
    return value


def _exclude(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_exclude(item, tree) for item in value]
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key not in tree:
                kept[key] = item
            elif tree[key]:
                kept[key] = _exclude(item, tree[key])
        return kept
    return value


def select_fields(body: Any, query: Mapping[str, str]) -> Any:
    """Apply ``fields`` / ``exclude_fields`` (comma lists, dot notation)."""
    if "fields" in query:
        body = _include(body, _field_tree(query["fields"]))
    if "exclude_fields" in query:
        body = _exclude(body, _field_tree(query["exclude_fields"]))
    return body


# --- body checks ----------------------------------------------------------------------


def require(body: Mapping[str, Any], *names: str) -> None:
    missing = [name for name in names if body.get(name) in (None, "")]
    if missing:
        raise errors.missing_fields(*missing)


def require_enum(body: Mapping[str, Any], name: str, allowed: Iterable[str]) -> None:
    value = body.get(name)
    choices = tuple(allowed)
    if value is not None and value not in choices:
        raise errors.field_errors(
            [{"field": name, "message": f"Value must be one of: {', '.join(choices)}"}]
        )
