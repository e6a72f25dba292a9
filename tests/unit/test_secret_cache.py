"""Secrets served from memory (:class:`SecretCache`) and the resolver's use of it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crmsync.k8s.api import NotFoundError
from crmsync.k8s.readcache import KEEP_SECONDS
from crmsync.k8s.secrets import FOR_RUN_SECONDS, MAX_AGE_SECONDS, SecretCache, SecretData
from crmsync.reconcile.resolve import forget_credentials, load_endpoint
from tests.unit.clock import Clock


class Secrets:
    """A fake API server's Secrets: counts reads, can hold a read until released."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict[str, str]] = {}
        self.version = 1
        self.reads = 0
        self.gate: asyncio.Event | None = None

    def put(self, name: str, **data: str) -> None:
        self.data["ns", name] = data
        self.version += 1

    async def read(self, namespace: str, name: str) -> SecretData:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if (namespace, name) not in self.data:
            raise NotFoundError(name)
        return dict(self.data[namespace, name]), str(self.version)


@pytest.fixture
def api() -> Secrets:
    api = Secrets()
    api.put("mc", apiKey="one")
    return api


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(api: Secrets, clock: Clock) -> SecretCache:
    return SecretCache(api.read, clock)


async def test_a_fresh_entry_is_served_from_memory(
    api: Secrets, clock: Clock, cache: SecretCache
) -> None:
    assert await cache.get("ns", "mc") == ({"apiKey": "one"}, "2")
    clock.now += MAX_AGE_SECONDS - 1
    assert await cache.get("ns", "mc") == ({"apiKey": "one"}, "2")
    assert api.reads == 1


async def test_an_old_entry_is_read_again(api: Secrets, clock: Clock, cache: SecretCache) -> None:
    await cache.get("ns", "mc")
    api.put("mc", apiKey="two")
    clock.now += MAX_AGE_SECONDS
    assert await cache.get("ns", "mc") == ({"apiKey": "two"}, "3")
    assert api.reads == 2
    assert await cache.get("ns", "mc", max_age=10 * MAX_AGE_SECONDS) == ({"apiKey": "two"}, "3")
    assert api.reads == 2


@pytest.mark.parametrize("noticed_by", ["the Connection's timer", "refused credentials"])
async def test_a_rotated_secret_reaches_every_user(
    api: Secrets, cache: SecretCache, noticed_by: str
) -> None:
    await cache.get("ns", "mc")
    api.put("mc", apiKey="rotated")
    if noticed_by == "the Connection's timer":
        assert (await cache.refresh("ns", "mc"))[0] == {"apiKey": "rotated"}
    else:
        cache.forget("ns", "mc")
    assert (await cache.get("ns", "mc"))[0] == {"apiKey": "rotated"}
    assert api.reads == 2


async def test_forget_namespace_drops_only_that_namespace(api: Secrets, cache: SecretCache) -> None:
    api.data["other", "mc"] = {"apiKey": "elsewhere"}
    await cache.get("ns", "mc")
    await cache.get("other", "mc")
    cache.forget_namespace("ns")
    await cache.get("ns", "mc")
    await cache.get("other", "mc")
    assert api.reads == 3


async def test_concurrent_misses_share_one_read(api: Secrets, cache: SecretCache) -> None:
    api.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.get("ns", "mc")) for _ in range(100)]
    await asyncio.sleep(0)
    api.gate.set()
    assert {str(r) for r in await asyncio.gather(*waiting)} == {str(({"apiKey": "one"}, "2"))}
    assert api.reads == 1


async def test_a_cancelled_reader_leaves_the_read_to_the_others(
    api: Secrets, cache: SecretCache
) -> None:
    api.gate = asyncio.Event()
    first = asyncio.create_task(cache.get("ns", "mc"))
    second = asyncio.create_task(cache.get("ns", "mc"))
    await asyncio.sleep(0)
    first.cancel()
    api.gate.set()
    assert (await second)[0] == {"apiKey": "one"}
    assert api.reads == 1


async def test_a_read_begun_before_forget_is_not_kept(api: Secrets, cache: SecretCache) -> None:
    api.gate = asyncio.Event()
    stale = asyncio.create_task(cache.get("ns", "mc"))
    await asyncio.sleep(0)
    cache.forget("ns", "mc")
    api.gate.set()
    await stale
    api.gate = None
    api.put("mc", apiKey="new")
    assert (await cache.get("ns", "mc"))[0] == {"apiKey": "new"}


async def test_a_missing_secret_is_never_remembered(api: Secrets, cache: SecretCache) -> None:
    await cache.get("ns", "mc")
    del api.data["ns", "mc"]
    with pytest.raises(NotFoundError):
        await cache.refresh("ns", "mc")
    with pytest.raises(NotFoundError):
        await cache.get("ns", "mc")
    api.put("mc", apiKey="back")
    assert (await cache.get("ns", "mc"))[0] == {"apiKey": "back"}


async def test_callers_cannot_change_what_is_kept(cache: SecretCache) -> None:
    data, _ = await cache.get("ns", "mc")
    data["apiKey"] = "changed"
    assert (await cache.get("ns", "mc"))[0] == {"apiKey": "one"}


async def test_entries_of_gone_secrets_are_dropped(
    api: Secrets, clock: Clock, cache: SecretCache
) -> None:
    api.put("gone", apiKey="x")
    await cache.get("ns", "gone")
    clock.now += KEEP_SECONDS + 1
    await cache.get("ns", "mc")
    assert ("ns", "gone") not in cache._entries


class Kube:
    def __init__(self, cache: SecretCache) -> None:
        self.secrets = cache


def connection(secret: str = "mc") -> dict[str, Any]:
    return {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": "mailchimp", "namespace": "ns"},
        "spec": {"provider": "mailchimp", "credentialsSecretRef": {"name": secret}},
    }


async def test_endpoints_are_loaded_from_memory_and_verification_reads_anew(
    api: Secrets, cache: SecretCache
) -> None:
    kube: Any = Kube(cache)
    for _ in range(5):
        resolved = await load_endpoint(kube, "ns", connection())
    assert resolved.endpoint.credentials["apiKey"] == "one"
    assert api.reads == 1
    api.put("mc", apiKey="rotated")
    verified = await load_endpoint(kube, "ns", connection(), max_age=0)
    assert verified.endpoint.credentials["apiKey"] == "rotated"
    assert verified.secret_version == "3"
    assert (await load_endpoint(kube, "ns", connection())).endpoint.credentials["apiKey"] == (
        "rotated"
    )


async def test_refused_credentials_are_read_again(api: Secrets, cache: SecretCache) -> None:
    kube: Any = Kube(cache)
    resolved = await load_endpoint(kube, "ns", connection())
    api.put("mc", apiKey="fixed")
    forget_credentials(kube, resolved)
    assert (await load_endpoint(kube, "ns", connection())).endpoint.credentials["apiKey"] == "fixed"


async def test_a_run_reads_anew_and_runs_starting_together_share_the_read(
    api: Secrets, cache: SecretCache
) -> None:
    kube: Any = Kube(cache)
    await load_endpoint(kube, "ns", connection())
    api.put("mc", apiKey="changed")
    api.gate = asyncio.Event()
    runs = [
        asyncio.create_task(load_endpoint(kube, "ns", connection(), max_age=FOR_RUN_SECONDS))
        for _ in range(10)
    ]
    await asyncio.sleep(0)
    api.gate.set()
    assert {r.endpoint.credentials["apiKey"] for r in await asyncio.gather(*runs)} == {"changed"}
    assert api.reads == 2
