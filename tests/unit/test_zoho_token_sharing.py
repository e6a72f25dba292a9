"""One Zoho access token per account: :class:`ZohoTokenSource` and the account registry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from crmsync.providers.accounts import REGISTRY, AccountKey, AccountRegistry
from crmsync.providers.http import AuthError, CallStats, HttpClient, TransientError
from crmsync.providers.zoho_auth import (
    DENIED_PAUSE_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    ZohoHosts,
    ZohoTokenSource,
    zoho_session,
)
from tests.unit.clock import Clock

DENIED = {
    "error_description": "You have made too many requests continuously. "
    "Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}


class Accounts:
    """A fake accounts server: mints numbered tokens, slowly, or refuses as told."""

    def __init__(self) -> None:
        self.mints = 0
        self.refuse: tuple[int, dict[str, str]] | None = None

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        if self.refuse is not None:
            return httpx.Response(self.refuse[0], json=self.refuse[1])
        self.mints += 1
        return httpx.Response(200, json={"access_token": f"tok-{self.mints}", "expires_in": 3600})

    def client(self) -> HttpClient:
        return HttpClient(
            "zoho-crm accounts",
            "http://accounts.test",
            CallStats(),
            transport=httpx.MockTransport(self.handler),
        )


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def source(clock: Clock) -> ZohoTokenSource:
    return ZohoTokenSource("id", "secret", "refresh", clock=clock)


async def test_fifty_callers_get_one_mint(accounts: Accounts, source: ZohoTokenSource) -> None:
    clients = [accounts.client() for _ in range(5)]
    tokens = await asyncio.gather(*(source.token(clients[i % 5]) for i in range(50)))
    assert set(tokens) == {"tok-1"}
    assert accounts.mints == 1 == source.minted


async def test_refreshed_shortly_before_expiry(
    accounts: Accounts, source: ZohoTokenSource, clock: Clock
) -> None:
    http = accounts.client()
    assert await source.token(http) == "tok-1"
    clock.now += 3600 - EXPIRY_MARGIN_SECONDS - 1
    assert await source.token(http) == "tok-1"
    clock.now += 2
    assert await source.token(http) == "tok-2"


async def test_a_rejected_token_is_replaced_once(
    accounts: Accounts, source: ZohoTokenSource
) -> None:
    http = accounts.client()
    await source.token(http)
    source.invalidate("tok-1")
    source.invalidate("tok-1")
    assert await asyncio.gather(*(source.token(http) for _ in range(10))) == ["tok-2"] * 10
    source.invalidate("tok-1")  # a late 401 for the old token changes nothing
    assert await source.token(http) == "tok-2"
    assert accounts.mints == 2


@pytest.mark.parametrize("status", [400, 200])
async def test_access_denied_is_transient_and_pauses_minting(
    accounts: Accounts, source: ZohoTokenSource, clock: Clock, status: int
) -> None:
    http = accounts.client()
    accounts.refuse = (status, DENIED)
    with pytest.raises(TransientError) as denied:
        await source.token(http)
    assert denied.value.code == "Access Denied"
    assert denied.value.retry_after == DENIED_PAUSE_SECONDS
    accounts.refuse = None
    with pytest.raises(TransientError, match="paused"):
        await source.token(http)
    assert accounts.mints == 0
    clock.now += DENIED_PAUSE_SECONDS
    assert await source.token(http) == "tok-1"


async def test_a_refused_client_is_an_auth_error(
    accounts: Accounts, source: ZohoTokenSource
) -> None:
    accounts.refuse = (200, {"error": "invalid_client"})
    with pytest.raises(AuthError, match="invalid_client"):
        await source.token(accounts.client())


def test_registry_keys_by_connection_and_credentials() -> None:
    registry = AccountRegistry()

    def key(connection: str, fp: str) -> AccountKey:
        return AccountKey(connection=connection, provider="zoho-crm", fingerprint=fp)

    first = registry.get(
        key("ns/crm", "a"), ZohoTokenSource, lambda: ZohoTokenSource("i", "s", "r")
    )
    again = registry.get(
        key("ns/crm", "a"), ZohoTokenSource, lambda: ZohoTokenSource("i", "s", "r")
    )
    other = registry.get(
        key("ns/other", "a"), ZohoTokenSource, lambda: ZohoTokenSource("i", "s", "r")
    )
    assert first is again and other is not first
    rotated = registry.get(
        key("ns/crm", "b"), ZohoTokenSource, lambda: ZohoTokenSource("i", "s", "r2")
    )
    assert rotated is not first
    assert len(registry) == 2  # ns/crm's old credentials are forgotten
    with pytest.raises(TypeError):
        registry.get(key("ns/x", "c"), ZohoTokenSource, lambda: "x")  # type: ignore[arg-type,return-value]


@pytest.fixture
def clean_registry() -> Iterator[None]:
    REGISTRY.clear()
    yield
    REGISTRY.clear()


HOSTS = ZohoHosts(api_base_url="http://api.test", accounts_url="http://accounts.test")
CREDENTIALS = {"clientId": "id", "clientSecret": "secret", "refreshToken": "refresh"}


@pytest.mark.usefixtures("clean_registry")
async def test_sessions_of_one_connection_share_the_source() -> None:
    sessions = [
        zoho_session("zoho-crm", HOSTS, CREDENTIALS, CallStats(), connection="ns/crm")
        for _ in range(3)
    ]
    rotated = zoho_session(
        "zoho-crm", HOSTS, {**CREDENTIALS, "refreshToken": "new"}, CallStats(), connection="ns/crm"
    )
    other = zoho_session("zoho-crm", HOSTS, CREDENTIALS, CallStats(), connection="ns/crm2")
    try:
        assert len({id(s.oauth.source) for s in sessions}) == 1
        assert rotated.oauth.source is not sessions[0].oauth.source
        assert other.oauth.source is not sessions[0].oauth.source
        assert sessions[0].api.scrub("secret refresh") == "*** ***"
    finally:
        for session in [*sessions, rotated, other]:
            await session.aclose()
