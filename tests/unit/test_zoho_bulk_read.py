"""Bulk Read pieces without a server: CSV cells → listing values, listing order, the choice,
and the streamed download's retry."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from crmsync.providers.http import CallStats, HttpClient, RetryPolicy
from crmsync.providers.zoho_bulk import BulkReader, Polling
from crmsync.providers.zoho_bulk_choice import (
    BULK_READ_THRESHOLD,
    bulk_credits,
    bulk_read_wins,
    paging_credits,
)
from crmsync.providers.zoho_bulk_csv import csv_plan
from crmsync.providers.zoho_bulk_spool import RowSpool

META = {
    "Email": {"api_name": "Email", "data_type": "email"},
    "Email_Opt_Out": {"api_name": "Email_Opt_Out", "data_type": "boolean"},
    "Account_Name": {"api_name": "Account_Name", "data_type": "lookup",
                     "lookup": {"module": {"api_name": "Accounts"}}},
    "Reporting_To": {"api_name": "Reporting_To", "data_type": "lookup",
                     "lookup": {"module": {"api_name": "Contacts"}}},
    "Owner": {"api_name": "Owner", "data_type": "ownerlookup"},
    "Modified_Time": {"api_name": "Modified_Time", "data_type": "datetime"},
    "Loyalty_Points": {"api_name": "Loyalty_Points", "data_type": "integer"},
    "Amount": {"api_name": "Amount", "data_type": "currency"},
    "Topics": {"api_name": "Topics", "data_type": "multiselectpicklist"},
    "Birthday": {"api_name": "Birthday", "data_type": "date"},
}  # fmt: skip


def test_cells_become_what_a_listing_gives() -> None:
    fields = ["Email", "Email_Opt_Out", "Account_Name", "Loyalty_Points", "Amount", "Topics",
              "Birthday"]  # fmt: skip
    plan = csv_plan(fields, META)
    assert plan is not None
    assert plan.csv_fields == [*fields[:3], "Account_Name.Account_Name", *fields[3:],
                               "Modified_Time"]  # fmt: skip
    row = {
        "id": "5725767000000123456",
        "Email": "Ana@Example.com",
        "Email_Opt_Out": "true",
        "Account_Name": "5725767000000000042",
        "Account_Name.Account_Name": "Zylker",
        "Loyalty_Points": "120",
        "Amount": "99.5",
        "Topics": "Events;Offers",
        "Birthday": "1990-02-01",
        "Modified_Time": "2025-01-31T09:15:02+01:00",
    }
    assert plan.header == ["id", *plan.csv_fields]
    record = plan.record([row[name] for name in plan.header])
    assert record.id == "5725767000000123456"
    assert record.modified_time == datetime(2025, 1, 31, 8, 15, 2, tzinfo=UTC)
    assert dict(record.values) == {
        "Email": "Ana@Example.com",
        "Email_Opt_Out": True,
        "Account_Name": {"name": "Zylker", "id": "5725767000000000042"},
        "Loyalty_Points": 120,
        "Amount": 99.5,
        "Topics": ["Events", "Offers"],
        "Birthday": "1990-02-01",
        "Modified_Time": "2025-01-31T09:15:02+01:00",
    }
    assert record.converted is False


def test_empty_cells_are_nulls() -> None:
    plan = csv_plan(["Email", "Email_Opt_Out", "Account_Name", "Loyalty_Points", "Topics"], META)
    assert plan is not None
    row = {"id": "1", "Modified_Time": "2025-01-31T09:15:02+00:00"}
    values = plan.record([row.get(name, "") for name in plan.header]).values
    assert all(values[name] is None for name in values if name != "Modified_Time")


@pytest.mark.parametrize("field", ["Owner", "Reporting_To", "Unknown"])
def test_fields_a_csv_cannot_rebuild_mean_paging(field: str) -> None:
    assert csv_plan(["Email", field], META) is None


def test_the_spool_gives_listing_order(tmp_path: Path) -> None:
    spool = RowSpool(tmp_path / "rows.sqlite3")
    spool.add([(2000, "100", ["c", ""]), (1000, "99", ["b", "x"]), (1000, "100", ["d", "\x1f"]),
               (1000, "101", ["e", "[1]"]), (500, "7", ["a", "é, \"q\""])])  # fmt: skip
    assert spool.count == 5
    assert list(spool.pages(2)) == [
        [["a", "é, \"q\""], ["b", "x"]], [["d", "\x1f"], ["e", "[1]"]], [["c", ""]]]  # fmt: skip
    spool.close()


def test_bulk_read_wins_above_ten_thousand_records() -> None:
    assert BULK_READ_THRESHOLD == 10_000
    assert paging_credits(BULK_READ_THRESHOLD) == bulk_credits(BULK_READ_THRESHOLD)
    assert paging_credits(100_000) == 500 and bulk_credits(100_000) == 50
    assert bulk_credits(1_000_000) == 250
    assert not bulk_read_wins(10_000, BULK_READ_THRESHOLD)
    assert bulk_read_wins(10_001, BULK_READ_THRESHOLD)
    assert not bulk_read_wins(10**9, None)


def test_polls_back_off_to_a_ceiling_and_give_up() -> None:
    delays = list(Polling(first=1, factor=2, longest=5, give_up=20).delays())
    assert delays == [1, 2, 4, 5, 5, 5]


async def test_a_streamed_download_starts_over_after_a_retry() -> None:
    answers = iter([httpx.Response(503, json={"code": "X"}), httpx.Response(200, content=b"zip")])
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    http = HttpClient(
        "test", "http://vendor.test", CallStats(),
        policy=RetryPolicy(max_attempts=3, base_delay=0.01),
        transport=httpx.MockTransport(lambda request: next(answers)),
        sleep=sleep, rng=random.Random(1),
    )  # fmt: skip
    sink = io.BytesIO(b"stale bytes from an earlier attempt")
    async with http:
        await http.request("GET", "/result", sink=sink)
    assert sink.getvalue() == b"zip" and len(sleeps) == 1


async def test_a_refused_first_job_means_listing_pages() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/actions/count"):
            return httpx.Response(200, json={"count": 50_000})
        if request.url.path.endswith("/settings/fields"):
            return httpx.Response(200, json={"fields": list(META.values())})
        assert request.method == "POST"
        return httpx.Response(400, json={"code": "FIELD_NOT_SUPPORTED", "status": "error",
                                         "message": "no", "details": {}})  # fmt: skip

    http = HttpClient("test", "http://vendor.test", CallStats(),
                      transport=httpx.MockTransport(answer))  # fmt: skip
    async with http:
        reader = BulkReader(http)
        assert await reader.full_read("Contacts", ["Email"], BULK_READ_THRESHOLD) is None
        assert await reader.full_read("Contacts", ["Email"], 60_000) is None
        assert await reader.full_read("Contacts", ["Email"], None) is None
    assert http.stats.api_calls == 4


def test_the_connection_default_is_where_bulk_read_starts_to_save_credits() -> None:
    from crmsync.api.v1alpha1.connection import ConnectionSpec
    from crmsync.providers.factory import Endpoint
    from crmsync.providers.zoho_bulk_choice import BULK_READ_THRESHOLD

    spec = ConnectionSpec.model_validate(
        {"provider": "zoho-crm", "credentialsSecretRef": {"name": "s"}}
    )
    assert spec.bulk_read_min_records == BULK_READ_THRESHOLD
    off = spec.model_copy(update={"bulk_read_min_records": 0})
    assert Endpoint.from_connection(spec, {}).bulk_read_threshold == BULK_READ_THRESHOLD
    assert Endpoint.from_connection(off, {}).bulk_read_threshold is None
