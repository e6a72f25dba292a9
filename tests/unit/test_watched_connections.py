"""Connections read from kopf's watch (:mod:`crmsync.k8s.watched`), the API server only for
one not seen yet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from crmsync.k8s.api import NotFoundError
from crmsync.k8s.conditions import set_condition
from crmsync.k8s.readcache import ReadCache
from crmsync.k8s.secrets import FOR_RUN_SECONDS, SecretCache
from crmsync.k8s.watched import CONNECTIONS, Watched
from crmsync.reconcile.resolve import NotReadyError, ready_connection
from tests.unit.clock import Clock


def connection(name: str, ready: str = "True") -> dict[str, Any]:
    return {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"provider": "mailchimp", "credentialsSecretRef": {"name": "mc"}},
        "status": {"conditions": set_condition(None, "Ready", ready == "True", "Test", "", 1)},
    }


class Kube:
    """The API server's side: counts Connection reads."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.stored: dict[str, dict[str, Any]] = {}
        self.gets = 0

        async def read_secret(namespace: str, name: str) -> tuple[dict[str, str], str]:
            return {"apiKey": "key-us1"}, "1"

        self.secrets = SecretCache(read_secret)
        self.connections = ReadCache(
            lambda ns, name: self.get_custom("connections", ns, name), self.clock
        )

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        self.gets += 1
        if name not in self.stored:
            raise NotFoundError(name)
        return self.stored[name]


@pytest.fixture(autouse=True)
def empty_index() -> Iterator[None]:
    CONNECTIONS._bodies.clear()
    yield
    CONNECTIONS._bodies.clear()


async def ready(kube: Any, name: str = "mc", max_age: float = 120.0) -> str:
    resolved = await ready_connection(kube, "ns", name, ("mailchimp",), "campaign", max_age)  # type: ignore[arg-type]
    return str(resolved.body["metadata"]["name"])


async def test_a_watched_connection_is_not_read_from_the_api_server() -> None:
    kube = Kube()
    CONNECTIONS.seen(None, connection("mc"))
    for _ in range(5):
        assert await ready(kube) == "mc"
    assert kube.gets == 0


async def test_one_not_seen_yet_is_read() -> None:
    kube = Kube()
    kube.stored["mc"] = connection("mc")
    assert await ready(kube) == "mc"
    assert kube.gets == 1


async def test_the_latest_event_counts_and_a_deleted_one_is_gone() -> None:
    kube = Kube()
    CONNECTIONS.seen("ADDED", connection("mc", ready="True"))
    CONNECTIONS.seen("MODIFIED", connection("mc", ready="False"))
    with pytest.raises(NotReadyError) as not_ready:
        await ready(kube)
    assert not_ready.value.reason == "ConnectionNotReady"
    CONNECTIONS.seen("DELETED", connection("mc"))
    with pytest.raises(NotReadyError) as gone:
        await ready(kube)
    assert gone.value.reason == "ConnectionNotFound"


def test_namespaces_are_apart() -> None:
    index = Watched()
    other = connection("mc")
    other["metadata"]["namespace"] = "other"
    index.seen(None, other)
    assert index.get("ns", "mc") is None
    assert index.get("other", "mc") == other


async def test_a_run_reads_the_connection_as_the_api_server_holds_it() -> None:
    """A user changes the Connection and asks for a run at once: the run sees the change,
    whether or not kopf's watch has shown it yet; runs starting together share the read."""
    kube = Kube()
    CONNECTIONS.seen(None, connection("mc", ready="True"))
    kube.stored["mc"] = connection("mc", ready="False")
    with pytest.raises(NotReadyError):
        await ready(kube, max_age=FOR_RUN_SECONDS)
    kube.stored["mc"] = connection("mc", ready="True")
    await asyncio.gather(*(ready(kube, max_age=FOR_RUN_SECONDS) for _ in range(3)))
    assert kube.gets == 2
