"""From a Connection (spec + Secret data) to a ready vendor client.

``async with open_target(Endpoint.from_connection(spec, secret), stats) as target: ...``
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from crmsync.api.v1alpha1.connection import ConnectionSpec, Provider
from crmsync.providers.accounts import REGISTRY, AccountKey, fingerprint
from crmsync.providers.budget import account_budget
from crmsync.providers.http import (
    AuthError,
    CallStats,
    ConfigError,
    HttpClient,
    Limits,
    RetryPolicy,
    TokenBucket,
)
from crmsync.providers.mailchimp import Mailchimp, api_base_url
from crmsync.providers.shared import AudienceShare, ModuleShare
from crmsync.providers.zoho_auth import zoho_hosts, zoho_session
from crmsync.providers.zoho_bulk_choice import BULK_READ_THRESHOLD
from crmsync.providers.zoho_campaigns import ZohoCampaigns, campaigns_retry_when
from crmsync.providers.zoho_crm import ZohoCrm, crm_retry_when


@dataclass(frozen=True)
class Endpoint:
    """Everything a client needs to reach one account; credentials never in the repr."""

    provider: str
    credentials: Mapping[str, str] = field(repr=False)
    connection: str = ""
    """``namespace/name`` of the Connection: clients of one Connection share its account
    state (the Zoho access token, see :mod:`crmsync.providers.accounts`)."""
    api_base_url: str | None = None
    accounts_url: str | None = None
    data_center: str | None = None
    max_concurrency: int = 5
    requests_per_second: float = 10.0
    bulk_read_threshold: int | None = BULK_READ_THRESHOLD
    """Zoho CRM: full reads of more records than this use Bulk Read; None never."""

    @classmethod
    def from_connection(
        cls, spec: ConnectionSpec, secret_data: Mapping[str, str], connection: str = ""
    ) -> Endpoint:
        return cls(
            provider=Provider(spec.provider).value,
            credentials=dict(secret_data),
            connection=connection,
            api_base_url=spec.api_base_url,
            accounts_url=spec.accounts_url,
            data_center=str(spec.data_center) if spec.data_center else None,
            max_concurrency=spec.rate_limit.max_concurrency,
            requests_per_second=spec.rate_limit.requests_per_second,
            bulk_read_threshold=spec.bulk_read_min_records or None,
        )

    def shared_budget(self) -> tuple[asyncio.Semaphore, TokenBucket] | None:
        """The Connection's request budget, shared by all its clients in this process."""
        if not self.connection:
            return None
        budget = account_budget(self.connection, self.provider, self.limits)
        return budget.in_flight, budget.pace

    @property
    def limits(self) -> Limits:
        return Limits(
            max_concurrency=self.max_concurrency, requests_per_second=self.requests_per_second
        )


def open_crm(endpoint: Endpoint, stats: CallStats, policy: RetryPolicy | None = None) -> ZohoCrm:
    if endpoint.provider != Provider.ZOHO_CRM:
        raise ConfigError(f"provider {endpoint.provider!r} is not a CRM", vendor=endpoint.provider)
    hosts = zoho_hosts("crm", endpoint.data_center, endpoint.api_base_url, endpoint.accounts_url)
    session = zoho_session(
        "zoho-crm", hosts, endpoint.credentials, stats, connection=endpoint.connection,
        limits=endpoint.limits, policy=policy, retry_when=crm_retry_when,
        shared=endpoint.shared_budget(),
    )  # fmt: skip
    # Beside the account's access token: a rotated Secret drops both.
    shared = (
        REGISTRY.get(session.account, ModuleShare, ModuleShare) if endpoint.connection else None
    )
    return ZohoCrm(session, bulk_read_threshold=endpoint.bulk_read_threshold, shared=shared)


def open_target(
    endpoint: Endpoint, stats: CallStats, policy: RetryPolicy | None = None
) -> Mailchimp | ZohoCampaigns:
    if endpoint.provider == Provider.MAILCHIMP:
        return _open_mailchimp(endpoint, stats, policy)
    if endpoint.provider == Provider.ZOHO_CAMPAIGNS:
        hosts = zoho_hosts(
            "campaigns", endpoint.data_center, endpoint.api_base_url, endpoint.accounts_url
        )
        session = zoho_session(
            "zoho-campaigns", hosts, endpoint.credentials, stats, connection=endpoint.connection,
            limits=endpoint.limits, policy=policy, retry_when=campaigns_retry_when,
            shared=endpoint.shared_budget(),
        )  # fmt: skip
        account = f"{hosts.api_base_url} {endpoint.credentials.get('clientId', '')}"
        return ZohoCampaigns(session, account=account)
    raise ConfigError(
        f"provider {endpoint.provider!r} is not a campaign target", vendor=endpoint.provider
    )


def _open_mailchimp(endpoint: Endpoint, stats: CallStats, policy: RetryPolicy | None) -> Mailchimp:
    api_key = endpoint.credentials.get("apiKey", "")
    if not api_key:
        raise AuthError("mailchimp: the credentials Secret lacks apiKey", vendor="mailchimp")
    base_url = api_base_url(api_key, endpoint.api_base_url).removesuffix("/3.0")
    http = HttpClient(
        "mailchimp", base_url, stats,
        limits=endpoint.limits, policy=policy, auth=httpx.BasicAuth("crmsync", api_key),
        shared=endpoint.shared_budget(),
    )  # fmt: skip
    http.add_secrets([api_key])
    shared = None
    if endpoint.connection:
        key = AccountKey(endpoint.connection, "mailchimp", fingerprint(base_url, api_key))
        shared = REGISTRY.get(key, AudienceShare, AudienceShare)
    return Mailchimp(http, shared)
