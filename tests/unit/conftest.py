"""The planner and sync run tests run twice: with the run's containers in memory, and
with every container on disk from its first entry (:mod:`crmsync.runtime.spill`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest

from crmsync.engine import plan
from crmsync.engine.runmemory import RunMemory
from crmsync.runtime import spill

BOTH_WAYS = frozenset(
    {
        "tests.unit.test_plan",
        "tests.unit.test_plan_emails",
        "tests.unit.test_plan_shared",
        "tests.unit.test_record_index",
        "tests.unit.test_reverse",
        "tests.unit.test_sync_crm_opt_outs",
        "tests.unit.test_sync_pushdown",
        "tests.unit.test_spill_runs",
    }
)


@dataclass
class OnDiskPlanner(plan.Planner):
    memory: RunMemory = field(default_factory=lambda: spill.SpillingMemory(limit=0))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__ in BOTH_WAYS and "run_memory" in metafunc.fixturenames:
        metafunc.parametrize("run_memory", ["in memory", "on disk"], indirect=True)


@pytest.fixture(autouse=True)
def run_memory(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    where = getattr(request, "param", "in memory")
    if where == "on disk":
        monkeypatch.setattr(spill, "SPILL_AFTER", 0)
        for name in BOTH_WAYS:
            module = sys.modules.get(name)
            if module is not None and getattr(module, "Planner", None) is plan.Planner:
                monkeypatch.setattr(module, "Planner", OnDiskPlanner)
    return where
