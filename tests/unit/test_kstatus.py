"""The kstatus port (tests/kstatus.py) on cli-utils' own generic cases, and what the
operator's conditions read as under it."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.k8s.conditions import RECONCILING, STALLED, set_abnormal, set_condition
from tests import kstatus


def cr(generation: int = 1, status: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "something/v1",
        "kind": "MyCR",
        "metadata": {"name": "test", "namespace": "qual", "generation": generation, **meta},
    }
    if status is not None:
        body["status"] = status
    return body


def ready(value: str, reason: str = "AllOk") -> dict[str, Any]:
    return {"type": "Ready", "status": value, "reason": reason, "message": ""}


@pytest.mark.parametrize(
    ("body", "expected", "reason"),
    [  # TestCRDGenericStatus in status_compute_test.go
        (cr(), kstatus.CURRENT, ""),
        (cr(status={"conditions": [ready("True")]}), kstatus.CURRENT, ""),
        (
            cr(status={"observedGeneration": 1, "conditions": [ready("False", "NotReadyYet")]}),
            kstatus.IN_PROGRESS,
            "NotReadyYet",
        ),
        (
            cr(status={"conditions": [{"type": "SomeCondition", "status": "False"}]}),
            kstatus.CURRENT,
            "",
        ),
        (
            cr(2, {"observedGeneration": 1, "conditions": [ready("True")]}),
            kstatus.IN_PROGRESS,
            "LatestGenerationNotObserved",
        ),
    ],
)
def test_cli_utils_generic_cases(body: dict[str, Any], expected: str, reason: str) -> None:
    result = kstatus.compute(body)
    assert (result.status, result.reason) == (expected, reason)


def test_abnormal_true_conditions_and_deletion() -> None:
    stalled = {"type": "Stalled", "status": "True", "reason": "Bad", "message": "m"}
    reconciling = {"type": "Reconciling", "status": "True", "reason": "Busy", "message": "m"}
    assert kstatus.compute(cr(status={"conditions": [ready("True"), stalled]})).status == "Failed"
    assert kstatus.compute(cr(status={"conditions": [reconciling, ready("True")]})).status == (
        "InProgress"
    )
    gone = cr(deletionTimestamp="2026-01-01T00:00:00Z", status={"conditions": [ready("True")]})
    assert kstatus.compute(gone).status == "Terminating"


def health(conditions: list[dict[str, Any]], observed: int = 1) -> str:
    return kstatus.compute(
        cr(status={"observedGeneration": observed, "conditions": conditions})
    ).status


def test_a_spec_error_is_failed_waiting_is_in_progress() -> None:
    spec_error = set_condition(None, "Ready", False, "UnmappableField", "no such field", 1)
    assert [c["type"] for c in spec_error] == ["Ready", STALLED]
    assert health(spec_error) == kstatus.FAILED
    waiting = set_condition(spec_error, "Ready", False, "ConnectionNotReady", "later", 1)
    assert [c["type"] for c in waiting] == ["Ready"]
    assert health(waiting) == kstatus.IN_PROGRESS
    assert health(set_condition(waiting, "Ready", True, "Resolved", "", 1)) == kstatus.CURRENT
    assert health(set_condition(None, "Ready", True, "Resolved", "", 1), observed=0) == (
        kstatus.IN_PROGRESS
    )


def test_reconciling_is_present_only_while_work_is_under_way() -> None:
    working = set_abnormal(
        set_condition(None, "Ready", True, "Resolved", "", 1),
        RECONCILING,
        True,
        "InitialRun",
        "",
        1,
    )
    assert health(working) == kstatus.IN_PROGRESS
    done = set_abnormal(working, RECONCILING, False, "", "", 1)
    assert [c["type"] for c in done] == ["Ready"]
    assert health(done) == kstatus.CURRENT
    stalled = set_condition(working, "Ready", False, "InvalidSpec", "bad", 1)
    assert RECONCILING not in [c["type"] for c in stalled], "a stalled object is not working"
    assert health(stalled) == kstatus.FAILED
