"""Conditions per Kubernetes API conventions: a transition time that only moves on change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmsync.api.v1alpha1._base import Condition, ConditionStatus


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
) -> list[dict[str, Any]]:
    """The whole new list (a merge patch replaces lists), with ``type_`` set."""
    wanted = (
        ConditionStatus.UNKNOWN
        if status is None
        else ConditionStatus.TRUE
        if status
        else ConditionStatus.FALSE
    )
    existing = {c["type"]: c for c in conditions or []}
    previous = existing.get(type_)
    changed = previous is None or previous.get("status") != wanted
    if (
        previous is not None
        and not changed
        and (previous.get("reason"), previous.get("message"), previous.get("observedGeneration"))
        == (reason, message, generation)
    ):
        return list(existing.values())  # nothing new: no patch, no churn
    condition = Condition(
        type=type_,
        status=wanted,
        reason=reason,
        message=message,
        last_transition_time=datetime.now(UTC)
        if changed or previous is None
        else previous["lastTransitionTime"],
        observed_generation=generation,
    )
    existing[type_] = condition.to_wire()
    return list(existing.values())


def condition_status(conditions: list[dict[str, Any]] | None, type_: str) -> str | None:
    for condition in conditions or []:
        if condition.get("type") == type_:
            return str(condition.get("status"))
    return None
