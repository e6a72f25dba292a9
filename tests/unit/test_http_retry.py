"""The retry layer of :mod:`crmsync.providers.http`, against ``httpx.MockTransport``."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from crmsync.providers.http import (
    AuthError,
    CallStats,
    ConfigError,
    HttpClient,
    RetryPolicy,
    TokenBucket,
    TransientError,
    retry_after_seconds,
)

SECRET = "sk-very-secret-123"


class Recorder:
    """Answers from a script and records the delays the client slept."""

    def __init__(self, answers: list[httpx.Response | Exception]) -> None:
        self.answers: Iterator[httpx.Response | Exception] = iter(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def client(recorder: Recorder, stats: CallStats, policy: RetryPolicy | None = None) -> HttpClient:
    http = HttpClient(
        "test",
        "http://vendor.test",
        stats,
        policy=policy or RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0),
        transport=httpx.MockTransport(recorder.handler),
        sleep=recorder.sleep,
        rng=random.Random(7),
    )
    http.add_secrets([SECRET])
    return http


def ok() -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


async def test_retry_after_seconds_is_honoured() -> None:
    recorder = Recorder([httpx.Response(429, headers={"Retry-After": "3"}), ok()])
    stats = CallStats()
    async with client(recorder, stats) as http:
        response = await http.request("GET", "/things")
    assert response.status_code == 200
    assert recorder.sleeps == [3.0]
    assert (stats.api_calls, stats.retries, stats.rate_limited) == (2, 1, 1)
    assert stats.by_status_class == {"4xx": 1, "2xx": 1}


async def test_retry_after_http_date_is_honoured() -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    recorder = Recorder(
        [httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}), ok()]
    )
    async with client(recorder, CallStats()) as http:
        await http.request("GET", "/things")
    assert len(recorder.sleeps) == 1
    assert 17 <= recorder.sleeps[0] <= 20


def test_retry_after_parsing() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after_seconds(answer("0.05")) == 0.05
    assert retry_after_seconds(answer("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # in the past
    assert retry_after_seconds(answer("soon")) is None
    assert retry_after_seconds(httpx.Response(429)) is None


async def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    failures: list[httpx.Response | Exception] = [httpx.Response(500)] * 4
    recorder = Recorder([*failures, ok()])
    async with client(recorder, CallStats()) as http:
        await http.request("GET", "/things")
    ceilings = [1.0, 2.0, 4.0, 8.0]
    assert len(recorder.sleeps) == 4
    for slept, ceiling in zip(recorder.sleeps, ceilings, strict=True):
        assert 0 <= slept <= ceiling


def test_backoff_bounds_many_draws() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    for retry in range(1, 12):
        ceiling = min(4.0, 0.5 * 2 ** (retry - 1))
        draws = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # the jitter spans the whole range


async def test_timeouts_and_connection_errors_are_retried() -> None:
    request = httpx.Request("GET", "http://vendor.test/things")
    recorder = Recorder(
        [httpx.ReadTimeout("slow", request=request), httpx.ConnectError("refused"), ok()]
    )
    stats = CallStats()
    async with client(recorder, stats) as http:
        await http.request("GET", "/things")
    assert stats.retries == 2
    assert stats.by_status_class["network"] == 2


async def test_gives_up_after_max_attempts_with_transient_error() -> None:
    recorder = Recorder([httpx.Response(502)] * 5)
    stats = CallStats()
    async with client(recorder, stats) as http:
        with pytest.raises(TransientError) as caught:
            await http.request("GET", "/things")
    assert caught.value.status == 502
    assert len(recorder.requests) == 5
    assert stats.retries == 4


async def test_gives_up_when_retry_after_exceeds_the_time_budget() -> None:
    recorder = Recorder([httpx.Response(429, headers={"Retry-After": "1800"})])
    policy = RetryPolicy(max_attempts=5, max_elapsed=60)
    async with client(recorder, CallStats(), policy) as http:
        with pytest.raises(TransientError) as caught:
            await http.request("GET", "/things")
    assert recorder.sleeps == []
    assert caught.value.retry_after == 1800


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, ConfigError), (404, ConfigError), (401, AuthError), (403, AuthError)],
)
async def test_client_errors_are_terminal_and_not_retried(
    status: int, error: type[Exception]
) -> None:
    recorder = Recorder([httpx.Response(status, json={"detail": f"bad {SECRET}"})])
    async with client(recorder, CallStats()) as http:
        with pytest.raises(error) as caught:
            await http.request("GET", "/things")
    assert len(recorder.requests) == 1
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value)


async def test_accepted_client_errors_are_returned() -> None:
    recorder = Recorder([httpx.Response(400, json={"data": []})])
    async with client(recorder, CallStats()) as http:
        response = await http.request("PUT", "/things", accept=(400,))
    assert response.status_code == 400


async def test_custom_retry_rule_retries_a_200_answer() -> None:
    locked = httpx.Response(200, json={"code": "2101"}, headers={"Retry-After": "0.5"})
    recorder = Recorder([locked, ok()])
    stats = CallStats()

    def retry_when(response: httpx.Response) -> bool:
        return response.status_code == 200 and response.json().get("code") == "2101"

    http = HttpClient(
        "test", "http://vendor.test", stats, transport=httpx.MockTransport(recorder.handler),
        sleep=recorder.sleep, retry_when=retry_when,
    )  # fmt: skip
    async with http:
        await http.request("GET", "/things")
    assert recorder.sleeps == [0.5]
    assert stats.rate_limited == 1


class FakeAuth:
    def __init__(self) -> None:
        self.token = "t1"
        self.refreshed: list[str] = []

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.token}"}

    async def refresh(self, rejected_headers: Mapping[str, str]) -> None:
        self.refreshed.append(rejected_headers["Authorization"])
        self.token = "t2"


async def test_401_refreshes_the_token_once_and_retries() -> None:
    recorder = Recorder([httpx.Response(401), ok()])
    auth = FakeAuth()
    stats = CallStats()
    http = HttpClient(
        "test", "http://vendor.test", stats, authenticator=auth,
        transport=httpx.MockTransport(recorder.handler), sleep=recorder.sleep,
    )  # fmt: skip
    async with http:
        await http.request("GET", "/things")
    assert auth.refreshed == ["Zoho-oauthtoken t1"]
    assert recorder.requests[1].headers["Authorization"] == "Zoho-oauthtoken t2"
    assert stats.token_refreshes == 1


async def test_a_second_401_is_an_auth_error() -> None:
    recorder = Recorder([httpx.Response(401), httpx.Response(401)])
    http = HttpClient(
        "test", "http://vendor.test", CallStats(), authenticator=FakeAuth(),
        transport=httpx.MockTransport(recorder.handler), sleep=recorder.sleep,
    )  # fmt: skip
    async with http:
        with pytest.raises(AuthError):
            await http.request("GET", "/things")


async def test_token_bucket_paces_requests() -> None:
    now = [0.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    bucket = TokenBucket(rate=2.0, capacity=2.0, clock=clock)
    await bucket.acquire()
    await bucket.acquire()
    now[0] = 0.5  # half a second → one more token
    await bucket.acquire()
    assert bucket._tokens < 1
