"""The local Mailchimp refuses the addresses Mailchimp refuses (issue 12.6), with its
answer: 400 "Invalid Resource" / "Please provide a valid email address.", and in batch
subscribe an ``errors[]`` item with ``error_code`` ``ERROR_GENERIC`` (spec
``postListsId`` response)."""

from __future__ import annotations

from hashlib import md5
from typing import Any

import httpx
import pytest

from tests.sim.mailchimp.conftest import email, member_body

INVALID = "Please provide a valid email address."

REFUSED: dict[str, Any] = {
    "NUL": "ann\x00@example.com",
    "BEL": "ann\x07@example.com",
    "DEL": "ann\x7f@example.com",
    "zero-width space": "ann\u200b@example.com",
    "zero-width joiner in the domain": "ann@exa\u200dmple.com",
    "byte order mark": "\ufeffann@example.com",
    "right-to-left mark": "ann@example.com\u200f",
    "65-character local part": "a" * 65 + "@example.com",
    "300 characters": "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com",
    "255 characters": "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".shop",
    "64-character label": "ann@" + "b" * 64 + ".com",
    "UTF-8 local part": "direcciónelectrónica@domain.com",
    "double dot": "an..n@example.com",
    "quoted local part": '"ann lee"@example.com',
    "list value": ["ann@example.com"],
    "number": 12345,
}

ACCEPTED = {
    "IDN domain": "test@ñoñó1234.com",
    "punycode domain": "test@xn--o1234-ntabq.com",
    "64-character local part": "a" * 64 + "@example.com",
    "254 characters": "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".com",
    "plus and apostrophe": "o'brien+news@example.ie",
}


def _unique(address: str) -> str:
    """The same address shape on a fresh domain, so tests never share members."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{email('d').split('@')[0].replace('.', '')}.{domain}"


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_post_and_put_refuse_what_mailchimp_refuses(
    api: httpx.Client, list_id: str, address: Any
) -> None:
    created = api.post(
        f"/lists/{list_id}/members", json={"email_address": address, "status": "subscribed"}
    )
    assert created.status_code == 400
    assert (created.json()["title"], created.json()["detail"]) == ("Invalid Resource", INVALID)
    hash_ = md5(str(address).lower().encode()).hexdigest()
    upserted = api.put(f"/lists/{list_id}/members/{hash_}", json=member_body(address))
    assert upserted.status_code == 400
    assert upserted.json()["detail"] == INVALID


@pytest.mark.parametrize("address", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_mailchimp_accepts_is_stored(api: httpx.Client, list_id: str, address: str) -> None:
    created = api.post(
        f"/lists/{list_id}/members", json={"email_address": address, "status": "subscribed"}
    )
    assert created.status_code == 200, created.text
    assert created.json()["email_address"] == address


def test_batch_subscribe_reports_each_refused_address(api: httpx.Client, list_id: str) -> None:
    good = email()
    bad = [a for a in REFUSED.values() if isinstance(a, str)]
    members = [{"email_address": a, "status": "subscribed"} for a in [good, *bad]]
    body = api.post(f"/lists/{list_id}", json={"members": members}).json()
    assert body["total_created"] == 1
    assert body["error_count"] == len(bad)
    assert {e["error_code"] for e in body["errors"]} == {"ERROR_GENERIC"}
    assert {e["error"] for e in body["errors"]} == {INVALID}
    assert [e["email_address"] for e in body["errors"]] == [a.strip() for a in bad]
