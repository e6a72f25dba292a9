"""Criteria on CRM records (B3, Z14), evaluated locally so a record that stops matching
is noticed and leaves the audience (the bug that made Zoho drop view-based syncs, P3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmsync.api.v1alpha1.contactsync import Criterion, CriterionOperator
from crmsync.engine.mapping import to_campaign_text


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(left: str, right: str) -> int:
    """Numbers compare as numbers, everything else (ISO dates included) as text."""
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    return (left > right) - (left < right)


def matches(criterion: Criterion, values: Mapping[str, Any]) -> bool:
    text = to_campaign_text(values.get(criterion.field))
    wanted = criterion.values or []
    op = CriterionOperator(criterion.operator)
    if op is CriterionOperator.IS_EMPTY:
        return text == ""
    if op is CriterionOperator.IS_NOT_EMPTY:
        return text != ""
    if op is CriterionOperator.IN:
        return text.casefold() in {w.casefold() for w in wanted}
    first = wanted[0]
    if op is CriterionOperator.EQUALS:
        return text.casefold() == first.casefold()
    if op is CriterionOperator.NOT_EQUAL:
        return text.casefold() != first.casefold()
    if op is CriterionOperator.STARTS_WITH:
        return text.casefold().startswith(first.casefold())
    if op is CriterionOperator.GREATER_THAN:
        return text != "" and _compare(text, first) > 0
    return text != "" and _compare(text, first) < 0


def matches_all(criteria: Sequence[Criterion], values: Mapping[str, Any]) -> bool:
    return all(matches(c, values) for c in criteria)
