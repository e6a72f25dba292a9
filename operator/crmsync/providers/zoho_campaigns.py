"""Zoho Campaigns (API v1.1) as an :class:`~crmsync.providers.base.AudienceTarget`.

Choices the API forces (docs: https://www.zoho.com/campaigns/help/developers/):

- **Upsert = one ``json/listsubscribe`` per contact.** It is the only method that carries
  field values (``contactinfo``, keyed by field display name) and updates existing
  contacts; ``addlistsubscribersinbulk`` takes ten bare addresses and no fields, so it
  cannot keep mapped fields in sync. 1,000 members cost 1,000 calls; the documented limits
  (500/min, 12,500/h, else a 30-minute lock) are kept by a client-side bucket.
- **Never re-subscribe.** ``listsubscribe`` sends no status; the subscription type
  (marketing / non-marketing, the local server's documented extension parameter) applies
  only to contacts it creates, and Zoho leaves unsubscribed, bounced, spam and
  Do-Not-Mail contacts as they are (reported back in ``contact_status``).
- **A list is required.** v1.1 adds contacts only through a list, so an audience of
  ``None`` ("all contacts only", Z4) is refused with a :class:`ConfigError`.
- **Removing** has no per-contact delete in v1.1: archive = ``listunsubscribe`` (the
  contact leaves the list and stays in all contacts, as Z9 asks); permanent =
  ``contactdonotmail`` (org-wide, never mailed again).
- **The record link is write-only.** ``listsubscribe`` stores ``CRM Record ID``, but
  ``getlistsubscribers`` returns only email, names, company, phone, added time and zuid,
  and v1.1 documents no call reading a contact's custom fields; the operator keeps the
  record → email link itself (:mod:`crmsync.runtime.recordindex`) for P5 and B3.
- Failures come as HTTP 200 with ``code`` ≠ "0"; a locked method answers 2101 with a
  ``Retry-After``, which the retry layer honours while it fits its time budget.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from crmsync.engine import emails
from crmsync.engine.activity import ZOHO_CAMPAIGNS, Report
from crmsync.engine.records import (
    Member,
    MemberStatus,
    MemberWrite,
    WriteOutcome,
    WriteResult,
    normalise_email,
)
from crmsync.providers.http import (
    AuthError,
    ConfigError,
    HttpClient,
    ProviderError,
    TokenBucket,
    TransientError,
    default_retry_when,
)
from crmsync.providers.zoho_auth import ZohoSession

API = "/api/v1.1"
EMAIL_LABEL = "Contact Email"
PAGE_SIZE = 500
RETRY_LATER = "2101"
LIST_STATUSES: Mapping[str, MemberStatus] = {
    "active": MemberStatus.SUBSCRIBED,
    "unsub": MemberStatus.UNSUBSCRIBED,
    "bounce": MemberStatus.CLEANED,
    "spam": MemberStatus.UNSUBSCRIBED,
}
"""``getlistsubscribers`` status filter → normalised status (a complaint unsubscribes)."""
NOT_RESUBSCRIBED = frozenset({"unsub", "bounce", "spam", "donotmail"})
CONTACT_REJECTIONS: Mapping[str, str] = {
    "2004": "invalid_email",
    "2005": "role_email",
    "2001": "bad_contact_info",
    "2302": "contact_limit",
}
"""Codes that refuse one contact; everything else fails the call."""
CALL_ERRORS: Mapping[str, type[ProviderError]] = {
    "1007": AuthError,
    "2501": ConfigError,
    "2102": ConfigError,
    "2206": ConfigError,
    "903": ConfigError,
    "1001": ConfigError,
    RETRY_LATER: TransientError,
}
METHOD_PACE: Mapping[str, tuple[float, float]] = {
    # method → (calls per second, burst), inside Zoho's documented windows:
    # listsubscribe 500/min and 12,500/h; contact/allfields 100 per 5 min; every other
    # method 500 per 5 min.
    "json/listsubscribe": (3.4, 250),
    "contact/allfields": (0.25, 20),
    # addlistsubscribersinbulk: 2,000 calls a minute (ten addresses each).
    "addlistsubscribersinbulk": (25.0, 500),
}
DEFAULT_PACE = (1.3, 100)
SHARED_PACE: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], TokenBucket]
] = weakref.WeakKeyDictionary()
"""(account, method) → bucket, per event loop: Zoho counts calls per account and method,
so every client of one account (each run opens its own) draws from the same buckets."""
CONSENT_STATUS = {True: "Consented", False: "Not Consented"}


def campaigns_retry_when(response: httpx.Response) -> bool:
    return default_retry_when(response) or (
        response.status_code == 200 and _code(response) == RETRY_LATER
    )


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(envelope(body).get("code", "")) if isinstance(body, dict) else ""


def envelope(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The part with ``code``: the body itself, or its ``response`` (``contact/allfields``)."""
    inner = body.get("response")
    return inner if isinstance(inner, dict) else body


class ZohoCampaigns:
    """One Zoho Campaigns organisation. Use as an async context manager."""

    max_batch = 10

    def __init__(self, session: ZohoSession, account: str = "") -> None:
        """``account`` identifies the Zoho Campaigns account, so clients sharing it share
        the method pacing; empty: this client paces on its own."""
        self._session = session
        self._http: HttpClient = session.api
        self._account = account
        self._pace: dict[tuple[str, str], TokenBucket] = {}
        self._labels: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"ZohoCampaigns({self._http!r})"

    async def __aenter__(self) -> ZohoCampaigns:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._session.aclose()

    # -- account -------------------------------------------------------------------

    async def verify(self, audience: str | None = None) -> dict[str, Any]:
        """The token refresh proves the credentials; lists (and one list's counts) follow.

        v1.1 exposes no account id, name or plan limit."""
        body = await self._call("getmailinglists", {"range": "1"}, allow=("2401",))
        facts: dict[str, Any] = {
            "account_id": "",
            "account_name": "",
            "contact_limit": 0,
            "has_lists": bool(body.get("list_of_details")),
        }
        if audience:
            details = await self._call("getlistadvanceddetails", {"listkey": audience})
            facts["audience"] = details.get("list_dashboard_data", {}).get("contact_stats", {})
        return facts

    async def field_names(self, audience: str) -> set[str]:
        """Contact field display names (the keys ``contactinfo`` takes); org-wide."""
        return set((await self._field_labels()).values())

    # -- reading -------------------------------------------------------------------

    async def members(
        self, audience: str, *, changed_since: datetime | None = None
    ) -> AsyncIterator[list[Member]]:
        """Every status of the list, 500 a page, oldest first. ``getlistsubscribers`` has no
        modification filter, so ``changed_since`` is ignored (a full read each time)."""
        self._require_list_key(audience)
        labels = await self._field_labels()
        for list_status, status in LIST_STATUSES.items():
            fromindex = 1
            while True:
                body = await self._call(
                    "getlistsubscribers",
                    {
                        "listkey": audience,
                        "status": list_status,
                        "sort": "asc",
                        "fromindex": str(fromindex),
                        "range": str(PAGE_SIZE),
                    },
                )
                rows = body.get("list_of_details") or []
                if rows:
                    yield [_member(row, status, labels) for row in rows]
                if len(rows) < PAGE_SIZE:
                    break
                fromindex += len(rows)

    # -- writing -------------------------------------------------------------------

    async def upsert(self, audience: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        self._require_list_key(audience)
        return list(await asyncio.gather(*(self._upsert_one(audience, w) for w in writes)))

    async def set_status(
        self, audience: str, emails: Sequence[str], status: MemberStatus
    ) -> list[WriteResult]:
        """Unsubscribe from the list, or subscribe (which Zoho never does for a contact that
        unsubscribed, bounced or is in Do-Not-Mail)."""
        self._require_list_key(audience)
        if status is MemberStatus.UNSUBSCRIBED:
            return list(await asyncio.gather(*(self._unsubscribe(audience, e) for e in emails)))
        if status is MemberStatus.SUBSCRIBED:
            writes = [MemberWrite(email=e, values={}, status_if_new=status) for e in emails]
            return await self.upsert(audience, writes)
        return [_rejected(normalise_email(e), "unsupported_status", status.value) for e in emails]

    async def members_by_email(self, audience: str, emails: Sequence[str]) -> list[Member]:
        """API v1.1 has no per-contact read: runs list the members instead."""
        raise NotImplementedError

    async def release(self, audience: str, emails: Sequence[str], owner: str) -> list[WriteResult]:
        """The claim lives in the sync's record index, not in Zoho Campaigns: no call."""
        keys = list(dict.fromkeys(normalise_email(e) for e in emails if normalise_email(e)))
        return [WriteResult(email=k, outcome=WriteOutcome.UPDATED) for k in keys]

    async def drop_owner(self, audience: str, owner: str) -> None:
        """The claims go with the sync's record index (its ConfigMap)."""

    async def remove(
        self, audience: str, emails: Sequence[str], *, permanent: bool
    ) -> list[WriteResult]:
        self._require_list_key(audience)
        one = self._do_not_mail if permanent else self._leave_list
        return list(await asyncio.gather(*(one(audience, e) for e in emails)))

    # -- one contact -----------------------------------------------------------------

    async def _upsert_one(self, audience: str, write: MemberWrite) -> WriteResult:
        email = normalise_email(write.email)
        if (problem := emails.email_problem(write.email, emails.ZOHO_CAMPAIGNS)) is not None:
            return _rejected(email, "invalid_email", problem)
        if write.status not in (None, MemberStatus.SUBSCRIBED, MemberStatus.UNSUBSCRIBED):
            return _rejected(email, "unsupported_status", str(write.status))
        params = {
            "listkey": audience,
            "contactinfo": json.dumps({**write.values, EMAIL_LABEL: email}, ensure_ascii=False),
            "subscription_type": (
                "non-marketing"
                if write.status_if_new is MemberStatus.NON_MARKETING
                else "marketing"
            ),
        }
        if write.legal_basis:
            params["legal_basis"] = write.legal_basis
        if write.consent is not None:
            params["consent_status"] = CONSENT_STATUS[write.consent]
        if write.topics:
            params["topic_id"] = ",".join(sorted(write.topics))
        body = await self._call("json/listsubscribe", params, per_contact=True)
        result = _subscribe_result(email, body)
        wants_unsubscribed = write.status is MemberStatus.UNSUBSCRIBED or (
            result.outcome is WriteOutcome.CREATED
            and write.status_if_new is MemberStatus.UNSUBSCRIBED
        )
        if wants_unsubscribed and result.outcome is not WriteOutcome.REJECTED:
            unsubscribed = await self._unsubscribe(audience, email)
            if unsubscribed.outcome is WriteOutcome.REJECTED:
                return unsubscribed
        return result

    async def _unsubscribe(self, audience: str, raw_email: str) -> WriteResult:
        email = normalise_email(raw_email)
        body = await self._call(
            "json/listunsubscribe",
            {"listkey": audience, "contactinfo": json.dumps({EMAIL_LABEL: email})},
            per_contact=True,
            allow=("2103",),
        )
        return _status_change_result(email, body, WriteOutcome.UPDATED)

    async def _leave_list(self, audience: str, raw_email: str) -> WriteResult:
        result = await self._unsubscribe(audience, raw_email)
        if result.outcome is WriteOutcome.UPDATED:
            return WriteResult(email=result.email, outcome=WriteOutcome.REMOVED)
        return result

    async def _do_not_mail(self, audience: str, raw_email: str) -> WriteResult:
        email = normalise_email(raw_email)
        body = await self._call(
            "json/contactdonotmail",
            {"contactinfo": json.dumps({EMAIL_LABEL: email})},
            per_contact=True,
        )
        return _status_change_result(email, body, WriteOutcome.REMOVED)

    # -- the envelope ----------------------------------------------------------------

    async def _call(
        self,
        method: str,
        params: Mapping[str, str],
        *,
        per_contact: bool = False,
        allow: Sequence[str] = (),
    ) -> dict[str, Any]:
        """POST one method (form-encoded, JSON answer). Codes refusing one contact (when
        ``per_contact``) and ``allow``-ed codes are returned; others raise."""
        await self._bucket(method).acquire()
        response = await self._http.request(
            "POST", f"{API}/{method}", data={**params, "resfmt": "JSON"}
        )
        body: dict[str, Any] = response.json()
        inner = envelope(body)
        code = str(inner.get("code", "0"))
        if code in ("0", "200") or code in allow or (per_contact and code in CONTACT_REJECTIONS):
            return body
        cls = CALL_ERRORS.get(code, ConfigError)
        raise self._http.error(
            cls,
            f"{method} failed with code {code}: {inner.get('message', '')}",
            status=response.status_code,
            code=code,
        )

    # -- campaigns (EmailCampaign, C1) ----------------------------------------------

    async def add_to_list(
        self, listkey: str, emails: Sequence[str], *, topic_id: str | None = None
    ) -> list[WriteResult]:
        """``addlistsubscribersinbulk``, ten addresses a call (bare addresses: the campaign
        needs recipients, not fields). Zoho refuses a whole call for one bad address, so a
        refused call is retried address by address to find it. Existing contacts keep their
        status (an unsubscribed contact is not re-subscribed, and is not mailed)."""
        self._require_list_key(listkey)
        results: list[WriteResult] = []
        for start in range(0, len(emails), self.max_batch):
            chunk = [normalise_email(e) for e in emails[start : start + self.max_batch]]
            results += await self._bulk_add(listkey, chunk, topic_id, split=len(chunk) > 1)
        return results

    async def _bulk_add(
        self, listkey: str, chunk: list[str], topic_id: str | None, *, split: bool
    ) -> list[WriteResult]:
        params = {"listkey": listkey, "emailids": ",".join(chunk)}
        if topic_id:
            params["topic_id"] = topic_id
        body = await self._call("addlistsubscribersinbulk", params, per_contact=True)
        code = str(envelope(body).get("code", "0"))
        if code not in CONTACT_REJECTIONS:
            return [WriteResult(email=e, outcome=WriteOutcome.CREATED) for e in chunk]
        if split and code != "2302":
            results: list[WriteResult] = []
            for email in chunk:
                results += await self._bulk_add(listkey, [email], topic_id, split=False)
            return results
        message = str(envelope(body).get("message", ""))
        return [_rejected(e, CONTACT_REJECTIONS[code], message) for e in chunk]

    async def create_campaign(
        self,
        *,
        name: str,
        subject: str,
        from_email: str,
        listkey: str,
        from_name: str | None = None,
        topic_id: str | None = None,
        content_url: str | None = None,
    ) -> str:
        """``createCampaign`` (a draft); returns the campaign key."""
        params = {
            "campaignname": name,
            "subject": subject,
            "from_email": from_email,
            "list_details": json.dumps({listkey: []}),
        }
        if from_name:
            params["from_name"] = from_name
        if topic_id:
            params["topicId"] = topic_id
        if content_url:
            params["content_url"] = content_url
        body = await self._call("createCampaign", params)
        key = str(body.get("campaignKey") or "")
        if not key:
            raise self._http.error(ProviderError, "createCampaign answered without a campaignKey")
        return key

    async def campaign(self, key: str) -> CampaignInfo | None:
        """``getcampaigndetails``; None when Zoho does not know the key (code 6301)."""
        body = await self._call("getcampaigndetails", {"campaignkey": key}, allow=("6301",))
        details = body.get("campaign-details") or []
        if str(body.get("code")) == "6301" or not details:
            return None
        return _campaign_info(details[0], recipients=int(body.get("total_contacts_count") or 0))

    async def recent_campaigns(self, count: int = 100) -> list[CampaignInfo]:
        """``recentcampaigns``, newest first (every status)."""
        body = await self._call(
            "recentcampaigns", {"sort": "desc", "fromindex": "1", "range": str(count)}
        )
        return [_campaign_info(row) for row in body.get("recent_campaigns") or []]

    async def send_campaign(self, key: str) -> bool:
        """``sendcampaign``: True when this call sent it, False when Zoho says it was sent
        already (code 6600: a campaign key is sent at most once)."""
        body = await self._call("sendcampaign", {"campaignkey": key}, allow=(ALREADY_SENT,))
        return str(envelope(body).get("code", "200")) != ALREADY_SENT

    # -- campaign results back into the CRM (Z16, C2) -----------------------------

    async def recent_sent_campaigns(self, limit: int = 20) -> list[tuple[str, int]]:
        """(campaign key, sent time in ms) of the organisation's latest sent campaigns,
        newest first (``recentsentcampaigns``; every list's)."""
        await self._bucket("recentsentcampaigns").acquire()
        response = await self._http.request(
            "GET", f"{API}/recentsentcampaigns", params={"limit": str(limit), "resfmt": "JSON"}
        )
        body: dict[str, Any] = response.json()
        code = str(envelope(body).get("code", "0"))
        if code not in ("0", "200"):
            if code in NO_CAMPAIGNS:
                return []
            raise self._http.error(
                CALL_ERRORS.get(code, ConfigError),
                f"recentsentcampaigns failed with code {code}: {body.get('message', '')}",
                code=code,
            )
        rows = body.get("recent_sent_campaigns") or []
        found = [(str(r.get("campaign_key", "")), _as_int(r.get("sent_time", 0))) for r in rows]
        return sorted((f for f in found if f[0]), key=lambda f: -f[1])

    async def campaign_lists(self, key: str) -> list[str]:
        """The list keys a campaign was sent to (``getcampaigndetails``'
        ``associated_mailing_lists``); empty for an unknown key."""
        body = await self._call("getcampaigndetails", {"campaignkey": key}, allow=("6301",))
        return [
            str(row.get("listkey", ""))
            for row in body.get("associated_mailing_lists") or []
            if row.get("listkey")
        ]

    async def campaign_report(self, key: str) -> Report:
        """A sent campaign's report (``campaignreports``): sent, hard and soft bounces,
        unique opens and clicks, unsubscribes, complaints (Zoho counts unique people only,
        so the totals equal them)."""
        body = await self._call("campaignreports", {"campaignkey": key})
        counts = (body.get("campaign-reports") or [{}])[0]
        details = (body.get("campaign-details") or [{}])[0]
        sent_ms = _as_int(details.get("sent_time", 0))
        opens = _as_int(counts.get("opens_count", 0))
        clicks = _as_int(counts.get("unique_clicks_count", 0))
        return Report(
            campaign_id=key,
            title=str(
                details.get("campaign_name")
                or counts.get("campaign_name")
                or details.get("subject")
                or ""
            ),
            send_time=datetime.fromtimestamp(sent_ms / 1000, UTC) if sent_ms else datetime.now(UTC),
            sent=_as_int(counts.get("emails_sent_count", 0)),
            opens=opens,
            opens_total=opens,
            clicks=clicks,
            clicks_total=clicks,
            hard_bounces=_as_int(counts.get("hardbounce_count", 0)),
            soft_bounces=_as_int(counts.get("softbounce_count", 0)),
            unsubscribes=_as_int(counts.get("unsub_count", 0)),
            complaints=_as_int(counts.get("complaints_count") or counts.get("spams_count") or 0),
            source=ZOHO_CAMPAIGNS,
        )

    async def campaign_recipients(self, key: str, action: str) -> list[str]:
        """The normalised emails of a sent campaign's recipients of one kind
        (``getcampaignrecipientsdata`` with ``action`` = sentcontacts, openedcontacts,
        clickedcontacts, optoutcontacts, spamcontacts, senthardbounce, sentsoftbounce, …),
        every page (``fromindex``/``range``, until an empty page)."""
        emails: list[str] = []
        start = 1
        while True:
            body = await self._call(
                "getcampaignrecipientsdata",
                {"campaignkey": key, "action": action, "fromindex": str(start),
                 "range": str(PAGE_SIZE)},
                allow=NO_RECIPIENTS,
            )  # fmt: skip
            rows = body.get("list_of_details") or []
            if str(envelope(body).get("code", "0")) in NO_RECIPIENTS or not rows:
                return emails
            emails += [
                normalise_email(row.get("contactemailaddress"))
                for row in rows
                if normalise_email(row.get("contactemailaddress"))
            ]
            start += len(rows)

    def _bucket(self, method: str) -> TokenBucket:
        pace = (
            SHARED_PACE.setdefault(asyncio.get_running_loop(), {}) if self._account else self._pace
        )
        key = (self._account, method)
        if key not in pace:
            pace[key] = TokenBucket(*METHOD_PACE.get(method, DEFAULT_PACE))
        return pace[key]

    async def ensure_text_field(self, audience: str, name: str, label: str) -> None:
        """Custom fields are org-wide in Zoho Campaigns; ``name`` is the display name."""
        if name in await self.field_names(audience):
            return
        await self._call("custom/add", {"fieldname": name, "fieldtype": "Text"}, allow=("916",))
        self._labels = None

    async def _field_labels(self) -> dict[str, str]:
        """Field name → display name, read once per client."""
        if self._labels is None:
            body = await self._call("contact/allfields", {"type": "json"})
            fields = (body.get("response") or {}).get("fieldname") or []
            self._labels = {str(f["FIELD_NAME"]): str(f["DISPLAY_NAME"]) for f in fields}
        return self._labels

    def _require_list_key(self, audience: str | None) -> None:
        if not audience:
            raise self._http.error(
                ConfigError,
                "API v1.1 adds and lists contacts only through a mailing list; give a list key",
            )


ALREADY_SENT = "6600"
NO_CAMPAIGNS = ("6101",)
"""``recentsentcampaigns``: "No campaign was sent"."""
NO_RECIPIENTS = ("6303", "6302")
"""``getcampaignrecipientsdata``: no recipients of that kind ("There are no contacts…")."""


@dataclass(frozen=True)
class CampaignInfo:
    """One campaign as ``recentcampaigns`` / ``getcampaigndetails`` describe it."""

    key: str
    name: str
    status: str
    subject: str = ""
    from_email: str = ""
    created_ms: int = 0
    sent_ms: int = 0
    recipients: int = 0
    """Recipients of a sent campaign (getcampaigndetails' ``total_contacts_count``)."""


def _as_int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _campaign_info(row: Mapping[str, Any], recipients: int = 0) -> CampaignInfo:
    return CampaignInfo(
        key=str(row.get("campaign_key", "")),
        name=str(row.get("campaign_name", "")),
        status=str(row.get("campaign_status", "")),
        subject=str(row.get("subject", "")),
        from_email=str(row.get("from_email", "")),
        created_ms=_as_int(row.get("created_time", 0)),
        sent_ms=_as_int(row.get("sent_time", 0)),
        recipients=recipients,
    )


def _rejected(email: str, reason: str, detail: str = "") -> WriteResult:
    return WriteResult(email=email, outcome=WriteOutcome.REJECTED, reason=reason, detail=detail)


def _rejection(email: str, body: Mapping[str, Any]) -> WriteResult | None:
    code = str(body.get("code", "0"))
    if code in CONTACT_REJECTIONS:
        return _rejected(email, CONTACT_REJECTIONS[code], str(body.get("message", "")))
    return None


def _subscribe_result(email: str, body: Mapping[str, Any]) -> WriteResult:
    rejection = _rejection(email, body)
    if rejection is not None:
        return rejection
    kept = str(body.get("contact_status", ""))
    if kept in NOT_RESUBSCRIBED:
        return WriteResult(email=email, outcome=WriteOutcome.UPDATED, detail=f"status kept: {kept}")
    # Zoho's answer tells a new subscription from an update only by its message.
    message = str(body.get("message", "")).lower()
    created = "subscribed successfully" in message or "confirmation email" in message
    return WriteResult(
        email=email, outcome=WriteOutcome.CREATED if created else WriteOutcome.UPDATED
    )


def _status_change_result(email: str, body: Mapping[str, Any], done: WriteOutcome) -> WriteResult:
    rejection = _rejection(email, body)
    if rejection is not None:
        return rejection
    if str(body.get("code")) == "2103":
        return WriteResult(email=email, outcome=WriteOutcome.UNCHANGED, reason="not_found")
    return WriteResult(email=email, outcome=done)


def _member(row: Mapping[str, Any], status: MemberStatus, labels: Mapping[str, str]) -> Member:
    values = {
        labels.get(key, key): str(value)
        for key, value in row.items()
        if key in labels and key != "contact_email" and value not in (None, "")
    }
    return Member(email=normalise_email(row.get("contact_email")), status=status, values=values)
