"""Zoho Accounts OAuth (refresh-token flow) and the data-centre → host table.

Used by both Zoho clients. Tokens live one hour; one is cached until shortly before it
expires, refreshed by at most one request at a time (Zoho allows only 10 new access
tokens per refresh token per 10 minutes), and refreshed once more when the API answers
401 to a token we believed valid (revoked, or expired early).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from crmsync.providers.http import (
    AuthError,
    CallStats,
    ConfigError,
    HttpClient,
    Limits,
    RetryPolicy,
    RetryWhen,
    TransientError,
    default_retry_when,
)

TOKEN_HEADER_PREFIX = "Zoho-oauthtoken "
EXPIRY_MARGIN_SECONDS = 300.0
"""Refresh this long before the announced expiry, so no request goes out with a dying token."""

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


class ZohoOAuth:
    """Access tokens from a refresh token; an :class:`~crmsync.providers.http.Authenticator`."""

    def __init__(
        self,
        accounts: HttpClient,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = accounts
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._scrubbers: list[HttpClient] = []
        self.protect(accounts)

    def protect(self, client: HttpClient) -> None:
        """Have ``client`` scrub this flow's secrets (and every future access token)."""
        self._scrubbers.append(client)
        client.add_secrets(self.secrets)

    def __repr__(self) -> str:
        return f"ZohoOAuth(accounts={self._accounts!r})"

    @property
    def secrets(self) -> list[str]:
        """Values the API clients must scrub too (the current access token included)."""
        return [v for v in (self._client_secret, self._refresh_token, self._token) if v]

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": TOKEN_HEADER_PREFIX + await self.access_token()}

    async def refresh(self, rejected_headers: Mapping[str, str]) -> None:
        rejected = rejected_headers.get("Authorization", "").removeprefix(TOKEN_HEADER_PREFIX)
        async with self._lock:
            if self._token == rejected:
                self._token = None
        await self.access_token()

    async def access_token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        response = await self._accounts.request(
            "POST",
            "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "refresh_token": self._refresh_token,
            },
        )
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else "unreadable answer"
        if error:
            # Zoho answers a refused grant with HTTP 200 and {"error": ...}; "Access Denied"
            # is its throttle on token creation (10 per 10 minutes).
            cls = TransientError if "access denied" in str(error).lower() else AuthError
            raise self._accounts.error(cls, f"token refresh refused: {error}", code=str(error))
        self._token = str(body["access_token"])
        for client in self._scrubbers:
            client.add_secrets([self._token])
        lifetime = float(body.get("expires_in", 3600))
        self._expires_at = self._clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)


@dataclass
class ZohoSession:
    """An API client and its OAuth flow (with its own accounts client), closed together."""

    api: HttpClient
    oauth: ZohoOAuth
    accounts: HttpClient

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.accounts.aclose()


def zoho_session(
    vendor: str,
    hosts: ZohoHosts,
    credentials: Mapping[str, str],
    stats: CallStats,
    *,
    limits: Limits | None = None,
    policy: RetryPolicy | None = None,
    retry_when: RetryWhen = default_retry_when,
) -> ZohoSession:
    missing = [
        key for key in ("clientId", "clientSecret", "refreshToken") if not credentials.get(key)
    ]
    if missing:
        raise AuthError(
            f"{vendor}: the credentials Secret lacks {', '.join(missing)}", vendor=vendor
        )
    accounts = HttpClient(
        f"{vendor} accounts", hosts.accounts_url, stats, limits=limits, policy=policy
    )
    oauth = ZohoOAuth(
        accounts, credentials["clientId"], credentials["clientSecret"], credentials["refreshToken"]
    )
    api = HttpClient(
        vendor, hosts.api_base_url, stats,
        limits=limits, policy=policy, authenticator=oauth, retry_when=retry_when,
    )  # fmt: skip
    oauth.protect(api)
    return ZohoSession(api=api, oauth=oauth, accounts=accounts)
