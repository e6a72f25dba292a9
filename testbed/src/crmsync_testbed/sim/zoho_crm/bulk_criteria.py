"""The Bulk Read job's ``query.criteria`` (bulk_read.json ``Criteria``) as a condition tree.

A criterion is ``{"field": {"api_name"}, "comparator", "value"}`` (``api_name`` directly on
the criterion is accepted too, as the spec has it), or ``{"group_operator": "and"|"or",
"group": [...]}``; at most 25 criteria in all (Kaizen #195,
https://help.zoho.com/portal/en/community/topic/kaizen-195-faqs-on-bulk-read-api-and-bulk-write-api).
"""

from __future__ import annotations

from typing import Any

from crmsync_testbed.sim.zoho_crm.errors import ZohoError
from crmsync_testbed.sim.zoho_crm.fields import ModuleDef
from crmsync_testbed.sim.zoho_crm.query import Compare, Condition, Logical

MAX_CRITERIA = 25
COMPARATORS = {
    "equal": "=",
    "not_equal": "!=",
    "in": "in",
    "not_in": "not in",
    "greater_than": ">",
    "greater_equal": ">=",
    "less_than": "<",
    "less_equal": "<=",
    "between": "between",
    "not_between": "not between",
    "starts_with": "like",
    "ends_with": "like",
    "contains": "like",
    "not_contains": "not like",
}
LIKE_PATTERNS = {
    "starts_with": "{}%",
    "ends_with": "%{}",
    "contains": "%{}%",
    "not_contains": "%{}%",
}


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> ZohoError:
    return ZohoError(400, code, message, details or {})


def parse_criteria(module: ModuleDef, raw: Any) -> Condition:
    counted = [0]
    return _node(module, raw, counted)


def _node(module: ModuleDef, raw: Any, counted: list[int]) -> Condition:
    if not isinstance(raw, dict):
        raise _error("INVALID_CRITERIA", "invalid criteria")
    if "group" in raw:
        operator = str(raw.get("group_operator", "")).lower()
        if operator not in ("and", "or"):
            raise _error(
                "GROUP_OPERATOR_NOT_SUPPORTED",
                "the group operator is not supported",
                {"group_operator": raw.get("group_operator")},
            )
        group = raw["group"]
        if not isinstance(group, list) or len(group) < 2:
            raise _error("AMBIGUOUS_GROUP_IN_CRITERIA", "a group needs two criteria or more")
        return Logical(operator, tuple(_node(module, g, counted) for g in group))
    counted[0] += 1
    if counted[0] > MAX_CRITERIA:
        raise _error("CRITERIA_LIMIT_EXCEEDED", "criteria limit exceeded", {"limit": MAX_CRITERIA})
    return _compare(module, raw)


def _compare(module: ModuleDef, raw: dict[str, Any]) -> Compare:
    field = raw.get("field") if isinstance(raw.get("field"), dict) else {}
    api_name = str((field or {}).get("api_name") or raw.get("api_name") or "")
    if api_name != "id" and api_name.split(".", 1)[0] not in module.by_name:
        raise _error(
            "FIELD_IN_CRITERIA_NOT_AVAILABLE",
            "the field given in the criteria is not available",
            {"api_name": api_name},
        )
    comparator = str(raw.get("comparator", ""))
    if comparator not in COMPARATORS:
        raise _error(
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            "the comparator is not supported for the field",
            {"api_name": api_name, "comparator": comparator, "supported": list(COMPARATORS)},
        )
    value = raw.get("value")
    values = tuple(value) if isinstance(value, list) else (value,)
    if comparator in ("between", "not_between") and len(values) != 2:
        raise _error("VALUE_TYPE_NOT_SUPPORTED", "between takes two values", {"api_name": api_name})
    if comparator in LIKE_PATTERNS:
        text = str(values[0]).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        values = (LIKE_PATTERNS[comparator].format(text),)
    return Compare(api_name, COMPARATORS[comparator], values)
