"""Full reads of a Zoho CRM module narrowed by a sync's criteria (issue 14.3).

The pushed criteria (:mod:`crmsync.providers.zoho_criteria`) select the ids through COQL
(``select Modified_Time from M where … and id > last order by id limit 2000``: keyset
pages, no OFFSET ceiling), then the records are read by id (``GET /{module}?ids=``, 100 a
call), so they have exactly the listing's shape (lookups with names, which COQL does not
give). Pages come oldest modification first, as a listing gives them. When the ids show
the criteria are not selective enough (:mod:`crmsync.providers.zoho_read_cost`) or Zoho
refuses the query, the caller reads the whole module instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from crmsync.engine.records import CrmRecord
from crmsync.providers import zoho_criteria
from crmsync.providers.http import HttpClient, chunked
from crmsync.providers.zoho_lookup import IDS_PER_CALL, coql_identifier
from crmsync.providers.zoho_read_cost import (
    COQL_PAGE,
    affordable_matches,
    page_limit,
    probe_pays,
    still_cheaper,
)

log = logging.getLogger(__name__)

API = "/crm/v8"
MODIFIED_TIME = "Modified_Time"
ReadById = Callable[[str, Sequence[str], Sequence[str]], Awaitable[list[CrmRecord]]]


def _id_key(record_id: str) -> tuple[int, str]:
    return (len(record_id), record_id)


def _parse_time(raw: object) -> datetime:
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))


def ids_query(
    module: str, where: str, after: str | None, limit: int = COQL_PAGE, offset: int = 0
) -> str:
    """One keyset page of ids (with their modification time) matching ``where``."""
    if after is not None and not after.isdigit():
        raise ValueError(f"not a Zoho record id: {after!r}")
    clause = zoho_criteria.in_pairs([where, f"id > {after}"], "and") if after else where
    name = coql_identifier(module)
    rows = f"{offset}, {limit}" if offset else f"{limit}"
    return f"select {MODIFIED_TIME} from {name} where {clause} order by id asc limit {rows}"


class FilteredReader:
    def __init__(self, http: HttpClient, read_by_id: ReadById) -> None:
        self._http = http
        self._read_by_id = read_by_id

    async def matching_ids(self, module: str, where: str, whole_credits: int) -> list[str] | None:
        """Ids of the records matching ``where``, oldest modification first, or None when
        reading them and then the records would cost ``whole_credits`` or more (or Zoho
        refuses the query)."""
        affordable = affordable_matches(whole_credits)
        if affordable < 0:
            return None
        # Whether no more than ``affordable`` match is known (or the first page shows it).
        known = probe_pays(affordable) or affordable < COQL_PAGE
        if probe_pays(affordable):
            past = await self._query(module, ids_query(module, where, None, 1, affordable))
            if past is None or past.get("data"):
                return None
        found: list[tuple[datetime, str]] = []
        after: str | None = None
        limit = page_limit(affordable)
        while True:
            body = await self._query(module, ids_query(module, where, after, limit))
            if body is None:
                return None
            rows = body.get("data") or []
            found.extend((_parse_time(r[MODIFIED_TIME]), str(r["id"])) for r in rows)
            more = bool((body.get("info") or {}).get("more_records")) and bool(rows)
            if len(found) > affordable:
                return None  # more than pay (added since the probe, or past its reach)
            if not known and not still_cheaper(len(found), more, whole_credits):
                return None
            if not more:
                break
            after = str(rows[-1]["id"])
        found.sort(key=lambda pair: (pair[0], _id_key(pair[1])))
        return [record_id for _, record_id in found]

    async def _query(self, module: str, query: str) -> dict[str, Any] | None:
        """The COQL answer (``{}`` for none), or None when Zoho refuses the query."""
        response = await self._http.request(
            "POST", f"{API}/coql", json={"select_query": query}, accept=(400,)
        )
        if response.status_code == 400:
            log.info(
                "%s: COQL refused the criteria (%s); reading it all",
                module,
                response.json().get("code"),
            )
            return None
        return dict(response.json()) if response.status_code != 204 else {}

    async def records(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> AsyncIterator[list[CrmRecord]]:
        """The records of ``ids`` by id, in pages kept in modification order."""
        for chunk in chunked(list(ids), IDS_PER_CALL):
            page = await self._read_by_id(module, chunk, fields)
            yield sorted(page, key=lambda r: (r.modified_time, _id_key(r.id)))
