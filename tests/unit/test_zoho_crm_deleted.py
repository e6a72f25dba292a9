"""``ZohoCrm.deleted_since`` against ``httpx.MockTransport``: Zoho stamps deletions with
whole seconds, so the checkpoint is compared at that precision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import httpx

from crmsync.providers.http import CallStats, HttpClient
from crmsync.providers.zoho_auth import ZohoOAuth, ZohoSession
from crmsync.providers.zoho_crm import ZohoCrm


def deletions_answer(request: httpx.Request) -> httpx.Response:
    assert request.headers["If-Modified-Since"] == "2026-03-01T10:00:05+00:00"
    rows = [
        {"id": "2", "deleted_time": "2026-03-01T10:00:05+00:00"},
        {"id": "1", "deleted_time": "2026-03-01T10:00:04+00:00"},
    ]
    return httpx.Response(200, json={"data": rows, "info": {"more_records": False}})


async def test_a_deletion_in_the_checkpoints_second_is_not_lost() -> None:
    http = HttpClient(
        "zoho-crm", "http://crm.test", CallStats(), transport=httpx.MockTransport(deletions_answer)
    )
    session = ZohoSession(api=http, oauth=cast(ZohoOAuth, cast(Any, None)), accounts=http)
    crm = ZohoCrm(session)
    # The run that set the checkpoint started 0.4 s into the second the record was deleted.
    since = datetime(2026, 3, 1, 10, 0, 5, 400_000, tzinfo=UTC)
    deleted = await crm.deleted_since("Contacts", since)
    await http.aclose()
    assert [d.id for d in deleted] == ["2"]
