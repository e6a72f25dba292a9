"""Conditions per Kubernetes API conventions: a transition time that only moves on change.

GitOps tools judge health by the kstatus rules (sigs.k8s.io/cli-utils/pkg/kstatus): besides
``Ready`` and ``status.observedGeneration`` they read two "abnormal-true" conditions, present
only while true — ``Reconciling`` (work for the current spec is under way: InProgress) and
``Stalled`` (only a change by the user can help: Failed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmsync.api.v1alpha1._base import Condition, ConditionStatus

SPEC_ERRORS = frozenset({
    "InvalidSpec", "InvalidConfiguration", "WrongProvider", "FlowNotSupported",
    "AudienceRequired", "FieldMappingInvalid", "UnmappableField", "EmailFieldMissing",
    "ConsentFieldMissing", "AuthenticationFailed", "CrmAuthenticationFailed",
    "OwnerNotFound", "OwnerDeactivated",
})  # fmt: skip
"""Ready=False reasons that no retry mends, only a change to the spec, a referenced object,
the credentials or the vendor account: they also set Stalled. Waiting for something that
may still appear (a Secret, a Connection not verified yet) is not among them."""

STALLED = "Stalled"
RECONCILING = "Reconciling"


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
) -> list[dict[str, Any]]:
    """The whole new list (a merge patch replaces lists), with ``type_`` set.

    Setting ``Ready`` also sets ``Stalled`` for a spec error and removes it otherwise.
    """
    result = _set(conditions, type_, status, reason, message, generation)
    if type_ == "Ready":
        stalled = status is False and reason in SPEC_ERRORS
        result = set_abnormal(result, STALLED, stalled, reason, message, generation)
        if stalled:  # nothing is under way any more
            result = set_abnormal(result, RECONCILING, False, "", "", generation)
    return result


def set_abnormal(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    active: bool,
    reason: str,
    message: str,
    generation: int,
) -> list[dict[str, Any]]:
    """``Reconciling`` or ``Stalled``: set while ``active``, absent otherwise."""
    if active:
        return _set(conditions, type_, True, reason, message, generation)
    return [c for c in conditions or [] if c.get("type") != type_]


def _set(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
) -> list[dict[str, Any]]:
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
