"""Reads that are the account's are shared by the syncs of a Connection (issue 14)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx

from crmsync.providers.factory import Endpoint, open_target
from crmsync.providers.http import CallStats, HttpClient, Limits
from crmsync.providers.mailchimp import Mailchimp
from crmsync.providers.shared import AudienceShare, Recent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_read_at_a_time_kept_for_a_while_then_read_again() -> None:
    clock, reads = Clock(), Counter[str]()

    async def check() -> None:
        recent: Recent[str, int] = Recent(keep=60, clock=clock)

        async def read() -> int:
            reads["a"] += 1
            await asyncio.sleep(0.01)
            return reads["a"]

        assert await asyncio.gather(*(recent.get("a", read) for _ in range(5))) == [1] * 5
        clock.now += 59
        assert await recent.get("a", read) == 1
        clock.now += 1
        assert await recent.get("a", read) == 2
        recent.put("a", 7)  # what this process made it
        assert await recent.get("a", read) == 7 and recent.peek("a") == 7
        recent.forget("a")
        assert recent.peek("a") is None
        assert await recent.get("a", read) == 3

    asyncio.run(check())


def test_a_failed_read_is_not_kept() -> None:
    calls = 0

    async def check() -> None:
        recent: Recent[str, int] = Recent()

        async def read() -> int:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("down")
            return calls

        try:
            await recent.get("a", read)
        except RuntimeError:
            pass
        assert await recent.get("a", read) == 2

    asyncio.run(check())


def test_after_only_takes_a_read_started_since_and_queues_one_behind_an_older() -> None:
    clock, starts = Clock(), []

    async def check() -> None:
        recent: Recent[str, float] = Recent(clock=clock)
        gate = asyncio.Event()

        async def read() -> float:
            starts.append(clock.now)
            await gate.wait()
            return clock.now

        first = asyncio.create_task(recent.get("v", read, after=clock.now))
        await asyncio.sleep(0.01)
        clock.now += 1  # three runs end their writes while the first read is under way
        later = [asyncio.create_task(recent.get("v", read, after=clock.now)) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert starts == [100.0]  # the later ones wait for the first read to end
        clock.now += 1
        gate.set()
        assert await first == 102.0
        assert await asyncio.gather(*later) == [102.0] * 3
        assert starts == [100.0, 102.0]  # one read for the three, begun after their writes
        # A read begun after a run's writes is good for it; one begun before is not.
        assert await recent.get("v", read, after=102.0) == 102.0
        clock.now += 1
        assert await recent.get("v", read, after=clock.now) == 103.0

    asyncio.run(check())


def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    async def check() -> None:
        recent: Recent[str, int] = Recent()
        gate = asyncio.Event()

        async def read() -> int:
            await gate.wait()
            return 5

        gone = asyncio.create_task(recent.get("a", read))
        stays = asyncio.create_task(recent.get("a", read))
        await asyncio.sleep(0)
        gone.cancel()
        gate.set()
        assert await stays == 5

    asyncio.run(check())


def audience_api(calls: Counter[str]) -> httpx.MockTransport:
    fields = {"FNAME"}
    tags: dict[str, int] = {}

    async def answer(request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        calls[route] += 1
        await asyncio.sleep(0.005)
        if route == "GET /3.0/lists/L/merge-fields":
            return httpx.Response(200, json={"merge_fields": [{"tag": t} for t in fields]})
        if route == "POST /3.0/lists/L/merge-fields":
            fields.add(str(_json(request)["tag"]))
            return httpx.Response(200, json={})
        if route == "GET /3.0/lists/L/segments":
            rows = [{"id": i, "name": n} for n, i in tags.items()]
            return httpx.Response(200, json={"segments": rows})
        if route == "POST /3.0/lists/L/segments":
            tags[str(_json(request)["name"])] = len(tags) + 1
            return httpx.Response(200, json={"id": len(tags)})
        return httpx.Response(200, json={})

    return httpx.MockTransport(answer)


def _json(request: httpx.Request) -> dict[str, object]:
    return dict(json.loads(request.content))


def test_syncs_of_one_account_read_fields_and_tags_once_and_create_each_once() -> None:
    calls: Counter[str] = Counter()

    async def check() -> None:
        share, transport = AudienceShare(), audience_api(calls)
        clients = [
            Mailchimp(HttpClient("mailchimp", "http://mc", CallStats(), limits=Limits(),
                                 transport=transport), share)
            for _ in range(10)
        ]  # fmt: skip
        await asyncio.gather(*(c.ensure_text_field("L", "CRMID", "CRM") for c in clients))
        assert {"FNAME", "CRMID"} <= await clients[0].field_names("L")
        ids = await asyncio.gather(*(c._tag_id("L", f"crmsync:ns/s{i % 3}") for i, c in enumerate(clients)))  # fmt: skip
        assert len(set(ids)) == 3
        clients[0].forget("L")  # a failed run: read again
        await clients[1].field_names("L")
        for client in clients:
            await client.__aexit__()

    asyncio.run(check())
    assert calls["GET /3.0/lists/L/merge-fields"] == 2
    assert calls["POST /3.0/lists/L/merge-fields"] == 1
    assert calls["GET /3.0/lists/L/segments"] == 1
    assert calls["POST /3.0/lists/L/segments"] == 3


def test_clients_of_one_connection_find_one_share_and_a_rotated_key_a_new_one() -> None:
    def share(connection: str, key: str = "k-us1") -> AudienceShare:
        endpoint = Endpoint(
            provider="mailchimp", credentials={"apiKey": key}, connection=connection
        )
        target = open_target(endpoint, CallStats())
        assert isinstance(target, Mailchimp)
        return target.shared

    async def check() -> None:
        assert share("ns/mc") is share("ns/mc")
        assert share("ns/mc") is not share("ns/other")
        assert share("ns/mc", "k2-us1") is not share("ns/mc")
        assert share("") is not share("")  # CLI and tests: a client of its own

    asyncio.run(check())


def test_a_gathering_read_is_shared_by_the_callers_that_come_while_it_waits() -> None:
    reads = 0

    async def check() -> None:
        nonlocal reads
        recent: Recent[str, int] = Recent(gather=0.05)

        async def read() -> int:
            nonlocal reads
            reads += 1
            return reads

        first = asyncio.create_task(recent.get("v", read, after=time.monotonic()))
        await asyncio.sleep(0.01)
        # Ended their writes after the first asked, before its read began: it will do.
        later = [recent.get("v", read, after=time.monotonic()) for _ in range(3)]
        assert await asyncio.gather(first, *later) == [1, 1, 1, 1]

    asyncio.run(check())
    assert reads == 1
