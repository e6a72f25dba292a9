"""Shared helpers for the ContactSync option tests: manifests, CRM people with a marker that
isolates each test's records, and waiting on runs and conditions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.vendors import CrmReader, crm_create_many

FAST_TRIGGER: dict[str, Any] = {"mode": "Instant", "pollInterval": "30s"}
"""The shortest poll the schema allows; changes arrive by notification well before."""
MARKER_FIELD = "Description"


def unique(prefix: str) -> str:
    """A short name no other test (or earlier session on the same servers) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def marked(marker: str) -> list[dict[str, Any]]:
    """Criteria that select only the records this test created (``Description`` = marker)."""
    return [{"field": MARKER_FIELD, "operator": "equals", "values": [marker]}]


def email_of(marker: str, index: int) -> str:
    return f"{marker}.{index}@example.com"


def manifest(name: str, spec: dict[str, Any]) -> str:
    """A ContactSync as JSON for ``kubectl apply -f -``."""
    return json.dumps(
        {
            "apiVersion": "crmsync.dev/v1alpha1",
            "kind": "ContactSync",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    values: dict[str, Any]


def create_people(
    crm: CrmReader,
    module: str,
    marker: str,
    count: int,
    extra: Callable[[int], dict[str, Any]] = lambda _: {},
) -> list[Person]:
    """``count`` records with unique emails, ``Description`` = marker, plus ``extra(i)``."""
    rows = [
        {
            "First_Name": f"First{i}",
            "Last_Name": f"Last{i}",
            "Email": email_of(marker, i),
            MARKER_FIELD: marker,
            **extra(i),
        }
        for i in range(count)
    ]
    ids = crm_create_many(crm, module, rows)
    return [Person(id_, row["Email"], row) for id_, row in zip(ids, rows, strict=True)]


@dataclass
class Syncs:
    """ContactSyncs of one test, applied with kubectl and deleted at its end."""

    stack: Stack
    names: list[str] = field(default_factory=list)

    def apply(self, name: str, spec: dict[str, Any]) -> None:
        self.stack.apply(manifest(name, spec))
        if name not in self.names:
            self.names.append(name)

    def patch(self, name: str, spec: dict[str, Any]) -> None:
        self.stack.kube.kubectl(
            "patch", "contactsync", name, "-n", self.stack.namespace, "--type=merge",
            "-p", json.dumps({"spec": spec}),
        )  # fmt: skip

    def sync_now(self, name: str) -> str:
        """Ask for a run now; returns the run id to wait after."""
        before = self.last_run_id(name)
        self.stack.kube.kubectl(
            "annotate", "contactsync", name, "-n", self.stack.namespace, "--overwrite",
            f"crmsync.dev/sync-now={uuid.uuid4().hex[:12]}",
        )  # fmt: skip
        return before

    def get(self, name: str) -> dict[str, Any]:
        return self.stack.get("contactsync", name)

    def last_run_id(self, name: str) -> str:
        return str(((self.get(name).get("status") or {}).get("lastRun") or {}).get("id", ""))

    def wait_run(self, name: str, *, after: str = "", timeout: float = 120) -> dict[str, Any]:
        return self.stack.wait_run(name, after=after, timeout=timeout)

    def wait_condition(
        self, name: str, type_: str, status: str, *, timeout: float = 60
    ) -> dict[str, Any]:
        """The ContactSync once condition ``type_`` has ``status``; its reason and message
        are in the failure text otherwise."""

        def reached() -> dict[str, Any] | None:
            body = self.get(name)
            found = condition_of(body, type_)
            return body if found is not None and found["status"] == status else None

        return wait_for(reached, timeout=timeout, what=f"{name} {type_}={status}")

    def delete(self, name: str) -> None:
        self.stack.kube.kubectl("delete", "contactsync", name, "-n", self.stack.namespace)
        self.names.remove(name)

    def delete_all(self) -> None:
        for name in self.names:
            self.stack.kube.kubectl(
                "delete", "contactsync", name, "-n", self.stack.namespace, "--wait=false"
            )


def condition_of(body: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (body.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return None


def syncs_for(stack: Stack) -> Iterator[Syncs]:
    """The body of the ``syncs`` fixture."""
    syncs = Syncs(stack)
    try:
        yield syncs
    finally:
        syncs.delete_all()
