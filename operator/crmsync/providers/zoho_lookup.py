"""Finding CRM records by a field's value (emails, deal names): which API, and the COQL.

Three ways, each within Zoho CRM's documented limits, priced in API credits:

- **search**: ``GET /{module}/search?criteria=(Field:in:…)``, at most 10 criteria a call
  (search-records.html); 10 values a call, 1 credit each;
- **COQL**: ``POST /coql`` with ``Field in (…)``: up to 100 values in an ``in`` (Kaizen #183,
  API v7 on), up to 25 criteria in the WHERE clause, ``LIMIT`` up to 2,000 rows; a call costs
  1 credit up to LIMIT 200, 2 up to 1,000, 3 up to 2,000 (COQL-Overview.html). So 18
  ``in`` clauses of 100 values, grouped in pairs as COQL requires past two criteria, find
  1,800 values' records for 3 credits (the LIMIT has room for some addresses shared by
  several records: rows past it cost another call);
- **listing**: every page of ``GET /{module}`` (200 records, 1 credit), joined here; it wins
  when the values are many compared with the module.

COQL sees neither converted leads nor lookups' names (it answers ``{id}``), so it only
finds record ids unless the caller wants nothing but the matched field; the records' other
fields are then read by id, 100 a call. Modules with converted records that the caller
must see (Leads, read with ``converted=both``) are never looked up by COQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

SEARCH_VALUES = 10
COQL_IN_VALUES = 100
COQL_IN_CLAUSES = 18
"""Of the 25 criteria a WHERE clause may hold."""
COQL_VALUES = COQL_IN_VALUES * COQL_IN_CLAUSES
COQL_MAX_LIMIT = 2000
ROWS_PER_VALUE = 1.1
"""Rows expected per value looked up: room for duplicates before a second page is needed."""
COQL_CREDITS = ((200, 1), (1000, 2), (2000, 3))
"""(largest LIMIT, credits) tiers of one COQL call."""
PAGE = 200
IDS_PER_CALL = 100
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Lookup(Enum):
    SEARCH = "search"
    COQL = "coql"
    LISTING = "listing"


@dataclass(frozen=True)
class Cost:
    credits: int
    calls: int


def coql_limit(values: int) -> int:
    """The smallest LIMIT tier that holds the rows ``values`` should match."""
    rows = math.ceil(values * ROWS_PER_VALUE)
    return next((top for top, _ in COQL_CREDITS if rows <= top), COQL_MAX_LIMIT)


def coql_credits(limit: int) -> int:
    return next((credits for top, credits in COQL_CREDITS if limit <= top), COQL_CREDITS[-1][1])


def coql_batches(values: Sequence[str]) -> list[list[str]]:
    return [list(values[i : i + COQL_VALUES]) for i in range(0, len(values), COQL_VALUES)]


def cost(method: Lookup, values: int, *, refetch: bool = False, module_size: int = 0) -> Cost:
    """What finding ``values`` costs (for COQL, with :data:`ROWS_PER_VALUE` rows each)."""
    if method is Lookup.SEARCH:
        calls = math.ceil(values / SEARCH_VALUES)
        return Cost(calls, calls)
    if method is Lookup.LISTING:
        calls = max(1, math.ceil(module_size / PAGE))
        return Cost(calls, calls)
    full, rest = divmod(values, COQL_VALUES)
    credits = full * coql_credits(coql_limit(COQL_VALUES))
    credits += coql_credits(coql_limit(rest)) if rest else 0
    calls = full + (1 if rest else 0)
    if refetch:
        by_id = math.ceil(values / IDS_PER_CALL)
        credits, calls = credits + by_id, calls + by_id
    return Cost(credits, calls)


def by_value_methods(coql: bool) -> tuple[Lookup, ...]:
    return (Lookup.SEARCH, Lookup.COQL) if coql else (Lookup.SEARCH,)


def size_matters(values: int, *, coql: bool, refetch: bool) -> bool:
    """Whether counting the module (1 credit) could make listing it the cheaper way: a
    listing is at least one page, so only when the best by-value way costs more than 2."""
    best = min(cost(m, values, refetch=refetch).credits for m in by_value_methods(coql))
    return best > 2


def choose(values: int, *, coql: bool, refetch: bool, module_size: int | None) -> Lookup:
    """The cheapest way in credits, then in calls; ties keep the search (the old way)."""
    methods = list(by_value_methods(coql))
    if module_size is not None:
        methods.append(Lookup.LISTING)
    priced = [
        (cost(m, values, refetch=refetch, module_size=module_size or 0), i, m)
        for i, m in enumerate(methods)
    ]
    return min(priced, key=lambda p: (p[0].credits, p[0].calls, p[1]))[2]


# --- COQL text ------------------------------------------------------------------------


def coql_string(value: str) -> str:
    """A COQL string literal: single quotes doubled (Kaizen #171)."""
    return "'" + value.replace("'", "''") + "'"


def coql_safe(value: str) -> bool:
    """Values COQL can carry as a plain literal; a backslash's meaning there is
    undocumented, so such a value (rare in an address) is searched for instead."""
    return "\\" not in value


def coql_identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(f"not a COQL field or module name: {name!r}")
    return name


def either(conditions: Sequence[str]) -> str:
    """``A or B or C`` as ``((A or B) or C)``: COQL wants more than two criteria in pairs."""
    text = conditions[0]
    for condition in conditions[1:]:
        text = f"({text} or {condition})"
    return text


def coql_in_query(
    module: str,
    field: str,
    values: Sequence[str],
    select: Sequence[str],
    *,
    limit: int,
    offset: int = 0,
) -> str:
    """``select … from Module where Field in (…)`` for up to :data:`COQL_VALUES` values."""
    if not values or len(values) > COQL_VALUES:
        raise ValueError(f"a COQL lookup takes 1 to {COQL_VALUES} values, not {len(values)}")
    name = coql_identifier(field)
    clauses = [
        f"{name} in ({', '.join(coql_string(v) for v in values[i : i + COQL_IN_VALUES])})"
        for i in range(0, len(values), COQL_IN_VALUES)
    ]
    columns = ", ".join(coql_identifier(c) for c in select)
    return (
        f"select {columns} from {coql_identifier(module)} where {either(clauses)} "
        f"limit {offset}, {limit}"
    )
