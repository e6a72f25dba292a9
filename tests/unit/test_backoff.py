"""Repeated failures back off exponentially with jitter, are reported once, and show in
status.retry; CEL rules never read a field that may be absent."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from crmsync.api import crdgen
from crmsync.api.v1alpha1 import KINDS, Resource
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.engine.backoff import FIRST_RETRY, LONGEST_RETRY, retry_delay
from crmsync.engine.triggers import decide
from crmsync.reconcile.live import LiveObject
from crmsync.reconcile.retry import back_off, retry_at, validation_message
from tests.unit.test_triggers import NOW, SETTLED, spec


def test_the_wait_doubles_up_to_a_cap_and_jitter_spreads_it() -> None:
    lows = [retry_delay(n, 0.0) for n in range(1, 30)]
    highs = [retry_delay(n, 0.999) for n in range(1, 30)]
    assert lows[0] == FIRST_RETRY / 2 and highs[0] < FIRST_RETRY
    assert lows[1] == 2 * lows[0] and lows[2] == 4 * lows[0]
    assert all(a <= b for a, b in itertools.pairwise(lows))
    assert max(highs) <= LONGEST_RETRY and lows[-1] == LONGEST_RETRY / 2
    assert retry_delay(10**9, 0.5) <= LONGEST_RETRY


def test_no_run_while_backing_off_except_one_asked_for() -> None:
    failing = replace(SETTLED, last_full_sync=None, retry_at=NOW + timedelta(minutes=3))
    waiting = decide(spec(), failing, NOW)
    assert waiting.trigger is None and waiting.next_check == NOW + timedelta(minutes=3)
    assert decide(spec(), replace(failing, sync_now="x"), NOW).trigger == "Manual"
    assert decide(spec(), replace(failing, retry_at=NOW), NOW).trigger == "FullResync"


class FakeKube:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.events: list[tuple[str, str]] = []

    async def patch_status(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        status = self.body.setdefault("status", {})
        for key, value in patch.items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = value
        meta = self.body["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        return {**self.body, "status": dict(status)}

    async def post_event(
        self, obj: dict[str, Any], *, type_: str, reason: str, message: str
    ) -> None:
        self.events.append((type_, reason))


class Logger:
    def warning(self, *args: Any) -> None: ...
    def debug(self, *args: Any) -> None: ...


class Obj(LiveObject):
    plural = "contactsyncs"

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube  # type: ignore[assignment]
        self.logger = Logger()  # type: ignore[assignment]
        self.live_body = kube.body
        self.written = None


async def test_a_repeated_failure_posts_one_event_and_waits_longer_each_time() -> None:
    body = {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": "ContactSync",
        "metadata": {"name": "s", "namespace": "n", "generation": 3, "resourceVersion": "1"},
        "spec": {},
        "status": {},
    }
    kube = FakeKube(body)
    obj = Obj(kube)
    message = "spec.trigger.schedule.timeZone: 'Mars/Olympus' is not a time zone"
    first = await back_off(obj, obj.snapshot(), "UnknownTimeZone", message)
    assert kube.events == [("Warning", "UnknownTimeZone")]
    retry = obj.snapshot()["status"]["retry"]
    assert retry["failures"] == 1 and retry["generation"] == 3
    assert retry_at(obj.snapshot()) == first
    ready = obj.snapshot()["status"]["conditions"][0]
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == (
        "False",
        "UnknownTimeZone",
        3,
    )
    assert "timeZone" in ready["message"]

    # Woken early (a watch event): the same wait, nothing counted or posted.
    assert await back_off(obj, obj.snapshot(), "UnknownTimeZone", message) == first
    assert obj.snapshot()["status"]["retry"]["failures"] == 1

    delays = []
    for _ in range(4):
        obj.snapshot()["status"]["retry"]["nextRetryTime"] = "2000-01-01T00:00:00Z"
        before = datetime.now(UTC)
        delays.append(await back_off(obj, obj.snapshot(), "UnknownTimeZone", message) - before)
    assert obj.snapshot()["status"]["retry"]["failures"] == 5
    assert delays[-1] > delays[0] * 3
    assert kube.events == [("Warning", "UnknownTimeZone")]

    # A spec change is a new generation: counted afresh, and reported again.
    body["metadata"]["generation"] = 4
    assert retry_at(obj.snapshot()) is None
    await back_off(obj, obj.snapshot(), "UnknownTimeZone", message)
    assert obj.snapshot()["status"]["retry"]["failures"] == 1
    assert len(kube.events) == 2


# --- CEL rules are total -------------------------------------------------------------------

_SELF_FIELD = re.compile(r"\b(self|oldSelf)\.([A-Za-z]+)")


def _rule_nodes(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)] if node.get("x-kubernetes-validations") else []
    for name, sub in (node.get("properties") or {}).items():
        found += _rule_nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += _rule_nodes(node["items"], f"{path}[]")
    return found


@pytest.mark.parametrize("model", KINDS, ids=[k.kind_info.kind for k in KINDS])
def test_cel_rules_read_only_fields_that_are_always_there(model: type[Resource]) -> None:
    """A field a rule reads is required, has a schema default, or the rule asks has()
    first — else the API server answers "no such key" instead of applying the rule."""
    schema = crdgen.crd_for(model)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _rule_nodes(schema):
        if node.get("type") != "object":
            continue  # rules on lists and strings use macros (self.all) and self itself
        required = set(node.get("required") or [])
        properties = node.get("properties") or {}
        for rule in node["x-kubernetes-validations"]:
            for _, name in _SELF_FIELD.findall(rule["rule"]):
                guarded = f"has(self.{name})" in rule["rule"]
                defaulted = "default" in properties.get(name, {})
                assert name in required or defaulted or guarded, (
                    f"{path}: rule {rule['rule']!r} reads {name}, which may be absent"
                )


def test_an_invalid_spec_is_reported_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        ContactSyncSpec.model_validate(
            {
                "crm": {"connectionRef": {"name": "c"}, "module": "Leads"},
                "target": {"connectionRef": {"name": "t"}},
                "trigger": {"pollInterval": "0s"},
            }
        )
    message = validation_message(refused.value)
    assert message.startswith("spec.trigger.pollInterval: ")
    assert "from 30s to 24h" in message


async def test_a_connection_becoming_ready_wakes_the_loops_waiting_on_it() -> None:
    from crmsync.reconcile.contactsync import SyncSignals
    from crmsync.reconcile.waiting import connection_ready, stop_waiting, wait_for_connections

    here, there, done = SyncSignals(), SyncSignals(), SyncSignals()
    wait_for_connections("team", "contactsyncs", "a", here)
    wait_for_connections("other", "contactsyncs", "b", there)
    wait_for_connections("team", "contactsyncs", "c", done)
    stop_waiting("team", "contactsyncs", "c")
    assert connection_ready("team") == 1
    assert here.wake.is_set() and here.dependency_changed
    assert not there.wake.is_set() and not done.wake.is_set()
    assert connection_ready("team") == 0  # woken once; it registers again if still failing
    stop_waiting("other", "contactsyncs", "b")
