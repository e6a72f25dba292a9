"""Full reads of a Zoho CRM module through Bulk Read (bulk_read.json), in flat memory.

One job per 200,000 records: ``POST /crm/bulk/v8/read`` (module, fields), then
``GET /crm/bulk/v8/read/{id}`` with backoff until ``COMPLETED`` (``FAILURE`` is an error),
then the ZIP at ``result.download_url`` streamed to a temporary file; ``more_records``
starts the next job with ``query.page_token`` (``page`` + 1 without one). Each CSV is
read row by row out of the ZIP into a sorted spool on disk
(:mod:`crmsync.providers.zoho_bulk_spool`), and records come back in pages of 200,
oldest modification first, as a listing gives them (:mod:`crmsync.providers.zoho_bulk_csv`).
Docs: https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/overview.html.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmsync.engine.records import CrmRecord
from crmsync.providers.http import HttpClient, TransientError
from crmsync.providers.zoho_bulk_choice import PAGE_RECORDS, bulk_read_wins
from crmsync.providers.zoho_bulk_csv import MODIFIED_TIME, CsvPlan, csv_plan, parse_time
from crmsync.providers.zoho_bulk_spool import RowSpool

log = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 4
DOWNLOAD_WINDOW_SECONDS = 30.0
"""A refused download waits this long (half of Zoho's one-minute download window)."""
API = "/crm/v8"
BULK_READ = "/crm/bulk/v8/read"
DONE = frozenset({"COMPLETED", "FAILURE"})


@dataclass(frozen=True)
class Polling:
    """Status polls: ``first`` seconds after creation, growing by ``factor`` to ``longest``;
    a job not done after ``give_up`` seconds is an error. 429s are the HTTP client's."""

    first: float = 0.5
    factor: float = 1.5
    longest: float = 15.0
    give_up: float = 3600.0

    def delays(self) -> Iterator[float]:
        delay, waited = self.first, 0.0
        while waited < self.give_up:
            yield delay
            waited += delay
            delay = min(self.longest, delay * self.factor)


class BulkReader:
    """Bulk Read for one Zoho CRM organisation, over the client's own HTTP client."""

    def __init__(self, http: HttpClient, polling: Polling | None = None) -> None:
        self._http = http
        self.polling = polling or Polling()

    async def full_read(
        self,
        module: str,
        fields: Sequence[str],
        threshold: int | None,
        *,
        records: int | None = None,
        criteria: dict[str, Any] | None = None,
    ) -> AsyncIterator[list[CrmRecord]] | None:
        """The module's records as Bulk Read pages when it pays (more than ``threshold``
        of its ``records``, counted when not given; every field readable from a CSV), else
        None: the caller lists pages. ``criteria`` (the job's) may leave records out."""
        if threshold is None:
            return None
        if not bulk_read_wins(await self.count(module) if records is None else records, threshold):
            return None
        plan = csv_plan(fields, await self._field_metadata(module))
        if plan is None:
            log.info("%s: a field cannot be read from a Bulk Read CSV; listing pages", module)
            return None
        query: dict[str, Any] = {"module": {"api_name": module}, "fields": plan.csv_fields}
        if criteria is not None:
            query["criteria"] = criteria
        first = await self._try_create(query)
        if first is None:
            return None  # refused (a field Zoho does not export, say): listing still works
        return self._pages(plan, query, first)

    async def count(self, module: str) -> int:
        response = await self._http.request("GET", f"{API}/{module}/actions/count")
        return int(response.json().get("count", 0)) if response.content else 0

    async def _field_metadata(self, module: str) -> dict[str, dict[str, Any]]:
        response = await self._http.request(
            "GET", f"{API}/settings/fields", params={"module": module}
        )
        fields = response.json().get("fields", []) if response.status_code != 204 else []
        return {str(f["api_name"]): dict(f) for f in fields}

    async def _pages(
        self, plan: CsvPlan, query: dict[str, Any], first_job: str
    ) -> AsyncIterator[list[CrmRecord]]:
        with tempfile.TemporaryDirectory(prefix="crmsync-bulk-") as tmp:
            spool = RowSpool(Path(tmp) / "rows.sqlite3")
            try:
                await self._export(plan, query, first_job, Path(tmp) / "page.zip", spool)
                for rows in spool.pages(PAGE_RECORDS):
                    yield [plan.record(cells) for cells in rows]
            finally:
                spool.close()

    async def _download(self, url: str, zip_path: Path) -> None:
        """Zoho allows 10 result downloads a minute per org and names no Retry-After; the
        result stays for a day, so a refused download waits out the minute and tries again
        rather than failing the run."""
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                with zip_path.open("w+b") as sink:
                    await self._http.request("GET", url, sink=sink)
                return
            except TransientError:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise
                await asyncio.sleep(DOWNLOAD_WINDOW_SECONDS)

    async def _export(
        self, plan: CsvPlan, query: dict[str, Any], job_id: str, zip_path: Path, spool: RowSpool
    ) -> None:
        page = 1
        while True:
            result = await self._wait(job_id)
            await self._download(str(result["download_url"]), zip_path)
            await asyncio.to_thread(_spool_zip, zip_path, spool, plan.header)
            if not result.get("more_records"):
                return
            page += 1
            query = {k: v for k, v in query.items() if k not in ("page", "page_token")}
            token = result.get("next_page_token")
            query.update({"page_token": token} if token else {"page": page})
            next_job = await self._try_create(query)
            if next_job is None:
                raise self._http.error(TransientError, f"bulk read page {page} refused")
            job_id = next_job

    async def _try_create(self, query: dict[str, Any]) -> str | None:
        """A new job's id, or None when Zoho refuses the job (HTTP 400)."""
        created = await self._http.request(
            "POST", BULK_READ, json={"query": query, "file_type": "csv"}, accept=(400,)
        )
        body = created.json()
        if created.status_code == 400:
            log.warning("bulk read of %s refused: %s", query["module"], body.get("code"))
            return None
        return str(body["data"][0]["details"]["id"])

    async def _wait(self, job_id: str) -> dict[str, Any]:
        """Poll the job until it is done: its ``result``; FAILURE raises TransientError."""
        for delay in self.polling.delays():
            await asyncio.sleep(delay)
            answer = await self._http.request("GET", f"{BULK_READ}/{job_id}")
            job = answer.json()["data"][0]
            if job.get("state") == "COMPLETED":
                return dict(job["result"])
            if job.get("state") == "FAILURE":
                raise self._http.error(
                    TransientError, f"bulk read job {job_id} failed", code="FAILURE"
                )
        raise self._http.error(
            TransientError, f"bulk read job {job_id} not done after {self.polling.give_up:.0f} s"
        )


def _spool_zip(zip_path: Path, spool: RowSpool, expected: list[str]) -> None:
    """The ZIP's CSV, row by row, into the spool (run in a worker thread)."""
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if len(names) != 1:
            raise TransientError(f"zoho-crm: bulk read result holds {len(names)} CSV files")
        with (
            archive.open(names[0]) as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
        ):
            reader = csv.reader(text)
            header = next(reader, [])
            missing = [name for name in expected if name not in header]
            if missing:
                # Read as empty, they would clear the values they map to.
                raise TransientError(f"zoho-crm: bulk read CSV lacks the columns {missing}")
            rows: Iterator[list[str]] = (row for row in reader if row)
            if header != expected:  # the CSV's own column order, mapped back to the plan's
                where = [header.index(name) for name in expected]
                rows = ([row[i] for i in where] for row in rows)
            at = expected.index(MODIFIED_TIME)
            spool.add((int(parse_time(row[at]).timestamp() * 1000), row[0], row) for row in rows)
    zip_path.unlink()
