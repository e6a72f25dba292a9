"""A sync's criteria pushed to Zoho CRM: a COQL WHERE clause and Bulk Read job criteria.

Push-down only narrows a read: what Zoho returns must hold every record that
:func:`crmsync.engine.criteria.matches_all` keeps, which stays the judge. Criteria are
and-ed, so any subset of them is such a superset; each criterion is pushed as a condition
every locally matching record meets, or left out:

- text fields (``equals``, ``in``, ``starts_with``): locally the value is trimmed and
  case-folded, so the pushed condition is a *contains*: the value's case-folded text with
  each run of characters that some other text folds into (``ss`` ← ``ß``, ``s`` ← ``ſ``,
  ``fi`` ← ``ﬁ``, ``σ`` ← ``ς``…) and of COQL's wildcards, quotes and backslashes
  replaced by a wildcard. The literal left carries neither quote nor backslash, so no
  value can leave its string (COQL's escaping rules are barely documented, Kaizen #171);
- numbers (``integer``, ``double``, ``currency``), booleans and dates: the comparison
  itself, for values written as such;
- ``is_not_empty`` on any field: ``is not null`` (COQL only);
- everything else (``not_equal``, ``is_empty``, date-times, lookups, multi-select
  picklists, ``bigint``, comparisons the local rules make by text) is left to the local
  filter.

Zoho COQL: at most 25 criteria, grouped in pairs past two, ``in`` up to 100 values
(COQL-Overview.html, Kaizen #183). Bulk Read criteria: ``{field:{api_name}, comparator,
value}`` and ``{group_operator, group}``, at most 25 (bulk_read.json, Kaizen #195).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from crmsync.api.v1alpha1.contactsync import Criterion, CriterionOperator
from crmsync.providers.zoho_lookup import coql_identifier

MAX_CRITERIA = 25
TEXT_TYPES = frozenset({"text", "email", "phone", "picklist", "website"})
NUMBER_TYPES = frozenset({"integer", "double", "currency"})
NUMBER = re.compile(r"^-?\d{1,15}(\.\d{1,9})?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WILDCARD_CHARACTERS = frozenset("%_'\\")


@cache
def _folded_specials() -> tuple[str, ...]:
    """What case folding makes of the characters whose folding is not their lower case
    (``ß`` → ``ss``, ``ſ`` → ``s``, ``ﬁ`` → ``fi``, ``ς`` → ``σ``…), and those characters
    lower-cased: where a record may differ from the criterion and still match it."""
    found: set[str] = set()
    for point in range(sys.maxunicode + 1):
        char = chr(point)
        if char.casefold() != char.lower():
            found.update((char.casefold(), char.lower()))
    return tuple(sorted(found))


@dataclass(frozen=True)
class Contains:
    """The field's text contains these pieces in this order (case-insensitive)."""

    field: str
    pieces: tuple[str, ...]


@dataclass(frozen=True)
class Compare:
    field: str
    operator: str
    """``=``, ``in``, ``>``, ``<`` or ``is not null``."""
    values: tuple[str | float | bool, ...] = ()


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


Condition = Contains | Compare | AnyOf


def contains_pieces(value: str) -> tuple[str, ...]:
    """The literal pieces a text matching ``value`` locally contains, in order: its
    case-folded text less every occurrence (overlapping ones too) of a special folding or
    a wildcard character."""
    folded = value.casefold()
    wild = [char in WILDCARD_CHARACTERS for char in folded]
    for special in _folded_specials():
        at = folded.find(special)
        while at != -1:
            wild[at : at + len(special)] = [True] * len(special)
            at = folded.find(special, at + 1)
    pieces, current = [], ""
    for char, wildcard in zip(folded, wild, strict=True):
        if wildcard:
            pieces.append(current)
            current = ""
        else:
            current += char
    return tuple(p for p in [*pieces, current] if p)


def _text(criterion: Criterion) -> Condition | None:
    op = CriterionOperator(criterion.operator)
    if op not in (CriterionOperator.EQUALS, CriterionOperator.IN, CriterionOperator.STARTS_WITH):
        return None
    options: list[Condition] = []
    for value in criterion.values or []:
        pieces = contains_pieces(value)
        if not pieces:
            return None  # anything non-empty may match it
        options.append(Contains(criterion.field, pieces))
    return options[0] if len(options) == 1 else AnyOf(tuple(options))


def _typed(criterion: Criterion, data_type: str) -> Condition | None:
    op = CriterionOperator(criterion.operator)
    values = criterion.values or []
    if data_type in NUMBER_TYPES:
        if not values or not all(NUMBER.match(v) for v in values):
            return None
        numbers: tuple[float, ...] = tuple(float(v) for v in values)
        return _comparison(criterion.field, op, numbers)
    if data_type == "boolean":
        truths = tuple(dict.fromkeys(v.casefold() == "true" for v in values if _is_bool(v)))
        if op not in (CriterionOperator.EQUALS, CriterionOperator.IN) or not truths:
            return None  # no value a boolean can show: the local filter keeps nothing
        return Compare(criterion.field, "in" if len(truths) > 1 else "=", truths)
    if data_type == "date" and values and all(DATE.match(v) for v in values):
        return _comparison(criterion.field, op, tuple(values))
    return None


def _is_bool(value: str) -> bool:
    return value.casefold() in ("true", "false")


def _comparison(
    field: str, op: CriterionOperator, values: tuple[str | float | bool, ...]
) -> Condition | None:
    if op is CriterionOperator.EQUALS:
        return Compare(field, "=", values)
    if op is CriterionOperator.IN:
        return Compare(field, "in", values)
    if op is CriterionOperator.GREATER_THAN:
        return Compare(field, ">", values)
    if op is CriterionOperator.LESS_THAN:
        return Compare(field, "<", values)
    return None


def translate(criterion: Criterion, data_types: Mapping[str, str]) -> Condition | None:
    """The condition pushed for one criterion, or None (left to the local filter)."""
    data_type = data_types.get(criterion.field)
    if data_type is None:
        return None
    if criterion.operator == CriterionOperator.IS_NOT_EMPTY:
        return Compare(criterion.field, "is not null")
    if data_type in TEXT_TYPES:
        return _text(criterion)
    return _typed(criterion, data_type)


def size(condition: Condition) -> int:
    """Criteria it takes in COQL (a Contains is one ``like``)."""
    if isinstance(condition, AnyOf):
        return sum(size(c) for c in condition.conditions)
    return 1


def pushed(
    criteria: Sequence[Criterion], data_types: Mapping[str, str], budget: int = MAX_CRITERIA
) -> list[Condition]:
    """The criteria that can be pushed, within ``budget`` criteria, most specific first
    (fewest alternatives); the others are left to the local filter."""
    found = [c for c in (translate(c, data_types) for c in criteria) if c is not None]
    found.sort(key=size)
    kept: list[Condition] = []
    for condition in found:
        if sum(size(c) for c in kept) + size(condition) <= budget:
            kept.append(condition)
    return kept


# --- COQL -----------------------------------------------------------------------------


def _literal(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    if "'" in value or "\\" in value:
        raise ValueError("a COQL literal never carries quotes or backslashes")
    return f"'{value}'"


def in_pairs(conditions: Sequence[str], joiner: str) -> str:
    """``((A and B) and C)``: COQL wants more than two criteria grouped in pairs."""
    text = conditions[0]
    for condition in conditions[1:]:
        text = f"({text} {joiner} {condition})"
    return text


def coql(condition: Condition) -> str:
    if isinstance(condition, AnyOf):
        return in_pairs([coql(c) for c in condition.conditions], "or")
    name = coql_identifier(condition.field)
    if isinstance(condition, Contains):
        return f"{name} like {_literal('%' + '%'.join(condition.pieces) + '%')}"
    if condition.operator == "is not null":
        return f"{name} is not null"
    if condition.operator == "in":
        return f"{name} in ({', '.join(_literal(v) for v in condition.values)})"
    return f"{name} {condition.operator} {_literal(condition.values[0])}"


def coql_where(conditions: Sequence[Condition], *more: str) -> str:
    """The WHERE clause of the conditions and ``more`` (already COQL) together."""
    return in_pairs([*(coql(c) for c in conditions), *more], "and")


# --- Bulk Read --------------------------------------------------------------------------

BULK_COMPARATORS = {"=": "equal", "in": "in", ">": "greater_than", "<": "less_than"}


def bulk_size(condition: Condition) -> int:
    if isinstance(condition, AnyOf):
        return sum(bulk_size(c) for c in condition.conditions)
    if isinstance(condition, Contains):
        return len(condition.pieces)
    return 1


def _bulk(condition: Condition) -> dict[str, Any] | None:
    if isinstance(condition, AnyOf):
        group = [_bulk(c) for c in condition.conditions]
        if any(g is None for g in group):
            return None
        return {"group_operator": "or", "group": group}
    if isinstance(condition, Contains):
        parts = [_criterion(condition.field, "contains", p) for p in condition.pieces]
        return parts[0] if len(parts) == 1 else {"group_operator": "and", "group": parts}
    comparator = BULK_COMPARATORS.get(condition.operator)
    if comparator is None:
        return None  # is not null: no documented Bulk Read comparator
    value: Any = list(condition.values) if comparator == "in" else condition.values[0]
    return _criterion(condition.field, comparator, value)


def _criterion(field: str, comparator: str, value: Any) -> dict[str, Any]:
    return {"field": {"api_name": field}, "comparator": comparator, "value": value}


def bulk_criteria(conditions: Sequence[Condition]) -> dict[str, Any] | None:
    """The ``query.criteria`` of a Bulk Read job (within 25 criteria), or None."""
    parts: list[dict[str, Any]] = []
    used = 0
    for condition in conditions:
        part = _bulk(condition)
        if part is not None and used + bulk_size(condition) <= MAX_CRITERIA:
            parts.append(part)
            used += bulk_size(condition)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"group_operator": "and", "group": parts}
