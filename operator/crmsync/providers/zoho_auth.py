"""Zoho Accounts OAuth (refresh-token flow) and the data-centre → host table.

Used by both Zoho clients. Zoho allows only 10 new access tokens per refresh token per
10 minutes, so the token is per account, not per client: every session of one Connection
(runs, channel checks, verifications) gets the same :class:`ZohoTokenSource` from
:data:`~crmsync.providers.accounts.REGISTRY`. Tokens live one hour; one is kept until
shortly before it expires, minted by at most one request at a time, and minted again
when the API answers 401 to a token we believed valid (revoked, or expired early). New
credentials (a rotated Secret) are another account key, hence a new token.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from crmsync.providers.accounts import REGISTRY, AccountKey, fingerprint
from crmsync.providers.http import (
    AuthError,
    CallStats,
    ConfigError,
    HttpClient,
    Limits,
    ProviderError,
    RetryPolicy,
    RetryWhen,
    TokenBucket,
    TransientError,
    default_retry_when,
)

TOKEN_HEADER_PREFIX = "Zoho-oauthtoken "
EXPIRY_MARGIN_SECONDS = 300.0
"""Refresh this long before the announced expiry, so no request goes out with a dying token."""
ACCESS_DENIED = "Access Denied"
DENIED_PAUSE_SECONDS = 60.0
"""After Zoho refused a token, ask again only this much later (its window is 10 minutes)."""

_DC_SUFFIX: Mapping[str, tuple[str, str]] = {
    # data centre → (API/product domain suffix, accounts host)
    "com": ("zoho.com", "accounts.zoho.com"),
    "eu": ("zoho.eu", "accounts.zoho.eu"),
    "in": ("zoho.in", "accounts.zoho.in"),
    "com.au": ("zoho.com.au", "accounts.zoho.com.au"),
    "jp": ("zoho.jp", "accounts.zoho.jp"),
    "ca": ("zohocloud.ca", "accounts.zohocloud.ca"),
    "com.cn": ("zoho.com.cn", "accounts.zoho.com.cn"),
    "sa": ("zoho.sa", "accounts.zoho.sa"),
}
_CRM_API_HOSTS: Mapping[str, str] = {
    "com": "https://www.zohoapis.com",
    "eu": "https://www.zohoapis.eu",
    "in": "https://www.zohoapis.in",
    "com.au": "https://www.zohoapis.com.au",
    "jp": "https://www.zohoapis.jp",
    "ca": "https://www.zohoapis.ca",
    "com.cn": "https://www.zohoapis.com.cn",
    "sa": "https://www.zohoapis.sa",
}


@dataclass(frozen=True)
class ZohoHosts:
    api_base_url: str
    accounts_url: str


def zoho_hosts(
    product: str, data_center: str | None, api_base_url: str | None, accounts_url: str | None
) -> ZohoHosts:
    """Hosts for ``product`` ("crm" or "campaigns"); explicit overrides win."""
    dc = data_center or "com"
    if dc not in _DC_SUFFIX:
        raise ConfigError(f"unknown Zoho data centre {dc!r}", vendor=f"zoho-{product}")
    domain, accounts_host = _DC_SUFFIX[dc]
    default_api = _CRM_API_HOSTS[dc] if product == "crm" else f"https://campaigns.{domain}"
    return ZohoHosts(
        api_base_url=(api_base_url or default_api).rstrip("/"),
        accounts_url=(accounts_url or f"https://{accounts_host}").rstrip("/"),
    )


class ZohoTokenSource:
    """The access token of one refresh token, shared by every session of that account.

    At most one mint is in flight per event loop; callers waiting meanwhile get its
    token (or its error). After Zoho refused a mint ("Access Denied": 10 tokens per
    refresh token per 10 minutes) no new attempt is made for ``DENIED_PAUSE_SECONDS``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._denied_until = 0.0
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.minted = 0

    def __repr__(self) -> str:
        return f"ZohoTokenSource(client_id={self._client_id!r}, minted={self.minted})"

    @property
    def secrets(self) -> list[str]:
        return [v for v in (self._client_secret, self._refresh_token, self._token) if v]

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def invalidate(self, rejected: str) -> None:
        """The API refused ``rejected``: drop it unless a newer token replaced it already."""
        if rejected and self._token == rejected:
            self._token = None

    async def token(self, accounts: HttpClient) -> str:
        """The live token, minted through ``accounts`` when there is none."""
        token = self._live()
        if token is not None:
            return token
        async with self._lock():
            token = self._live()
            if token is None:
                token = await self._mint(accounts)
            return token

    def _live(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        return None

    async def _mint(self, accounts: HttpClient) -> str:
        wait = self._denied_until - self._clock()
        if wait > 0:
            raise accounts.error(
                TransientError,
                f"token refresh paused for {wait:.0f} s: Zoho refused the last one "
                "(too many access tokens for this refresh token)",
                code=ACCESS_DENIED,
                retry_after=wait,
            )
        response = await accounts.request(
            "POST",
            "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "refresh_token": self._refresh_token,
            },
            accept=(400,),
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else "unreadable answer"
        if error or response.status_code >= 400:
            raise self._refused(accounts, str(error or f"HTTP {response.status_code}"))
        token = str(body["access_token"])
        lifetime = float(body.get("expires_in", 3600))
        self._token, self.minted = token, self.minted + 1
        self._expires_at = self._clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)
        return token

    def _refused(self, accounts: HttpClient, error: str) -> ProviderError:
        # Zoho answers a refused grant with {"error": ...} (HTTP 200, or 400 for its
        # throttle on token creation, "Access Denied").
        if error.lower() != ACCESS_DENIED.lower():
            return accounts.error(AuthError, f"token refresh refused: {error}", code=error)
        self._denied_until = self._clock() + DENIED_PAUSE_SECONDS
        return accounts.error(
            TransientError,
            "token refresh refused: Access Denied (too many access tokens for this "
            "refresh token; Zoho allows 10 per 10 minutes)",
            code=ACCESS_DENIED,
            retry_after=DENIED_PAUSE_SECONDS,
        )


class ZohoOAuth:
    """One session's view of a shared :class:`ZohoTokenSource`; an
    :class:`~crmsync.providers.http.Authenticator` that also has its clients scrub tokens."""

    def __init__(self, accounts: HttpClient, source: ZohoTokenSource) -> None:
        self._accounts = accounts
        self.source = source
        self._scrubbers: list[HttpClient] = []
        self.protect(accounts)

    def protect(self, client: HttpClient) -> None:
        """Have ``client`` scrub this flow's secrets (and every future access token)."""
        self._scrubbers.append(client)
        client.add_secrets(self.source.secrets)

    def __repr__(self) -> str:
        return f"ZohoOAuth(accounts={self._accounts!r})"

    @property
    def secrets(self) -> list[str]:
        """Values the API clients must scrub too (the current access token included)."""
        return self.source.secrets

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": TOKEN_HEADER_PREFIX + await self.access_token()}

    async def refresh(self, rejected_headers: Mapping[str, str]) -> None:
        rejected = rejected_headers.get("Authorization", "").removeprefix(TOKEN_HEADER_PREFIX)
        self.source.invalidate(rejected)
        await self.access_token()

    async def access_token(self) -> str:
        token = await self.source.token(self._accounts)
        for client in self._scrubbers:
            client.add_secrets([token])
        return token


@dataclass
class ZohoSession:
    """An API client and its OAuth flow (with its own accounts client), closed together."""

    api: HttpClient
    oauth: ZohoOAuth
    accounts: HttpClient
    account: AccountKey = field(default_factory=lambda: AccountKey("", "", ""))
    """Where the account's shared state lives (:data:`~crmsync.providers.accounts.REGISTRY`)."""

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.accounts.aclose()


def zoho_session(
    vendor: str,
    hosts: ZohoHosts,
    credentials: Mapping[str, str],
    stats: CallStats,
    *,
    connection: str = "",
    limits: Limits | None = None,
    policy: RetryPolicy | None = None,
    retry_when: RetryWhen = default_retry_when,
    shared: tuple[asyncio.Semaphore, TokenBucket] | None = None,
) -> ZohoSession:
    """Clients for one call site; the access token is the account's (see the module doc),
    and so is the request budget when ``shared`` is given."""
    missing = [
        key for key in ("clientId", "clientSecret", "refreshToken") if not credentials.get(key)
    ]
    if missing:
        raise AuthError(
            f"{vendor}: the credentials Secret lacks {', '.join(missing)}", vendor=vendor
        )
    client_id, client_secret, refresh_token = (
        credentials["clientId"], credentials["clientSecret"], credentials["refreshToken"]
    )  # fmt: skip
    key = AccountKey(
        connection=connection,
        provider=vendor,
        fingerprint=fingerprint(hosts.accounts_url, client_id, client_secret, refresh_token),
    )
    source = REGISTRY.get(
        key, ZohoTokenSource, lambda: ZohoTokenSource(client_id, client_secret, refresh_token)
    )
    accounts = HttpClient(
        f"{vendor} accounts", hosts.accounts_url, stats, limits=limits, policy=policy
    )
    oauth = ZohoOAuth(accounts, source)
    api = HttpClient(
        vendor, hosts.api_base_url, stats,
        limits=limits, policy=policy, authenticator=oauth, retry_when=retry_when, shared=shared,
    )  # fmt: skip
    oauth.protect(api)
    return ZohoSession(api=api, oauth=oauth, accounts=accounts, account=key)
