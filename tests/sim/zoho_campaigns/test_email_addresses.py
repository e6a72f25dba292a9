"""The local Zoho Campaigns refuses the addresses Zoho refuses (issue 12.6), with its
envelope: HTTP 200, ``status`` error, code 2004 "Invalid contact email address."
(contact-subscribe.html; the rules: help.zoho.com "How do we validate email addresses in
Zoho", docs/sim-zoho-campaigns.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sim.zoho_campaigns.conftest import CampaignsClient
from tests.sim.zoho_campaigns.test_behaviour import active_emails, subscribe

REFUSED: dict[str, Any] = {
    "NUL": "ann\x00@example.com",
    "BEL": "ann\x07@example.com",
    "zero-width space": "ann\u200b@example.com",
    "byte order mark": "\ufeffann@example.com",
    "left-to-right mark": "ann@example.com\u200e",
    "65-character local part": "a" * 65 + "@example.com",
    "300 characters": "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com",
    "IDN domain": "test@ñoñó1234.com",
    "Latin-1 local part": "dirección@example.com",
    "leading dot": ".ann@example.com",
    "no top-level domain": "user231@example",
    "list value": ["ann@example.com"],
}

ACCEPTED = {
    "Latin Extended-A local part": "Šťastna@example.cz",
    "punycode domain": "test@xn--o1234-ntabq.com",
    "64-character local part": "a" * 64 + "@example.com",
    "special characters": "$b1234+x@example.com",
}


def _refused(body: dict[str, Any]) -> tuple[str, str, str]:
    return body["status"], body["code"], body["message"]


INVALID = ("error", "2004", "Invalid contact email address.")


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_listsubscribe_refuses_what_zoho_refuses(client: CampaignsClient, address: Any) -> None:
    assert _refused(subscribe(client, address)) == INVALID


@pytest.mark.parametrize("address", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_zoho_accepts_is_subscribed(client: CampaignsClient, address: str) -> None:
    assert subscribe(client, address)["code"] == "0"
    assert address in active_emails(client, client.credentials["list_key"])


def test_one_refused_address_fails_a_bulk_add(client: CampaignsClient) -> None:
    listkey = client.credentials["list_key"]
    emailids = "good@example.com,ann\u200b@example.com"
    body = client.post("addlistsubscribersinbulk", listkey=listkey, emailids=emailids)
    assert _refused(body) == INVALID
    assert active_emails(client, listkey) == []
