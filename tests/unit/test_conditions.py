from __future__ import annotations

from crmsync.k8s.conditions import condition_status, set_condition


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = set_condition(None, "Ready", True, "Resolved", "ok", 1)
    same = set_condition(first, "Ready", True, "Resolved", "ok", 1)
    assert same == first, "an unchanged condition is returned as is (no status churn)"
    reworded = set_condition(first, "Ready", True, "Resolved", "still ok", 2)
    assert reworded[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert reworded[0]["observedGeneration"] == 2
    flipped = set_condition(first, "Ready", False, "SecretNotFound", "no secret", 2)
    assert condition_status(flipped, "Ready") == "False"
    assert flipped[0]["reason"] == "SecretNotFound"


def test_other_conditions_are_kept() -> None:
    both = set_condition(
        set_condition(None, "Ready", True, "R", "", 1), "Synced", None, "Pending", "", 1
    )
    assert [c["type"] for c in both] == ["Ready", "Synced"]
    assert condition_status(both, "Synced") == "Unknown"
