"""The one HTTP client every vendor client uses: limits, retries, error classes, counters.

httpx itself retries only failed connects (``transport retries``), so everything else a
SaaS API throws at a long-running sync is handled here: 429 and 503 honour
``Retry-After`` (seconds or an HTTP date), other 5xx, timeouts and network errors back
off exponentially with full jitter, and every request is bounded by a maximum number of
attempts and a maximum elapsed time. Concurrency and request rate are capped per client
(one client per Connection).

Failures reach callers as one of three exception classes, chosen by :data:`STATUS_ERRORS`
and by each vendor's own code table: :class:`AuthError` and :class:`ConfigError` are
terminal (fix the Connection or the sync spec), :class:`TransientError` means "try the
run again later". Messages never carry credentials: each client registers its secrets
with :meth:`HttpClient.add_secrets` and every message is scrubbed of them.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import IO, Any, Protocol, TypeVar

import httpx

from crmsync.providers.tls import vendor_tls

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
JITTER = random.Random()
"""Backoff jitter for every client: a Random of its own costs each client 2.5 KiB and a
seeding from os.urandom, and clients are opened by every run and channel check."""
USER_AGENT = "crmsync-operator/0.1 (+https://crmsync.dev)"
T = TypeVar("T")


# --- errors -------------------------------------------------------------------------


class ProviderError(Exception):
    """A vendor call that failed; ``status`` and ``code`` are the vendor's, when known."""

    terminal = False

    def __init__(
        self,
        message: str,
        *,
        vendor: str = "",
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.status = status
        self.code = code
        self.retry_after = retry_after
        """For transient errors: seconds the vendor asked us to wait, when it said so."""


class AuthError(ProviderError):
    """Credentials refused: the Connection is not Ready until its Secret is fixed."""

    terminal = True


class ConfigError(ProviderError):
    """The request can never succeed as configured (unknown list, unmappable field…)."""

    terminal = True


class TransientError(ProviderError):
    """Rate limits, outages or timeouts that outlasted the retry budget."""


STATUS_ERRORS: Mapping[int, type[ProviderError]] = {
    400: ConfigError,
    401: AuthError,
    403: AuthError,
    404: ConfigError,
    405: ConfigError,
    409: ConfigError,
    413: ConfigError,
    415: ConfigError,
    422: ConfigError,
    429: TransientError,
}
"""HTTP status → error class; anything else ≥ 500 is transient, other 4xx are config."""


def error_class_for(status: int) -> type[ProviderError]:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return TransientError if status >= 500 else ConfigError


# --- counters -----------------------------------------------------------------------


class CallObserver(Protocol):
    """Optional hook told about every request and retry (the operator's metrics use it)."""

    def request_done(self, vendor: str, method: str, path: str, status_class: str) -> None: ...

    def retry_scheduled(self, vendor: str, reason: str, delay: float) -> None:
        """``reason``: ``rate_limited``, ``server_error`` or ``network``."""
        ...


@dataclass
class CallStats:
    """What one run cost: the caller creates it, passes it to clients and reads it after."""

    api_calls: int = 0
    """HTTP requests sent, retries included."""
    retries: int = 0
    """Requests re-sent after a retryable failure."""
    rate_limited: int = 0
    """Answers that were 429 (or a vendor's "retry later" inside a 200)."""
    token_refreshes: int = 0
    by_status_class: Counter[str] = field(default_factory=Counter)
    """``2xx`` / ``3xx`` / ``4xx`` / ``5xx`` / ``network`` (timeouts and connection errors)."""
    observer: CallObserver | None = field(default=None, repr=False, compare=False)

    def record(
        self, status_class: str, *, vendor: str = "", method: str = "", path: str = ""
    ) -> None:
        self.api_calls += 1
        self.by_status_class[status_class] += 1
        if self.observer is not None:
            self.observer.request_done(vendor, method, path, status_class)


# --- limits -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_elapsed: float = 120.0
    """Seconds from the first attempt after which no new attempt starts."""
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff: uniform in [0, min(max, base·2^n)]."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return rng.uniform(0, ceiling)


@dataclass(frozen=True)
class Limits:
    max_concurrency: int = 5
    requests_per_second: float = 10.0
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    """Mailchimp holds a request up to 120 s before it times out on its side."""


class TokenBucket:
    """Allows ``rate`` requests per second on average, bursting up to ``capacity``."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


def retry_after_seconds(
    response: httpx.Response, now: Callable[[], float] = time.time
) -> float | None:
    """The ``Retry-After`` header as seconds: a number, or an HTTP date in the future."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


# --- the client ---------------------------------------------------------------------


class Authenticator(Protocol):
    """Adds credentials to requests that cannot carry them statically (OAuth tokens)."""

    async def auth_headers(self) -> dict[str, str]: ...

    async def refresh(self, rejected_headers: Mapping[str, str]) -> None:
        """The API answered 401 to these headers: get a new token before one retry."""
        ...


RetryWhen = Callable[[httpx.Response], bool]
Sleep = Callable[[float], Awaitable[None]]


def default_retry_when(response: httpx.Response) -> bool:
    return response.status_code in RETRYABLE_STATUSES


_POOLS: weakref.WeakKeyDictionary[
    asyncio.Semaphore, dict[tuple[str, Limits], httpx.AsyncClient]
] = weakref.WeakKeyDictionary()
"""Connection pools by the Connection budget they serve (its in-flight semaphore, one per
Connection, limits and event loop): a budget dropped (limits changed) drops its pools."""


class HttpClient:
    """One vendor account's HTTP client. Use as an async context manager."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        stats: CallStats,
        *,
        limits: Limits | None = None,
        policy: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
        authenticator: Authenticator | None = None,
        retry_when: RetryWhen = default_retry_when,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        shared: tuple[asyncio.Semaphore, TokenBucket] | None = None,
    ) -> None:
        """``shared``: the account's in-flight limit and pace, when other clients of the
        same account draw from them too (:mod:`crmsync.providers.budget`)."""
        self.vendor = vendor
        self.stats = stats
        self.limits = limits or Limits()
        self.policy = policy or RetryPolicy()
        self.authenticator = authenticator
        self.retry_when = retry_when
        self._sleep = sleep
        self._rng = rng or JITTER
        self._secrets: set[str] = set()
        self._semaphore, self._bucket = shared or (
            asyncio.Semaphore(self.limits.max_concurrency),
            TokenBucket(self.limits.requests_per_second),
        )
        self._base_url = base_url
        # Sent with each request, not set on the pool: pools are shared by host.
        self._auth: Any = auth if auth is not None else httpx.USE_CLIENT_DEFAULT
        self._transport = transport
        self._pool_owner = shared[0] if shared is not None and transport is None else None
        self._opened: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        """Opened on first use (a token client often has nothing to send). The clients of
        one Connection's budget share one connection pool per host: no pool to build per
        run, and kept-alive connections (no TLS handshake) from one run to the next."""
        if self._opened is None:
            if self._pool_owner is None:
                self._opened = self._new_pool()
            else:
                pools = _POOLS.setdefault(self._pool_owner, {})
                key = (self._base_url, self.limits)
                if key not in pools:
                    pools[key] = self._new_pool()
                self._opened = pools[key]
        return self._opened

    def _new_pool(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self._base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=httpx.Timeout(
                self.limits.read_timeout, connect=self.limits.connect_timeout, pool=None
            ),
            limits=httpx.Limits(
                max_connections=self.limits.max_concurrency,
                max_keepalive_connections=self.limits.max_concurrency,
            ),
            transport=self._transport,
            verify=vendor_tls(),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"HttpClient(vendor={self.vendor!r}, base_url={self._base_url!r})"

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the client's own pool; a Connection's shared pool stays open."""
        if self._opened is not None and self._pool_owner is None:
            await self._opened.aclose()

    def add_secrets(self, values: Iterable[str]) -> None:
        """Values that must never appear in an error message (keys, tokens, secrets)."""
        self._secrets.update(v for v in values if v)

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def error(
        self,
        cls: type[ProviderError],
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
    ) -> ProviderError:
        return cls(
            self.scrub(f"{self.vendor}: {message}"),
            vendor=self.vendor,
            status=status,
            code=code,
            retry_after=retry_after,
        )

    def status_error(
        self, response: httpx.Response, what: str, code: str = "", detail: str = ""
    ) -> ProviderError:
        """The classified error for an unexpected status (see :data:`STATUS_ERRORS`)."""
        status = response.status_code
        text = f"{what} failed with HTTP {status}"
        if code:
            text += f" {code}"
        if detail:
            text += f": {detail[:300]}"
        retry_after = retry_after_seconds(response) if status in RETRYABLE_STATUSES else None
        return self.error(
            error_class_for(status), text, status=status, code=code, retry_after=retry_after
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
        sink: IO[bytes] | None = None,
    ) -> httpx.Response:
        """Send with retries. Answers below 400 (or listed in ``accept``) are returned;
        any other final answer raises the classified :class:`ProviderError`.

        ``sink``: a 2xx body is streamed into this file (rewound first, so a retry starts
        over) instead of being held in memory; the response returned has no content."""
        what = f"{method} {path}"
        started = time.monotonic()
        attempt, refreshed = 0, False
        while True:
            attempt += 1
            sent_headers = dict(headers or {})
            if self.authenticator is not None:
                sent_headers.update(await self.authenticator.auth_headers())
            try:
                response = await self._send_once(
                    method, path, params=params, json=json, data=data, headers=sent_headers,
                    sink=sink,
                )  # fmt: skip
            except httpx.TransportError as exc:
                self.stats.record("network", vendor=self.vendor, method=method, path=path)
                delay = self._next_delay(attempt, started, None)
                if delay is None:
                    raise self.error(
                        TransientError,
                        f"{what} failed after {attempt} attempts: {type(exc).__name__}",
                    ) from None
                await self._retry_after_delay(delay, "network")
                continue
            self.stats.record(
                f"{response.status_code // 100}xx", vendor=self.vendor, method=method, path=path
            )
            if response.status_code == 401 and self.authenticator is not None and not refreshed:
                refreshed = True
                attempt -= 1
                self.stats.token_refreshes += 1
                await self.authenticator.refresh(sent_headers)
                continue
            if not self.retry_when(response):
                if response.status_code < 400 or response.status_code in accept:
                    return response
                raise self.status_error(response, what, detail=_short_body(response))
            if response.status_code == 429 or response.status_code < 400:
                self.stats.rate_limited += 1
            hinted = retry_after_seconds(response)
            delay = self._next_delay(attempt, started, hinted)
            if delay is None:
                if response.status_code < 400:
                    # A "retry later" inside a 200 (Zoho Campaigns' API lock).
                    raise self.error(
                        TransientError,
                        f"{what}: the vendor asked to retry later",
                        status=response.status_code,
                        retry_after=hinted,
                    )
                raise self.status_error(
                    response, f"{what} (after {attempt} attempts)", detail=_short_body(response)
                )
            limited = response.status_code == 429 or response.status_code < 400
            await self._retry_after_delay(delay, "rate_limited" if limited else "server_error")

    def _next_delay(self, attempt: int, started: float, hinted: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is spent."""
        if attempt >= self.policy.max_attempts:
            return None
        delay = hinted if hinted is not None else self.policy.backoff(attempt, self._rng)
        if time.monotonic() - started + delay > self.policy.max_elapsed:
            return None
        return delay

    async def _retry_after_delay(self, delay: float, reason: str = "server_error") -> None:
        self.stats.retries += 1
        if self.stats.observer is not None:
            self.stats.observer.retry_scheduled(self.vendor, reason, delay)
        await self._sleep(delay)

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        sink: IO[bytes] | None = None,
    ) -> httpx.Response:
        await self._bucket.acquire()
        async with self._semaphore:
            if sink is None:
                response = await self._client.request(
                    method, path, params=params, json=json, data=data, headers=headers,
                    auth=self._auth,
                )  # fmt: skip
                await response.aread()
                return response
            request = self._client.build_request(
                method, path, params=params, json=json, data=data, headers=headers
            )
            response = await self._client.send(request, stream=True, auth=self._auth)
            try:
                if not 200 <= response.status_code < 300:
                    await response.aread()
                    return response
                sink.seek(0)
                sink.truncate()
                async for chunk in response.aiter_bytes():
                    sink.write(chunk)
                return response
            finally:
                await response.aclose()


def _short_body(response: httpx.Response) -> str:
    """The vendor's error message, for the exception text (problem detail / Zoho message)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "title"):
            if isinstance(body.get(key), str):
                code = body.get("code")
                return f"{code}: {body[key]}" if isinstance(code, str) and code else str(body[key])
    return str(body)[:200]


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive slices of at most ``size`` items."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
