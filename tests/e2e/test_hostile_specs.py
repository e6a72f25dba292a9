"""What only the operator can decide about a spec is reported at the current generation
with a reason naming the field, one Warning Event, and a backoff shown in status.retry."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import Syncs, condition_of, marked, unique
from tests.e2e.vendors import MailchimpReader

pytestmark = pytest.mark.e2e


def _warnings(stack: Stack, name: str, reason: str) -> int:
    events = stack.kube.get_json(
        "events", "-n", stack.namespace, f"--field-selector=involvedObject.name={name}"
    )
    return sum(
        int(e.get("count") or 1)
        for e in events["items"]
        if e["reason"] == reason and e["type"] == "Warning"
    )


def _spec(list_id: str, marker: str, zone: str) -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
        "trigger": {
            "mode": "Scheduled",
            "schedule": {"frequency": "Daily", "at": "02:00", "timeZone": zone},
        },
    }


def test_an_unknown_time_zone_is_not_ready_reported_once_and_backed_off(
    stack: Stack, syncs: Syncs
) -> None:
    marker = unique("zone")
    list_id = MailchimpReader(stack.sim).new_audience(marker)
    syncs.apply(marker, _spec(list_id, marker, "Mars/Olympus"))
    body = syncs.wait_condition(marker, "Ready", "False")
    ready = condition_of(body, "Ready")
    assert ready is not None
    assert ready["reason"] == "UnknownTimeZone"
    assert ready["message"].startswith("spec.trigger.schedule.timeZone: 'Mars/Olympus'")
    assert ready["observedGeneration"] == body["metadata"]["generation"]
    retry = body["status"]["retry"]
    assert retry["reason"] == "UnknownTimeZone"
    assert retry["generation"] == body["metadata"]["generation"]
    first_retry = datetime.fromisoformat(retry["nextRetryTime"].replace("Z", "+00:00"))
    assert first_retry > datetime.now(UTC).replace(microsecond=0)

    # Retried later each time (5–10 s, then 10–20 s …), never every few seconds; the
    # Warning Event stays one.
    later = wait_for(
        lambda: (b := syncs.get(marker))["status"]["retry"]["failures"] >= 3 and b,
        timeout=90,
        what="two more tries",
    )
    assert later["status"]["retry"]["failures"] <= 4
    assert _warnings(stack, marker, "UnknownTimeZone") == 1

    # Fixed: Ready at the new generation, no backoff left.
    syncs.patch(marker, {"trigger": {"schedule": {"timeZone": "Europe/Madrid"}}})
    fixed = syncs.wait_condition(marker, "Ready", "True", timeout=30)
    assert condition_of(fixed, "Ready")["observedGeneration"] == fixed["metadata"]["generation"]  # type: ignore[index]
    wait_for(
        lambda: "retry" not in (syncs.get(marker).get("status") or {}),
        timeout=15,
        what="the backoff to end",
    )
    time.sleep(1)
    assert _warnings(stack, marker, "UnknownTimeZone") == 1
