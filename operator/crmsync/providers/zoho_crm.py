"""Zoho CRM (REST API v8) as a :class:`~crmsync.providers.base.CrmSource`.

Listing uses ``GET /crm/v8/{module}`` rather than COQL: it is sorted by ``Modified_Time``
ascending, takes ``If-Modified-Since`` for incremental reads (a 304 costs one credit and
means "nothing changed"), pages past 2,000 records with ``page_token`` (a keyset on
modification time and id, so records edited during a long read move later instead of
shifting pages), returns lookups as ``{id, name}`` and flags converted leads with
``$converted`` when asked for ``converted=both``. COQL would need one query per 2,000 rows
with an OFFSET ceiling and cannot filter converted leads the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from crmsync.engine.records import (
    CrmField,
    CrmRecord,
    DeletedRecord,
    WriteOutcome,
    WriteResult,
    normalise_email,
)
from crmsync.providers import zoho_criteria
from crmsync.providers import zoho_lookup as lookup
from crmsync.providers.base import CriteriaRead
from crmsync.providers.http import (
    ConfigError,
    HttpClient,
    ProviderError,
    TransientError,
    chunked,
    default_retry_when,
)
from crmsync.providers.shared import ModuleShare
from crmsync.providers.zoho_auth import ZohoSession
from crmsync.providers.zoho_bulk import BulkReader
from crmsync.providers.zoho_filtered_read import FilteredReader
from crmsync.providers.zoho_lookup import Lookup
from crmsync.providers.zoho_read_cost import affordable_matches, whole_read_credits

API = "/crm/v8"
PER_PAGE = 200
MAX_FIELDS = 50
IDS_PER_CALL = 100
WRITES_PER_CALL = 100
MODIFIED_TIME = "Modified_Time"
CONVERTED_MODULES = frozenset({"Leads"})
"""Modules with lead conversion: listed with ``converted=both`` so converted records are seen."""
CAMPAIGNS = "Campaigns"
DEALS = "Deals"

ListingCursor = tuple[dict[str, Any], int]
"""A listing page's query and its number."""
ListingFetch = Callable[[ListingCursor], Awaitable[tuple[list[CrmRecord], ListingCursor | None]]]


def crm_retry_when(response: httpx.Response) -> bool:
    """Retry 429 for concurrency, but not ``LIMIT_REACHED``: the day's credits are gone."""
    return default_retry_when(response) and _error_code(response) != "LIMIT_REACHED"


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def zoho_time(value: datetime) -> str:
    """Zoho's ISO-8601 with offset, whole seconds (what ``If-Modified-Since`` expects)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.isoformat(timespec="seconds")


def parse_time(raw: Any) -> datetime:
    parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class WatchChannel:
    channel_id: str
    expiry: datetime
    events: tuple[str, ...]


class ZohoCrm:
    """One Zoho CRM organisation. Use as an async context manager."""

    def __init__(
        self,
        session: ZohoSession,
        bulk_read_threshold: int | None = None,
        shared: ModuleShare | None = None,
    ) -> None:
        """``bulk_read_threshold``: full reads of more records use Bulk Read
        (:mod:`crmsync.providers.zoho_bulk_choice`); None lists pages always. ``shared``:
        module fields as every client of the Connection reads them
        (:mod:`crmsync.providers.shared`)."""
        self._session = session
        self.shared = shared if shared is not None else ModuleShare()
        self._http: HttpClient = session.api
        self.bulk = BulkReader(self._http)
        self.filtered = FilteredReader(self._http, self.records_by_id)
        self.bulk_read_threshold = bulk_read_threshold

    def __repr__(self) -> str:
        return f"ZohoCrm({self._http!r})"

    async def __aenter__(self) -> ZohoCrm:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._session.aclose()

    # -- account -------------------------------------------------------------------

    async def verify(self) -> dict[str, Any]:
        """The organisation; the token refresh it needs proves the credentials.

        Zoho publishes no "credits remaining" API or header for v8, so ``credits_remaining``
        is -1 (unknown); the operator counts its own calls instead.
        """
        response = await self._http.request("GET", f"{API}/org")
        org = (response.json().get("org") or [{}])[0]
        license_details = org.get("license_details") or {}
        return {
            "account_id": str(org.get("id", "")),
            "account_name": str(org.get("company_name", "")),
            "edition": str(license_details.get("paid_type", "")),
            "time_zone": str(org.get("time_zone", "")),
            "credits_remaining": -1,
        }

    async def fields(self, module: str) -> list[CrmField]:
        """The module's fields, read once a minute per account."""

        async def read() -> tuple[CrmField, ...]:
            response = await self._http.request(
                "GET", f"{API}/settings/fields", params={"module": module}
            )
            if response.status_code == 204:
                return ()
            return tuple(
                CrmField(
                    api_name=str(f["api_name"]),
                    data_type=str(f.get("data_type", "")),
                    label=str(f.get("field_label") or f.get("display_label") or ""),
                    read_only=bool(f.get("read_only") or f.get("field_read_only")),
                )
                for f in response.json().get("fields", [])
            )

        return list(await self.shared.fields.get(module, read))

    def forget(self, module: str) -> None:
        """Read the module's fields afresh next time (a check failed)."""
        self.shared.fields.forget(module)

    # -- reading -------------------------------------------------------------------

    async def records(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime | None = None,
        criteria: CriteriaRead | None = None,
    ) -> AsyncIterator[list[CrmRecord]]:
        """Pages of 200, oldest modification first; ``page_token`` after the first page.
        A full read of a large module is a Bulk Read (same records, same order). A full
        read given ``criteria`` reads only the records that may match them when that
        costs less (:mod:`crmsync.providers.zoho_filtered_read`); converted leads, which
        COQL and Bulk Read leave out, keep Leads on the listing."""
        if modified_since is None and module not in CONVERTED_MODULES:
            names = self._listing_params(module, fields)["fields"].split(",")
            pages = await self._full_read(module, names, criteria)
            if pages is not None:
                async for read in pages:
                    yield read
                return
        params: dict[str, Any] = {
            **self._listing_params(module, fields),
            "per_page": PER_PAGE,
            "sort_by": MODIFIED_TIME,
            "sort_order": "asc",
        }
        if modified_since is None:
            # The same whole listing for every run that starts it together (one per page).
            key = (module, params["fields"], params.get("converted"))
            shared = self.shared.listings.pages(key, (params, 1), self._listing_page(module, {}))
            async with aclosing(shared) as pages:
                async for page in pages:
                    if page:
                        yield page
            return
        fetch = self._listing_page(module, {"If-Modified-Since": zoho_time(modified_since)})
        cursor: ListingCursor | None = (params, 1)
        while cursor is not None:
            page, cursor = await fetch(cursor)
            if page:
                yield page

    def _listing_page(self, module: str, headers: dict[str, str]) -> ListingFetch:
        """Reads one listing page: its records and the next page's cursor (None: the last)."""

        async def fetch(cursor: ListingCursor) -> tuple[list[CrmRecord], ListingCursor | None]:
            params, number = cursor
            response = await self._http.request(
                "GET", f"{API}/{module}", params=params, headers=headers
            )
            if response.status_code in (204, 304):
                return [], None
            body = response.json()
            page = [self._record(row) for row in body.get("data", [])]
            info = body.get("info") or {}
            if not info.get("more_records"):
                return page, None
            following = {k: v for k, v in params.items() if k != "page"}
            if info.get("next_page_token"):
                following["page_token"] = info["next_page_token"]
            else:
                following["page"] = number + 1
            return page, (following, number + 1)

        return fetch

    async def _full_read(
        self, module: str, fields: list[str], criteria: CriteriaRead | None
    ) -> AsyncIterator[list[CrmRecord]] | None:
        """A filtered or Bulk Read of the module, or None: the caller lists pages."""
        threshold = self.bulk_read_threshold
        if criteria is None or not criteria.criteria:
            return await self.bulk.full_read(module, fields, threshold)
        count = await self.module_count(module)
        whole = whole_read_credits(count, threshold)
        conditions: list[zoho_criteria.Condition] = []
        if affordable_matches(whole) >= 0:  # else even one COQL call costs what the read does
            types = {f.api_name: f.data_type for f in await self.fields(module)}
            conditions = zoho_criteria.pushed(
                criteria.criteria, types, zoho_criteria.MAX_CRITERIA - 1
            )
        if conditions:
            ids = await self.filtered.matching_ids(
                module, zoho_criteria.coql_where(conditions), whole
            )
            if ids is not None:
                criteria.narrowed = True
                return self.filtered.records(module, ids, fields)
        bulk_criteria = zoho_criteria.bulk_criteria(conditions)
        bulk = await self.bulk.full_read(
            module, fields, threshold, records=count, criteria=bulk_criteria
        )
        criteria.narrowed = bulk is not None and bulk_criteria is not None
        return bulk

    async def records_by_id(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        found: list[CrmRecord] = []
        for chunk in chunked(list(dict.fromkeys(ids)), IDS_PER_CALL):
            params = {**self._listing_params(module, fields), "ids": ",".join(chunk)}
            response = await self._http.request("GET", f"{API}/{module}", params=params)
            if response.status_code != 204:
                found.extend(self._record(row) for row in response.json().get("data", []))
        return found

    async def child_ids(
        self, parent_module: str, parent_ids: Sequence[str], module: str
    ) -> set[str]:
        """Ids of the ``module`` records linked to these parents (``GET
        /{parent}/{id}/{module}``, the related list): the Contacts of edited Accounts."""
        found: set[str] = set()
        for parent_id in dict.fromkeys(parent_ids):
            path = f"{API}/{parent_module}/{parent_id}/{module}"
            # A parent deleted since (400/404) has no children to find.
            async for body in self._numbered_pages(path, {"fields": "id"}, accept=(400, 404)):
                found.update(str(row["id"]) for row in body.get("data", []) if row.get("id"))
        return found

    async def related_values(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, Mapping[str, Any]]:
        records = await self.records_by_id(module, ids, fields)
        return {record.id: record.values for record in records}

    async def newest_linked(
        self, module: str, link_field: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, Mapping[str, Any]]:
        """COQL ``link_field in (…)``, 100 ids a query: one call per 100 records instead of
        each record's related list."""
        plain = [i for i in dict.fromkeys(ids) if lookup.coql_safe(i)]
        if not plain:
            return {}
        select = list(dict.fromkeys([link_field, MODIFIED_TIME, *fields]))
        newest: dict[str, CrmRecord] = {}
        for row in await self._coql_in(module, link_field, plain, select):
            link = row.get(link_field)
            if not isinstance(link, dict) or not link.get("id"):
                continue
            record = self._record(row)
            key = str(link["id"])
            held = newest.get(key)
            if held is None or _id_order(record) > _id_order(held):
                newest[key] = record
        return {key: record.values for key, record in newest.items()}

    async def records_by_email(
        self,
        module: str,
        email_field: str,
        emails: Sequence[str],
        fields: Sequence[str],
        *,
        method: Lookup | None = None,
    ) -> list[CrmRecord]:
        """Records whose email field is one of ``emails`` (case-insensitive), found the
        cheapest documented way (:mod:`crmsync.providers.zoho_lookup`), or by ``method``."""
        keys = list(dict.fromkeys(normalise_email(e) for e in emails if normalise_email(e)))
        if not keys:
            return []
        coql = module not in CONVERTED_MODULES
        refetch = bool(set(fields) - {email_field, "id"})
        if method is None:
            size = None
            if lookup.size_matters(len(keys), coql=coql, refetch=refetch):
                size = await self.module_count(module)
            method = lookup.choose(len(keys), coql=coql, refetch=refetch, module_size=size)
        if method is Lookup.LISTING:
            return await self._listing_match(module, email_field, set(keys), fields)
        if method is Lookup.COQL:
            return await self._coql_lookup(module, email_field, keys, fields)
        return await self._search_in(module, email_field, keys, fields)

    async def module_count(self, module: str) -> int:
        """``GET /{module}/actions/count``: read each time, not shared (a count a minute
        old misses an import, and a full run would read the whole module for it)."""
        response = await self._http.request("GET", f"{API}/{module}/actions/count")
        return int(response.json().get("count", 0)) if response.status_code != 204 else 0

    async def _search_in(
        self, module: str, field: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        """``GET /{module}/search`` with ``(Field:in:…)``, 10 values a call."""
        found: list[CrmRecord] = []
        for chunk in chunked(list(values), lookup.SEARCH_VALUES):
            params = {
                **self._listing_params(module, fields),
                "criteria": f"({field}:in:{','.join(_criteria_escape(v) for v in chunk)})",
                "per_page": PER_PAGE,
            }
            response = await self._http.request("GET", f"{API}/{module}/search", params=params)
            if response.status_code != 204:
                found.extend(self._record(row) for row in response.json().get("data", []))
        return found

    async def _coql_lookup(
        self, module: str, field: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        """COQL ``in`` batches; the records' other fields, when wanted, read by id."""
        plain = [v for v in values if lookup.coql_safe(v)]
        rows = await self._coql_in(module, field, plain, (field, MODIFIED_TIME)) if plain else []
        if set(fields) - {field, "id"}:
            found = await self.records_by_id(module, [str(r["id"]) for r in rows], fields)
        else:
            found = [self._record(row) for row in rows]
        odd = [v for v in values if not lookup.coql_safe(v)]
        return found + (await self._search_in(module, field, odd, fields) if odd else [])

    async def _coql_in(
        self, module: str, field: str, values: Sequence[str], select: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Rows of ``select … where field in (…)``, every page of every batch."""
        rows: list[dict[str, Any]] = []
        for batch in lookup.coql_batches(values):
            limit, offset = lookup.coql_limit(len(batch)), 0
            while True:
                query = lookup.coql_in_query(
                    module, field, batch, select, limit=limit, offset=offset
                )
                response = await self._http.request(
                    "POST", f"{API}/coql", json={"select_query": query}
                )
                if response.status_code == 204:
                    break
                body = response.json()
                rows.extend(body.get("data", []))
                if not (body.get("info") or {}).get("more_records"):
                    break
                offset += limit
        return rows

    async def _listing_match(
        self, module: str, field: str, keys: set[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        """Every page of the module, kept where ``field`` is one of ``keys``."""
        found: list[CrmRecord] = []
        async for page in self.records(module, list(dict.fromkeys([*fields, field]))):
            found.extend(r for r in page if normalise_email(r.values.get(field)) in keys)
        return found

    async def deleted_since(self, module: str, since: datetime | None) -> list[DeletedRecord]:
        """Deletions, newest first as Zoho pages them; ``If-Modified-Since`` narrows them."""
        headers = {"If-Modified-Since": zoho_time(since)} if since else {}
        deleted: list[DeletedRecord] = []
        pages = self._numbered_pages(f"{API}/{module}/deleted", {"type": "all"}, headers=headers)
        async for body in pages:
            for row in body.get("data", []):
                when = parse_time(row["deleted_time"])
                # deleted_time has whole seconds: compare with ``since`` at that precision,
                # or a deletion in the same second as the checkpoint would be lost.
                if since is None or when >= since.replace(microsecond=0):
                    deleted.append(DeletedRecord(id=str(row["id"]), deleted_time=when))
        return deleted

    async def newest_changes(self, module: str, rows: int) -> list[tuple[str, datetime]]:
        """The ``rows`` records modified last, newest first, as (id, ``Modified_Time``): one
        call, the listing sorted newest first (quiet polls, :mod:`crmsync.engine.quiet`)."""
        params = {
            **self._listing_params(module, []),
            "per_page": rows,
            "sort_by": MODIFIED_TIME,
            "sort_order": "desc",
        }
        response = await self._http.request("GET", f"{API}/{module}", params=params)
        if response.status_code in (204, 304):
            return []
        return [
            (str(r["id"]), parse_time(r[MODIFIED_TIME])) for r in response.json().get("data") or []
        ]

    async def newest_deletion(self, module: str) -> datetime | None:
        """The newest ``deleted_time`` of the module (None: no deletion), one call: Zoho
        lists deletions newest first."""
        response = await self._http.request(
            "GET", f"{API}/{module}/deleted", params={"type": "all", "per_page": 1, "page": 1}
        )
        if response.status_code in (204, 304):
            return None
        rows = response.json().get("data") or []
        return parse_time(rows[0]["deleted_time"]) if rows else None

    async def _numbered_pages(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
    ) -> AsyncIterator[dict[str, Any]]:
        """The answers of a listing paged by ``page`` (200 a page) until ``more_records``
        is false; nothing for 204, 304 or an accepted error."""
        page = 1
        while True:
            response = await self._http.request(
                "GET",
                path,
                params={**params, "per_page": PER_PAGE, "page": page},
                headers=dict(headers or {}),
                accept=accept,
            )
            if response.status_code in (204, 304) or response.status_code in accept:
                return
            body: dict[str, Any] = response.json()
            yield body
            if not (body.get("info") or {}).get("more_records"):
                return
            page += 1

    # -- writing -------------------------------------------------------------------

    async def update_records(
        self, module: str, updates: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """``PUT /{module}``, 100 per call; each record's result read from ``data[]``.

        All-failed batches come back as HTTP 400 with the same per-record ``data[]``, so a
        400 is only an error when it has no ``data`` array (a bad module, say).
        """
        results: list[WriteResult] = []
        for chunk in chunked(list(updates), WRITES_PER_CALL):
            if any(not u.get("id") for u in chunk):
                raise ConfigError("zoho-crm: every update needs the record id", vendor="zoho-crm")
            response = await self._http.request(
                "PUT", f"{API}/{module}", json={"data": [dict(u) for u in chunk]}, accept=(400,)
            )
            items = self._per_record_items(response, f"PUT {API}/{module}")
            for update, item in zip(chunk, items, strict=True):
                results.append(_write_result(update, item))
        return results

    async def create_records(
        self, module: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """``POST /{module}``, 100 per call; each record's result (and new id) from ``data[]``."""
        results: list[WriteResult] = []
        for chunk in chunked(list(records), WRITES_PER_CALL):
            response = await self._http.request(
                "POST", f"{API}/{module}", json={"data": [dict(r) for r in chunk]}, accept=(400,)
            )
            items = self._per_record_items(response, f"POST {API}/{module}")
            for record, item in zip(chunk, items, strict=True):
                new_id = str((item.get("details") or {}).get("id", ""))
                results.append(_write_result({**record, "id": new_id}, item, WriteOutcome.CREATED))
        return results

    # -- users and notes (mailbox capture) -------------------------------------------

    async def users(self) -> list[dict[str, Any]]:
        """``GET /users?type=AllUsers``: active and deactivated users (G5, G6)."""
        response = await self._http.request("GET", f"{API}/users", params={"type": "AllUsers"})
        if response.status_code == 204:
            return []
        return [dict(u) for u in response.json().get("users", [])]

    async def notes(self, module: str, record_id: str) -> list[dict[str, Any]]:
        """The record's Notes related list, every page."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = await self._http.request(
                "GET",
                f"{API}/{module}/{record_id}/Notes",
                params={"per_page": PER_PAGE, "page": page},
            )
            if response.status_code == 204:
                return found
            body = response.json()
            found.extend(dict(n) for n in body.get("data", []))
            if not (body.get("info") or {}).get("more_records"):
                return found
            page += 1

    async def create_notes(self, notes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``POST /Notes`` (each with ``Parent_Id``), 100 per call; per-note results."""
        results: list[dict[str, Any]] = []
        for chunk in chunked(list(notes), WRITES_PER_CALL):
            response = await self._http.request(
                "POST", f"{API}/Notes", json={"data": [dict(n) for n in chunk]}, accept=(400,)
            )
            results.extend(self._per_record_items(response, f"POST {API}/Notes"))
        return results

    # -- notifications -------------------------------------------------------------

    async def watch(
        self,
        channel_id: str,
        events: Sequence[str],
        notify_url: str,
        token: str,
        expiry: datetime,
        *,
        return_affected_field_values: bool = False,
    ) -> WatchChannel:
        """Subscribe (or re-subscribe: same channel id) to ``Module.create|edit|delete|all``."""
        response = await self._http.request(
            "POST",
            f"{API}/actions/watch",
            json={
                "watch": [
                    {
                        "channel_id": int(channel_id) if channel_id.isdigit() else channel_id,
                        "events": list(events),
                        "notify_url": notify_url,
                        "token": token,
                        "channel_expiry": zoho_time(expiry),
                        "return_affected_field_values": return_affected_field_values,
                    }
                ]
            },
            accept=(400,),
        )
        item = (response.json().get("watch") or [{}])[0]
        if item.get("status") != "success":
            raise self._http.error(
                ConfigError,
                f"watch refused: {item.get('code', '')} {item.get('message', '')}",
                status=response.status_code,
                code=str(item.get("code", "")),
            )
        details = (item.get("details") or {}).get("events") or []
        expiries = [parse_time(e["channel_expiry"]) for e in details if e.get("channel_expiry")]
        return WatchChannel(
            channel_id=channel_id,
            expiry=min(expiries) if expiries else expiry,
            events=tuple(events),
        )

    async def channels(self) -> dict[str, str]:
        """The organisation's live channels: channel id → notify URL (``GET /actions/watch``,
        one entry per channel and event)."""
        found: dict[str, str] = {}
        for page in range(1, 51):
            response = await self._http.request(
                "GET", f"{API}/actions/watch", params={"page": page, "per_page": PER_PAGE}
            )
            if response.status_code == 204:
                break
            answer = response.json()
            for item in answer.get("watch") or []:
                found[str(item.get("channel_id", ""))] = str(item.get("notify_url", ""))
            if not (answer.get("info") or {}).get("more_records"):
                break
        return found

    async def unwatch(self, channel_ids: Sequence[str]) -> None:
        """Disable channels; one that is already gone (``NOT_SUBSCRIBED``) is fine."""
        if not channel_ids:
            return
        await self._http.request(
            "DELETE",
            f"{API}/actions/watch",
            params={"channel_ids": ",".join(channel_ids)},
            accept=(400,),
        )

    # -- campaigns: campaign activity back into the CRM (Z16, C2) ---------------------

    async def campaigns_named(self, name: str, fields: Sequence[str]) -> list[CrmRecord]:
        """Campaigns records with this ``Campaign_Name`` (``GET /Campaigns/search``)."""
        params = {
            **self._listing_params(CAMPAIGNS, fields),
            "criteria": f"(Campaign_Name:equals:{_criteria_escape(name)})",
            "per_page": PER_PAGE,
        }
        response = await self._http.request("GET", f"{API}/{CAMPAIGNS}/search", params=params)
        if response.status_code == 204:
            return []
        return [self._record(row) for row in response.json().get("data", [])]

    async def deals_named(
        self, names: Sequence[str], fields: Sequence[str], *, method: Lookup | None = None
    ) -> list[CrmRecord]:
        """Deals with one of these ``Deal_Name`` values: search (``in``, 10 names a call)
        or, when cheaper, COQL ``in`` batches and a read by id; or by ``method``."""
        unique_names = list(dict.fromkeys(names))
        if not unique_names:
            return []
        refetch = bool(set(fields) - {"Deal_Name", "id"})
        if method is None:
            method = lookup.choose(len(unique_names), coql=True, refetch=refetch, module_size=None)
        if method is Lookup.COQL:
            return await self._coql_lookup(DEALS, "Deal_Name", unique_names, fields)
        return await self._search_in(DEALS, "Deal_Name", unique_names, fields)

    async def save_campaign(self, values: Mapping[str, Any], record_id: str = "") -> WriteResult:
        """Create a Campaigns record (``POST /Campaigns``) or, given its id, update it
        (``PUT /Campaigns``); the result carries the record id."""
        if record_id:
            return (await self.update_records(CAMPAIGNS, [{**values, "id": record_id}]))[0]
        return (await self.create_records(CAMPAIGNS, [values]))[0]

    async def campaign_members(
        self, campaign_id: str, module: str, email_field: str = "Email"
    ) -> dict[str, tuple[str, str]]:
        """The campaign's ``module`` related list (``GET /Campaigns/{id}/{module}``), every
        page: record id → (normalised email, Member_Status)."""
        found: dict[str, tuple[str, str]] = {}
        page = 1
        while True:
            response = await self._http.request(
                "GET",
                f"{API}/{CAMPAIGNS}/{campaign_id}/{module}",
                params={"fields": email_field, "per_page": PER_PAGE, "page": page},
            )
            if response.status_code == 204:
                return found
            body = response.json()
            for row in body.get("data", []):
                found[str(row["id"])] = (
                    normalise_email(row.get(email_field)),
                    str(row.get("Member_Status") or ""),
                )
            if not (body.get("info") or {}).get("more_records"):
                return found
            page += 1

    async def record_campaigns(self, module: str, record_id: str) -> dict[str, str]:
        """One lead's or contact's Campaigns related list (``GET /{module}/{id}/Campaigns``),
        every page: campaign id → Member_Status. A record that is gone (``INVALID_DATA`` for
        its id) has none."""
        found: dict[str, str] = {}
        page = 1
        while True:
            response = await self._http.request(
                "GET",
                f"{API}/{module}/{record_id}/{CAMPAIGNS}",
                params={"fields": "Campaign_Name", "per_page": PER_PAGE, "page": page},
                accept=(400,),
            )
            if response.status_code == 400 and _error_code(response) == "INVALID_DATA":
                return found
            if response.status_code == 400:
                raise self._http.error(
                    ConfigError,
                    f"GET {API}/{module}/{{id}}/{CAMPAIGNS} failed: {_error_code(response)}",
                    status=400,
                    code=_error_code(response),
                )
            if response.status_code == 204:
                return found
            body = response.json()
            for row in body.get("data", []):
                found[str(row["id"])] = str(row.get("Member_Status") or "")
            if not (body.get("info") or {}).get("more_records"):
                return found
            page += 1

    async def set_member_statuses(
        self, campaign_id: str, module: str, statuses: Mapping[str, str]
    ) -> dict[str, WriteResult]:
        """Link records to the campaign with a ``Member_Status`` each
        (``PUT /Campaigns/{id}/{module}``, 100 a call): record id → its result."""
        results: dict[str, WriteResult] = {}
        items = [{"id": rid, "Member_Status": status} for rid, status in statuses.items()]
        path = f"{API}/{CAMPAIGNS}/{campaign_id}/{module}"
        for chunk in chunked(items, WRITES_PER_CALL):
            response = await self._http.request("PUT", path, json={"data": chunk}, accept=(400,))
            answers = self._per_record_items(response, f"PUT {path}")
            for item, answer in zip(chunk, answers, strict=True):
                results[item["id"]] = _write_result({"id": item["id"]}, answer)
        return results

    # -- helpers -------------------------------------------------------------------

    def _listing_params(self, module: str, fields: Sequence[str]) -> dict[str, Any]:
        names = list(dict.fromkeys([*fields, MODIFIED_TIME]))
        names = [n for n in names if n != "id"]
        if len(names) > MAX_FIELDS:
            raise ConfigError(
                f"zoho-crm: at most {MAX_FIELDS - 1} fields can be read from {module} "
                f"(asked for {len(names) - 1})",
                vendor="zoho-crm",
            )
        params: dict[str, Any] = {"fields": ",".join(names)}
        if module in CONVERTED_MODULES:
            params["converted"] = "both"
        return params

    @staticmethod
    def _record(row: Mapping[str, Any]) -> CrmRecord:
        values = {k: v for k, v in row.items() if not k.startswith("$") and k != "id"}
        return CrmRecord(
            id=str(row["id"]),
            modified_time=parse_time(row[MODIFIED_TIME]),
            values=values,
            converted=bool(row.get("$converted", False)),
        )

    def _per_record_items(self, response: httpx.Response, what: str) -> list[dict[str, Any]]:
        body = response.json() if response.content else {}
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            code = str(body.get("code", "")) if isinstance(body, dict) else ""
            message = str(body.get("message", "")) if isinstance(body, dict) else ""
            cls: type[ProviderError] = (
                ConfigError if response.status_code == 400 else TransientError
            )
            raise self._http.error(
                cls,
                f"{what} failed: {code} {message}".strip(),
                status=response.status_code,
                code=code,
            )
        return items


def _id_order(record: CrmRecord) -> tuple[datetime, int, str]:
    """Newest last: by modification time, then by id (ids grow with creation)."""
    return record.modified_time, len(record.id), record.id


def _criteria_escape(value: str) -> str:
    """Search criteria values escape ``(``, ``)`` and ``,`` with a backslash."""
    return value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").replace(",", "\\,")


def _write_result(
    update: Mapping[str, Any],
    item: Mapping[str, Any],
    success: WriteOutcome = WriteOutcome.UPDATED,
) -> WriteResult:
    email = normalise_email(update.get("Email")) if update.get("Email") else ""
    record_id = str(update.get("id", ""))
    if item.get("status") == "success":
        return WriteResult(email=email, outcome=success, record_id=record_id)
    details = item.get("details") or {}
    field = details.get("api_name", "") if isinstance(details, dict) else ""
    return WriteResult(
        email=email,
        outcome=WriteOutcome.REJECTED,
        reason=str(item.get("code", "error")).lower(),
        detail=f"{field}: {item.get('message', '')}".strip(": "),
        record_id=record_id,
    )
