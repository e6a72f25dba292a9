"""Connection: one account on one provider, with credentials by Secret reference."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field

from crmsync.api.v1alpha1._base import (
    Conditions,
    CrdModel,
    KindInfo,
    PrinterColumn,
    Resource,
    SecretRef,
    defaulted,
)
from crmsync.api.v1alpha1.status import SharedChannel

URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"
"""An http(s) URL with a host."""


class Provider(StrEnum):
    ZOHO_CRM = "zoho-crm"
    ZOHO_CAMPAIGNS = "zoho-campaigns"
    MAILCHIMP = "mailchimp"
    IMAP = "imap"


class ZohoDataCenter(StrEnum):
    US = "com"
    EU = "eu"
    IN = "in"
    AU = "com.au"
    JP = "jp"
    CA = "ca"
    CN = "com.cn"
    SA = "sa"


class RateLimit(CrdModel):
    """Client-side limits, below the vendor's own (the vendor's documented limits apply)."""

    max_concurrency: Annotated[int, Field(ge=1, le=100)] = 5
    """Requests in flight at once (Mailchimp allows 10 per API key; Zoho CRM by edition)."""
    requests_per_second: Annotated[float, Field(gt=0, le=1000)] = 10.0
    """Sustained request rate. Mailchimp and Zoho CRM document none (only requests in
    flight, and Zoho daily credits): with hundreds of syncs on one such Connection raise
    it (bench/many_syncs.py runs both at 200, maxConcurrency 10); Zoho Campaigns allows
    500 subscribe calls a minute."""
    daily_credit_budget: Annotated[int, Field(ge=0)] = 0
    """Zoho CRM API credits this connection may spend per day; 0 means no own budget."""


class ImapSettings(CrdModel):
    """The IMAP server of a mailbox (Gmail: imap.gmail.com, 993, TLS)."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    """Host name of the IMAP server."""
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    """Port."""
    tls: bool = True
    """Implicit TLS (IMAPS); false means plain IMAP, upgraded with STARTTLS when offered."""
    smtp_host: Annotated[str, Field(max_length=253)] = ""
    """SMTP server for mail sent through crmsync (G4); empty disables sending."""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    """SMTP port."""


class ConnectionSpec(CrdModel):
    """One account on one provider."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.provider != 'imap' || has(self.imap)",
                    "message": "an imap connection needs spec.imap (host, port, tls)",
                    "fieldPath": ".imap",
                },
                {
                    "rule": "self.provider == 'imap' || !has(self.imap)",
                    "message": "spec.imap is only for provider imap",
                    "fieldPath": ".imap",
                },
                {
                    "rule": "!has(self.dataCenter) || self.provider in ['zoho-crm', 'zoho-campaigns']",
                    "message": "spec.dataCenter is only for the Zoho providers",
                    "fieldPath": ".dataCenter",
                },
                {
                    "rule": "!has(self.accountsUrl) || self.provider in ['zoho-crm', 'zoho-campaigns']",
                    "message": "spec.accountsUrl is only for the Zoho providers",
                    "fieldPath": ".accountsUrl",
                },
                {
                    "rule": "!has(self.apiBaseUrl) || self.provider != 'imap'",
                    "message": "spec.apiBaseUrl is not for provider imap (use spec.imap)",
                    "fieldPath": ".apiBaseUrl",
                },
                {
                    "rule": "self.provider == oldSelf.provider",
                    "message": "spec.provider is immutable; create a new Connection",
                    "fieldPath": ".provider",
                },
            ]
        }
    )

    provider: Provider
    """zoho-crm, zoho-campaigns, mailchimp or imap."""
    credentials_secret_ref: SecretRef
    """The Secret with the credentials. zoho-crm and zoho-campaigns: keys clientId,
    clientSecret, refreshToken. mailchimp: apiKey (its suffix names the data centre).
    imap: username, password. Rotating the Secret is picked up without a restart."""
    data_center: ZohoDataCenter | None = None
    """Zoho data centre (com, eu, in, com.au, jp, ca, com.cn, sa); default com."""
    api_base_url: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)] | None = None
    """Override of the API base URL (a proxy, or the local vendor servers)."""
    accounts_url: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)] | None = None
    """Override of the Zoho accounts (OAuth) URL."""
    imap: ImapSettings | None = None
    """IMAP server settings; required for provider imap."""
    rate_limit: RateLimit = defaulted(RateLimit)
    """Client-side concurrency and rate limits."""
    bulk_read_min_records: Annotated[int, Field(ge=0)] = 10_000
    """zoho-crm: a full read of a module holding at least this many records runs as a Bulk
    Read job (50 credits a job of up to 200,000 records, and Zoho allows 10 result
    downloads a minute per org) instead of pages of 200 (1 credit each). With many syncs
    doing full reads of one large module at once the download limit makes them queue:
    raise it; 0 turns Bulk Read off."""


class AccountFacts(CrdModel):
    """What the provider says about the account, read when the credentials are verified."""

    account_id: Annotated[str, Field(max_length=256)] = ""
    """The provider's account or organisation id."""
    account_name: Annotated[str, Field(max_length=256)] = ""
    """The account or organisation name."""
    data_center: Annotated[str, Field(max_length=64)] = ""
    """The data centre actually used."""
    contact_limit: Annotated[int, Field(ge=0)] = 0
    """The plan's contact limit (Z15); 0 when the provider reports none."""
    contact_count: Annotated[int, Field(ge=0)] = 0
    """Contacts the account holds now."""


class Quota(CrdModel):
    """API usage seen by the operator today (UTC day)."""

    day: Annotated[str, Field(max_length=10)] = ""
    """The day (YYYY-MM-DD) the counters belong to."""
    requests: Annotated[int, Field(ge=0)] = 0
    """Requests made."""
    rate_limited: Annotated[int, Field(ge=0)] = 0
    """Answers that were 429."""
    credits_remaining: Annotated[int, Field(ge=-1)] = -1
    """Daily API credits left as the vendor reports them; -1 when unknown."""


class ConnectionStatus(CrdModel):
    observed_generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation the status was computed for."""
    conditions: Conditions = Field(default_factory=list)
    """Ready: the credentials were verified against the provider."""
    account: AccountFacts | None = None
    """Facts about the account."""
    quota: Quota | None = None
    """API usage today."""
    last_verified_time: datetime | None = None
    """When the credentials were last verified."""
    credentials_version: Annotated[str, Field(max_length=64)] = ""
    """resourceVersion of the Secret last verified (rotation detection)."""
    notification_channels: dict[str, SharedChannel] = Field(default_factory=dict)
    """zoho-crm: the notification channels the Instant syncs on this Connection share, one
    per module (and operator shard: ``shard/module``), keyed by module; their tokens are in
    Secrets the Connection owns, never here."""


class Connection(Resource):
    """One account on one provider: endpoint, credentials by Secret reference, limits."""

    kind_info: ClassVar[KindInfo] = KindInfo(
        kind="Connection",
        plural="connections",
        short_names=("conn",),
        printer_columns=(
            PrinterColumn("Provider", ".spec.provider"),
            PrinterColumn("Ready", ".status.conditions[?(@.type=='Ready')].status"),
            PrinterColumn("Reason", ".status.conditions[?(@.type=='Ready')].reason"),
            PrinterColumn("Account", ".status.account.accountName", priority=1),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    )
    kind: str = "Connection"
    spec: ConnectionSpec
    status: ConnectionStatus | None = None
