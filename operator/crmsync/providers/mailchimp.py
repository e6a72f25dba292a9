"""Mailchimp Marketing API 3.0 as an :class:`~crmsync.providers.base.AudienceTarget`.

Never re-subscribing anyone is guaranteed by how the batch subscribe endpoint
(``POST /lists/{list_id}``, ≤ 500 members) is called. Its members take ``status`` but no
``status_if_new``, and with ``update_existing`` a given status overwrites the member's.
So an upsert is two passes over the same batch:

1. **create-only** (``update_existing: false``), every member with the status it should
   have if new. New addresses are created; existing ones are refused one by one with
   ``ERROR_CONTACT_EXISTS`` and left untouched.
2. **update-only** for exactly those refused (``update_existing: true``), *without* a
   ``status`` unless the write carries an explicit one from the opt-out policy. Omitting
   it keeps the member's status, whatever it is.

A fresh audience costs one call per 500 members; a steady-state update two. Members whose
status if new is non-marketing (Mailchimp's ``transactional``, which batch subscribe cannot
express) are upserted one by one with ``PUT …/members/{hash}`` and ``status_if_new``.
Tags are added per tag with ``POST /lists/{id}/segments/{tag id}`` (500 members a call);
they are never removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from crmsync.api.v1alpha1.status import AudienceTag, AudienceView
from crmsync.engine.activity import BOUNCED, SENT, Action, Recipient, Report
from crmsync.engine.carts import Cart, CartLine
from crmsync.engine.emails import MAILCHIMP, email_problem
from crmsync.engine.ownership import owners_in_tags
from crmsync.engine.records import (
    Member,
    MemberStatus,
    MemberWrite,
    WriteOutcome,
    WriteResult,
    normalise_email,
)
from crmsync.providers.http import AuthError, ConfigError, HttpClient, ProviderError, chunked
from crmsync.providers.shared import AudienceShare

API = "/3.0"
BATCH_SIZE = 500
PAGE_SIZE = 1000
MEMBER_FIELDS = (
    "members.email_address,members.status,members.merge_fields,members.tags,"
    "members.last_changed,members.timestamp_opt,total_items"
)
CONTACT_EXISTS = "ERROR_CONTACT_EXISTS"
WEBHOOK_EVENTS = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
BATCH_STATUSES = frozenset(
    {MemberStatus.SUBSCRIBED, MemberStatus.UNSUBSCRIBED, MemberStatus.CLEANED, MemberStatus.PENDING}
)
REJECTION_REASONS = (
    # (text in Mailchimp's error message, low-cardinality reason)
    ("compliance state", "compliance_state"),
    ("permanently deleted", "forgotten_email"),
    ("forgotten", "forgotten_email"),
    ("looks fake", "invalid_email"),
    ("valid email", "invalid_email"),
    ("duplicate", "duplicate"),
    ("merge", "invalid_merge_field"),
    ("signed up to a lot of lists", "signup_throttled"),
)


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased address."""
    return hashlib.md5(normalise_email(email).encode()).hexdigest()


def api_base_url(api_key: str, override: str | None) -> str:
    """``{override}/3.0``, else the data centre named by the key's ``-usN`` suffix."""
    if override:
        return override.rstrip("/") + API
    _, dash, dc = api_key.rpartition("-")
    if not dash or not dc.isalnum():
        raise AuthError(
            "mailchimp: the API key has no data-centre suffix (-usN)", vendor="mailchimp"
        )
    return f"https://{dc}.api.mailchimp.com{API}"


def mailchimp_status(status: MemberStatus) -> str:
    return "transactional" if status is MemberStatus.NON_MARKETING else status.value


def member_status(raw: str) -> MemberStatus:
    return MemberStatus.NON_MARKETING if raw == "transactional" else MemberStatus(raw)


def rejection_reason(message: str) -> str:
    lowered = message.lower()
    return next((reason for text, reason in REJECTION_REASONS if text in lowered), "rejected")


def _rejected(email: str, reason: str, detail: str = "") -> WriteResult:
    return WriteResult(
        email=email, outcome=WriteOutcome.REJECTED, reason=reason, detail=detail[:300]
    )


@dataclass(frozen=True)
class _Item:
    """One write as it goes into a batch, keyed by its normalised email."""

    email: str
    write: MemberWrite

    def body(self, *, status: MemberStatus | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "email_address": self.email,
            "merge_fields": dict(self.write.values),
        }
        if status is not None:
            body["status"] = mailchimp_status(status)
        return body


@dataclass(frozen=True)
class ListWebhook:
    id: str
    url: str
    """Carries the receiver's secret path segment: never log it."""


class Mailchimp:
    """One Mailchimp account (API key). Use as an async context manager."""

    max_batch = BATCH_SIZE
    reads_by_email = True

    def __init__(self, http: HttpClient, shared: AudienceShare | None = None) -> None:
        """``shared``: the account's audiences as every client of its Connection reads
        them (:mod:`crmsync.providers.shared`); a client of its own otherwise."""
        self._http = http
        self.shared = shared if shared is not None else AudienceShare()

    def __repr__(self) -> str:
        return f"Mailchimp({self._http!r})"

    async def __aenter__(self) -> Mailchimp:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    # -- account -------------------------------------------------------------------

    async def verify(self, audience: str | None = None) -> dict[str, Any]:
        """The account (``GET /3.0/``) and, when given, the audience's member counts."""
        account = (await self._http.request("GET", f"{API}/")).json()
        facts: dict[str, Any] = {
            "account_id": str(account.get("account_id", "")),
            "account_name": str(account.get("account_name", "")),
            "contact_count": int(account.get("total_subscribers") or 0),
            "contact_limit": 0,
        }
        if audience:
            stats = (await self._list(audience, params={"fields": "id,name,stats"})).get(
                "stats", {}
            )
            facts["audience"] = {
                "member_count": int(stats.get("member_count") or 0),
                "unsubscribe_count": int(stats.get("unsubscribe_count") or 0),
                "cleaned_count": int(stats.get("cleaned_count") or 0),
            }
        return facts

    async def field_names(self, audience: str) -> set[str]:
        """The audience's merge field tags, read once a minute per account."""

        async def read() -> frozenset[str]:
            response = await self._get_list_path(
                audience, "/merge-fields", {"count": PAGE_SIZE, "fields": "merge_fields.tag"}
            )
            return frozenset(str(f["tag"]) for f in response.json().get("merge_fields", []))

        return set(await self.shared.fields.get(audience, read))

    async def ensure_text_field(self, audience: str, name: str, label: str) -> None:
        if name in await self.field_names(audience):
            return
        async with self.shared.creating_in(audience):
            known = await self.field_names(audience)
            if name in known:
                return  # another sync created it meanwhile
            await self._http.request(
                "POST",
                f"{API}/lists/{audience}/merge-fields",
                json={
                    "tag": name,
                    "name": label,
                    "type": "text",
                    "public": False,
                    "required": False,
                },
            )
            self.shared.fields.put(audience, frozenset(known | {name}))

    def forget(self, audience: str) -> None:
        """Read the audience's fields and tags afresh next time (a run failed)."""
        self.shared.forget(audience)

    # -- reading -------------------------------------------------------------------

    async def members(
        self, audience: str, *, changed_since: datetime | None = None
    ) -> AsyncIterator[list[Member]]:
        """Pages of 1,000 in Mailchimp's stable default order (not by ``last_changed``,
        which would shift offsets when a member changes during the read)."""
        params: dict[str, Any] = {"count": PAGE_SIZE, "fields": MEMBER_FIELDS}
        if changed_since is not None:
            stamp = changed_since if changed_since.tzinfo else changed_since.replace(tzinfo=UTC)
            params["since_last_changed"] = stamp.isoformat(timespec="seconds")
        offset = 0
        while True:
            body = (
                await self._get_list_path(audience, "/members", {**params, "offset": offset})
            ).json()
            rows = body.get("members", [])
            page = [_member(row) for row in rows if row.get("status") != "archived"]
            if page:
                yield page
            offset += len(rows)
            if not rows or offset >= int(body.get("total_items") or 0):
                return

    async def newest_member_change(
        self, audience: str, status: str | None = None
    ) -> datetime | None:
        """The newest ``last_changed`` of the audience's members (of ``status`` only, when
        given; archived ones left out as :meth:`members` leaves them), one call: sorted
        newest first, one row (quiet polls, :mod:`crmsync.engine.quiet`)."""
        params: dict[str, Any] = {
            "count": 1,
            "sort_field": "last_changed",
            "sort_dir": "DESC",
            "fields": "members.last_changed,members.status,total_items",
        }
        if status is not None:
            params["status"] = status
        rows = (await self._get_list_path(audience, "/members", params)).json().get("members") or []
        stamps = [r["last_changed"] for r in rows if r.get("last_changed")]
        if not stamps:
            return None
        stamp = datetime.fromisoformat(str(stamps[0]))
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    async def members_by_email(self, audience: str, emails: Sequence[str]) -> list[Member]:
        """The members with these addresses (archived and unknown ones left out), one
        call each: cheaper than listing the audience for the few a small run concerns."""
        await self._require_list(audience)
        fields = ",".join(f.removeprefix("members.") for f in MEMBER_FIELDS.split(",")[:-1])

        async def one(email: str) -> Member | None:
            path = f"{API}/lists/{audience}/members/{subscriber_hash(email)}"
            response = await self._http.request(
                "GET", path, params={"fields": fields}, accept=(404,)
            )
            if response.status_code == 404:
                return None
            row = response.json()
            return None if row.get("status") == "archived" else _member(row)

        keys = sorted({normalise_email(e) for e in emails if normalise_email(e)})
        found = await asyncio.gather(*(one(k) for k in keys))
        return [m for m in found if m is not None]

    # -- writing -------------------------------------------------------------------

    async def upsert(self, audience: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        batchable: list[_Item] = []
        one_by_one: list[_Item] = []
        for item, rejection in _prepare(writes):
            if rejection is not None:
                results[item.email] = rejection
            elif (item.write.status or item.write.status_if_new) in BATCH_STATUSES:
                batchable.append(item)
            else:
                one_by_one.append(item)
        for chunk in chunked(batchable, BATCH_SIZE):
            results.update(await self._upsert_batch(audience, chunk))
        results.update(await self._put_each(audience, one_by_one))
        await self._add_tags(audience, [i for i in batchable + one_by_one if _written(results, i)])
        return [results[key] for key in _order(writes, results)]

    async def set_status(
        self, audience: str, emails: Sequence[str], status: MemberStatus
    ) -> list[WriteResult]:
        """Batch subscribe with ``update_existing`` and the explicit status (the opt-out
        policy's decision). An address not on the audience is created with that status,
        which for unsubscribed/cleaned keeps it suppressed."""
        if status not in BATCH_STATUSES:
            return [
                _rejected(normalise_email(e), "unsupported_status", status.value) for e in emails
            ]
        keys = list(dict.fromkeys(normalise_email(e) for e in emails if normalise_email(e)))
        results: dict[str, WriteResult] = {}
        for chunk in chunked(keys, BATCH_SIZE):
            members = [{"email_address": e, "status": status.value} for e in chunk]
            results.update(await self._batch(audience, members, update_existing=True))
        return [results[k] for k in keys]

    async def remove(
        self, audience: str, emails: Sequence[str], *, permanent: bool
    ) -> list[WriteResult]:
        """Archive (``DELETE`` member) or erase (``actions/delete-permanent``), one call each:
        Mailchimp has no synchronous batch delete."""
        await self._require_list(audience)
        keys = list(dict.fromkeys(normalise_email(e) for e in emails if normalise_email(e)))
        return list(await asyncio.gather(*(self._remove_one(audience, k, permanent) for k in keys)))

    async def release(self, audience: str, emails: Sequence[str], owner: str) -> list[WriteResult]:
        """The claim is a tag: members leave its segment, 500 a call."""
        keys = list(dict.fromkeys(normalise_email(e) for e in emails if normalise_email(e)))
        results = {k: WriteResult(email=k, outcome=WriteOutcome.UPDATED) for k in keys}
        if keys:
            segment_id = await self._tag_id(audience, owner)
            for chunk in chunked(keys, BATCH_SIZE):
                response = await self._http.request(
                    "POST",
                    f"{API}/lists/{audience}/segments/{segment_id}",
                    json={"members_to_remove": chunk},
                )
                body = response.json()
                for row in body.get("members_removed") or []:
                    key = normalise_email(row.get("email_address"))
                    left = owners_in_tags(str(t.get("name", "")) for t in row.get("tags") or [])
                    results[key] = WriteResult(key, WriteOutcome.UPDATED, claims_left=left)
                for error in body.get("errors") or []:
                    for email in error.get("email_addresses") or []:
                        key = normalise_email(email)
                        # Not on the audience any more: no claim left to drop.
                        results[key] = WriteResult(key, WriteOutcome.UNCHANGED, "not_found")
        return [results[k] for k in keys]

    async def drop_owner(self, audience: str, owner: str) -> None:
        """Deleting the tag takes it off every member in one call."""
        for name, segment_id in await self._read_tag_ids(audience):
            if name == owner:
                await self._http.request(
                    "DELETE", f"{API}/lists/{audience}/segments/{segment_id}", accept=(404,)
                )
        self.shared.tags.forget(audience)  # its tag is gone: listed afresh next time

    # -- the batch passes ------------------------------------------------------------

    async def _upsert_batch(self, audience: str, items: list[_Item]) -> dict[str, WriteResult]:
        by_email = {i.email: i for i in items}
        created = await self._batch(
            audience,
            [i.body(status=i.write.status or i.write.status_if_new) for i in items],
            update_existing=False,
        )
        existing = [by_email[e] for e, r in created.items() if r.reason == CONTACT_EXISTS]
        results = {e: r for e, r in created.items() if r.reason != CONTACT_EXISTS}
        if existing:
            updated = await self._batch(
                audience, [i.body(status=i.write.status) for i in existing], update_existing=True
            )
            results.update(updated)
        return results

    async def _batch(
        self, audience: str, members: list[dict[str, Any]], *, update_existing: bool
    ) -> dict[str, WriteResult]:
        """One ``POST /lists/{id}``; every member's result read from the 200 answer."""
        response = await self._http.request(
            "POST",
            f"{API}/lists/{audience}",
            json={"members": members, "update_existing": update_existing},
        )
        body = _batch_answer(response.content)
        results: dict[str, WriteResult] = {}
        for row in body.get("new_members", []):
            email = normalise_email(row.get("email_address"))
            results[email] = WriteResult(email=email, outcome=WriteOutcome.CREATED)
        for row in body.get("updated_members", []):
            email = normalise_email(row.get("email_address"))
            results[email] = WriteResult(email=email, outcome=WriteOutcome.UPDATED)
        for row in body.get("errors", []):
            email = normalise_email(row.get("email_address"))
            message = str(row.get("error", ""))
            reason = (
                CONTACT_EXISTS
                if row.get("error_code") == CONTACT_EXISTS
                else rejection_reason(message)
            )
            results[email] = _rejected(email, reason, message)
        for member in members:
            # An item the answer does not mention is a rejection we cannot explain.
            email = normalise_email(member["email_address"])
            results.setdefault(
                email, _rejected(email, "no_result", "missing from the batch answer")
            )
        return results

    async def _put_each(self, audience: str, items: list[_Item]) -> dict[str, WriteResult]:
        async def put(item: _Item) -> WriteResult:
            body = item.body(status=item.write.status)
            body["status_if_new"] = mailchimp_status(item.write.status_if_new)
            path = f"{API}/lists/{audience}/members/{subscriber_hash(item.email)}"
            response = await self._http.request("PUT", path, json=body, accept=(400,))
            if response.status_code == 400:
                return _rejected(item.email, *_problem(response))
            return WriteResult(email=item.email, outcome=WriteOutcome.UPDATED)

        return {
            i.email: r for i, r in zip(items, await asyncio.gather(*map(put, items)), strict=True)
        }

    async def _remove_one(self, audience: str, email: str, permanent: bool) -> WriteResult:
        path = f"{API}/lists/{audience}/members/{subscriber_hash(email)}"
        if permanent:
            response = await self._http.request(
                "POST", f"{path}/actions/delete-permanent", accept=(400, 404)
            )
        else:
            response = await self._http.request("DELETE", path, accept=(400, 404))
        if response.status_code == 404:
            return WriteResult(email=email, outcome=WriteOutcome.UNCHANGED, reason="not_found")
        if response.status_code == 400:
            return _rejected(email, *_problem(response))
        return WriteResult(email=email, outcome=WriteOutcome.REMOVED)

    # -- tags ------------------------------------------------------------------------

    async def _add_tags(self, audience: str, items: list[_Item]) -> None:
        emails_by_tag: dict[str, list[str]] = {}
        for item in items:
            for tag in sorted(item.write.tags):
                emails_by_tag.setdefault(tag, []).append(item.email)
        for tag, emails in sorted(emails_by_tag.items()):
            segment_id = await self._tag_id(audience, tag)
            for chunk in chunked(emails, BATCH_SIZE):
                await self._http.request(
                    "POST",
                    f"{API}/lists/{audience}/segments/{segment_id}",
                    json={"members_to_add": chunk},
                )

    async def _tag_id(self, audience: str, tag: str) -> int:
        """The static segment behind a tag: the audience's tags are listed once a minute
        per account, and a missing one is created (one at a time, so never twice)."""
        ids = await self._tag_ids(audience)
        if tag in ids:
            return ids[tag]
        async with self.shared.creating_in(audience):
            ids = await self._tag_ids(audience)
            if tag in ids:
                return ids[tag]
            created = await self._http.request(
                "POST", f"{API}/lists/{audience}/segments", json={"name": tag, "static_segment": []}
            )
            segment_id = int(created.json()["id"])
            self.shared.tags.put(audience, {**ids, tag: segment_id})
            return segment_id

    async def _tag_ids(self, audience: str) -> dict[str, int]:
        async def read() -> dict[str, int]:
            return dict(await self._read_tag_ids(audience))

        return await self.shared.tags.get(audience, read)

    async def _read_tag_ids(self, audience: str) -> list[tuple[str, int]]:
        """Every tag of the audience (name, segment id), all pages: an audience may hold
        thousands, and a claim tag missed on the first page would be created again."""
        params = {"type": "static", "fields": "segments.id,segments.name,total_items"}
        tags: list[tuple[str, int]] = []
        with self._missing(f"audience {audience!r}"):
            async for rows in self._pages(f"{API}/lists/{audience}/segments", "segments", params):
                tags += [(str(row["name"]), int(row["id"])) for row in rows]
        return tags

    async def audience_view(
        self, audience: str, max_tags: int = 50, after: float | None = None
    ) -> AudienceView:
        """The audience's name and counts and its tags by size (M13): two calls. With
        ``after`` (a :func:`time.monotonic` instant: when the asking run last wrote), a
        description read since then for another sync of the account will do."""
        if after is None:
            return await self._audience_view(audience, max_tags)
        return await self.shared.views.get(
            (audience, max_tags), lambda: self._audience_view(audience, max_tags), after
        )

    async def _audience_view(self, audience: str, max_tags: int) -> AudienceView:
        body = await self._list(audience, params={"fields": "id,name,stats"})
        stats = body.get("stats", {})
        segments = (
            await self._get_list_path(
                audience,
                "/segments",
                {
                    "type": "static",
                    "count": PAGE_SIZE,
                    "fields": "segments.name,segments.member_count",
                },
            )
        ).json()
        # Sorted as plain pairs, and only the tags shown made models: an audience shared
        # by a thousand syncs has a thousand owner tags.
        largest = sorted(
            (-int(row.get("member_count") or 0), str(row.get("name", ""))[:100])
            for row in segments.get("segments", [])
        )[:max_tags]
        tags = [AudienceTag(name=name, members=-members) for members, name in largest]
        return AudienceView(
            list_id=audience,
            name=str(body.get("name", ""))[:200],
            subscribed=int(stats.get("member_count") or 0),
            unsubscribed=int(stats.get("unsubscribe_count") or 0),
            cleaned=int(stats.get("cleaned_count") or 0),
            tags=tags,
            observed_at=datetime.now(UTC),
        )

    # -- list webhooks: campaign-side changes pushed to the operator ------------------

    async def webhooks(self, audience: str) -> list[ListWebhook]:
        """The audience's webhooks (``GET /lists/{id}/webhooks``)."""
        body = (await self._get_list_path(audience, "/webhooks", {})).json()
        return [
            ListWebhook(str(row.get("id", "")), str(row.get("url", "")))
            for row in body.get("webhooks", [])
        ]

    async def add_webhook(self, audience: str, url: str) -> str:
        """Register ``url`` for every event type, fired by people and by Mailchimp staff
        or automations (``sources`` user and admin) but not by API calls: the operator's
        own writes would otherwise come straight back. Returns the webhook id."""
        self._http.add_secrets([url])
        response = await self._http.request(
            "POST",
            f"{API}/lists/{audience}/webhooks",
            json={
                "url": url,
                "events": dict.fromkeys(WEBHOOK_EVENTS, True),
                "sources": {"user": True, "admin": True, "api": False},
            },
        )
        return str(response.json()["id"])

    async def delete_webhook(self, audience: str, webhook_id: str) -> None:
        """Remove one webhook; one already gone (or its audience) is not an error."""
        await self._http.request(
            "DELETE", f"{API}/lists/{audience}/webhooks/{webhook_id}", accept=(404,)
        )

    # -- campaigns and reports: campaign activity back into the CRM (Z16, M10) ---------

    async def sent_campaigns(
        self, audience: str, *, since: datetime | None = None, count: int = 20
    ) -> list[str]:
        """Ids of the latest ``count`` campaigns sent to ``audience``, newest first
        (``GET /campaigns?list_id&status=sent&since_send_time``)."""
        params: dict[str, Any] = {
            "list_id": audience,
            "status": "sent",
            "sort_field": "send_time",
            "sort_dir": "DESC",
            "count": count,
            "fields": "campaigns.id,total_items",
        }
        if since is not None:
            stamp = since if since.tzinfo else since.replace(tzinfo=UTC)
            params["since_send_time"] = stamp.isoformat(timespec="seconds")
        body = (await self._http.request("GET", f"{API}/campaigns", params=params)).json()
        return [str(row["id"]) for row in body.get("campaigns", [])]

    async def campaign_report(self, campaign_id: str) -> Report:
        """A sent campaign's report (``GET /reports/{id}``): sends, bounces, unique and
        total opens and clicks, unsubscribes, abuse reports."""
        body = (await self._http.request("GET", f"{API}/reports/{campaign_id}")).json()
        bounces = body.get("bounces") or {}
        opens = body.get("opens") or {}
        clicks = body.get("clicks") or {}
        return Report(
            campaign_id=str(body.get("id", campaign_id)),
            title=str(body.get("campaign_title") or body.get("subject_line") or ""),
            send_time=_time(body.get("send_time")) or datetime.now(UTC),
            sent=int(body.get("emails_sent") or 0),
            opens=int(opens.get("unique_opens") or 0),
            opens_total=int(opens.get("opens_total") or 0),
            clicks=int(clicks.get("unique_subscriber_clicks") or clicks.get("unique_clicks") or 0),
            clicks_total=int(clicks.get("clicks_total") or 0),
            hard_bounces=int(bounces.get("hard_bounces") or 0),
            soft_bounces=int(bounces.get("soft_bounces") or 0),
            unsubscribes=int(body.get("unsubscribed") or 0),
            complaints=int(body.get("abuse_reports") or 0),
        )

    async def email_activity(
        self, campaign_id: str, *, since: datetime | None = None
    ) -> AsyncIterator[list[Recipient]]:
        """Recipients with their opens, clicks and bounces, 1,000 a page
        (``GET /reports/{id}/email-activity``); ``since`` limits the activity listed.
        Mailchimp may leave out recipients without activity: :meth:`sent_to` is the
        recipient list."""
        params: dict[str, Any] = {"fields": "emails.email_address,emails.activity,total_items"}
        if since is not None:
            stamp = since if since.tzinfo else since.replace(tzinfo=UTC)
            params["since"] = stamp.isoformat(timespec="seconds")
        async for rows in self._pages(
            f"{API}/reports/{campaign_id}/email-activity", "emails", params
        ):
            yield [
                Recipient(
                    email=normalise_email(row.get("email_address")),
                    actions=tuple(
                        Action(str(a.get("action", "")), when)
                        for a in row.get("activity") or []
                        if (when := _time(a.get("timestamp"))) is not None
                    ),
                )
                for row in rows
            ]

    async def sent_to(self, campaign_id: str) -> AsyncIterator[list[Recipient]]:
        """Everyone the campaign was sent to, 1,000 a page (``GET /reports/{id}/sent-to``):
        ``reached`` is Sent, or Bounced for status ``hard``/``soft``."""
        params = {"fields": "sent_to.email_address,sent_to.status,total_items"}
        async for rows in self._pages(f"{API}/reports/{campaign_id}/sent-to", "sent_to", params):
            yield [
                Recipient(
                    email=normalise_email(row.get("email_address")),
                    reached=BOUNCED if row.get("status") in ("hard", "soft") else SENT,
                )
                for row in rows
            ]

    async def campaign_unsubscribes(self, campaign_id: str) -> list[tuple[str, datetime]]:
        """(email, when) of everyone who unsubscribed through the campaign
        (``GET /reports/{id}/unsubscribed``; email-activity does not list them)."""
        params = {"fields": "unsubscribes.email_address,unsubscribes.timestamp,total_items"}
        path = f"{API}/reports/{campaign_id}/unsubscribed"
        return [
            (normalise_email(row.get("email_address")), when)
            async for rows in self._pages(path, "unsubscribes", params)
            for row in rows
            if (when := _time(row.get("timestamp"))) is not None
        ]

    # -- e-commerce: abandoned carts → CRM Deals (M5) ------------------------------------

    async def store_carts(self, store_id: str) -> list[Cart]:
        """Every cart of an e-commerce store, 1,000 a page
        (``GET /ecommerce/stores/{id}/carts``); an unknown store is a configuration error."""
        fields = ",".join(f"carts.{name}" for name in CART_FIELDS)
        path = f"{API}/ecommerce/stores/{store_id}/carts"
        with self._missing(f"e-commerce store {store_id!r}"):
            return [
                _cart(row)
                async for rows in self._pages(path, "carts", {"fields": f"{fields},total_items"})
                for row in rows
            ]

    async def _pages(
        self, path: str, key: str, params: Mapping[str, Any]
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Mailchimp's count/offset paging: the non-empty pages of ``key`` rows."""
        offset = 0
        while True:
            query = {**params, "count": PAGE_SIZE, "offset": offset}
            body = (await self._http.request("GET", path, params=query)).json()
            rows: list[dict[str, Any]] = body.get(key, [])
            if rows:
                yield rows
            offset += len(rows)
            if not rows or offset >= int(body.get("total_items") or 0):
                return

    # -- helpers ---------------------------------------------------------------------

    async def _require_list(self, audience: str) -> None:
        await self._list(audience, params={"fields": "id"})

    async def _list(self, audience: str, params: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._get_list_path(audience, "", params)
        body: dict[str, Any] = response.json()
        return body

    async def _get_list_path(
        self, audience: str, suffix: str, params: Mapping[str, Any]
    ) -> httpx.Response:
        with self._missing(f"audience {audience!r}"):
            return await self._http.request("GET", f"{API}/lists/{audience}{suffix}", params=params)

    @contextlib.contextmanager
    def _missing(self, what: str) -> Iterator[None]:
        """A 404 here means the configured object is missing: a ConfigError naming it."""
        try:
            yield
        except ProviderError as exc:
            if exc.status == 404:
                raise self._http.error(ConfigError, f"{what} does not exist", status=404) from None
            raise


class _Row(TypedDict, total=False):
    email_address: str | None


class _Error(TypedDict, total=False):
    email_address: str | None
    error: str | None
    error_code: str | None


class _BatchAnswer(TypedDict, total=False):
    new_members: list[_Row]
    updated_members: list[_Row]
    errors: list[_Error]


_BATCH_ANSWER = TypeAdapter(_BatchAnswer)


def _batch_answer(content: bytes) -> Any:
    """Only what a batch's results need. The answer holds every member in full (about 2 KB
    each; this call takes no ``fields``), and parsing all of it into objects was an eighth
    of an initial load's CPU; validating the JSON against these few keys skips the rest."""
    try:
        return _BATCH_ANSWER.validate_json(content)
    except ValidationError:
        return json.loads(content)  # an unexpected shape: read as before


def _prepare(writes: Sequence[MemberWrite]) -> list[tuple[_Item, WriteResult | None]]:
    """Normalised items, each with its client-side rejection (bad address, repeat) if any."""
    prepared: list[tuple[_Item, WriteResult | None]] = []
    seen: set[str] = set()
    for write in writes:
        email = normalise_email(write.email)
        item = _Item(email=email or write.email, write=write)
        if (problem := email_problem(write.email, MAILCHIMP)) is not None:
            prepared.append((item, _rejected(item.email, "invalid_email", problem)))
        elif email in seen:
            continue  # the first write of an address wins; the engine dedupes before us
        elif write.status is MemberStatus.ARCHIVED or write.status_if_new is MemberStatus.ARCHIVED:
            prepared.append((item, _rejected(email, "unsupported_status", "archive with remove()")))
        else:
            prepared.append((item, None))
        seen.add(email)
    return prepared


def _order(writes: Sequence[MemberWrite], results: Mapping[str, WriteResult]) -> list[str]:
    keys = [normalise_email(w.email) or w.email for w in writes]
    return [k for k in dict.fromkeys(keys) if k in results]


def _written(results: Mapping[str, WriteResult], item: _Item) -> bool:
    result = results.get(item.email)
    return result is not None and result.outcome is not WriteOutcome.REJECTED


def _problem(response: httpx.Response) -> tuple[str, str]:
    """(reason, detail) of a problem-detail answer refusing one member."""
    body = response.json()
    text = f"{body.get('title', '')}: {body.get('detail', '')}"
    return rejection_reason(text), text


def _member(row: Mapping[str, Any]) -> Member:
    last_changed = row.get("last_changed")
    return Member(
        email=normalise_email(row.get("email_address")),
        status=member_status(str(row.get("status", "subscribed"))),
        values={str(k): _text(v) for k, v in (row.get("merge_fields") or {}).items()},
        tags=frozenset(str(t["name"]) for t in row.get("tags") or []),
        last_changed=datetime.fromisoformat(last_changed) if last_changed else None,
        opted_in_at=_time(row.get("timestamp_opt")),
    )


CART_FIELDS = (
    "id",
    "customer.email_address",
    "currency_code",
    "order_total",
    "tax_total",
    "checkout_url",
    "created_at",
    "updated_at",
    "lines.product_id",
    "lines.product_title",
    "lines.quantity",
    "lines.price",
)


def _cart(row: Mapping[str, Any]) -> Cart:
    return Cart(
        id=str(row["id"]),
        email=normalise_email((row.get("customer") or {}).get("email_address")),
        currency=str(row.get("currency_code") or ""),
        order_total=float(row.get("order_total") or 0),
        tax_total=float(row.get("tax_total") or 0),
        checkout_url=str(row.get("checkout_url") or ""),
        created_at=_time(row.get("created_at")),
        updated_at=_time(row.get("updated_at")),
        lines=tuple(
            CartLine(
                product_id=str(line.get("product_id") or ""),
                title=str(line.get("product_title") or ""),
                quantity=int(line.get("quantity") or 0),
                price=float(line.get("price") or 0),
            )
            for line in row.get("lines") or []
        ),
    )


def _time(raw: Any) -> datetime | None:
    return datetime.fromisoformat(str(raw)) if raw else None


def _text(value: Any) -> str:
    """Merge field values as text; the address type is an object in Mailchimp."""
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v)
    return "" if value is None else str(value)
