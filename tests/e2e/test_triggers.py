"""Instant sync end to end: CRM notifications reach the operator's webhook and the change
lands in Mailchimp within 2 s; a dropped notification is caught by polling (Z2)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import Syncs, create_people, email_of, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader, mailchimp_member

pytestmark = pytest.mark.e2e

WITHIN = 2.0


def instant_spec(list_id: str, marker: str, poll: str) -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
        "fieldMapping": [
            {"crmField": "First_Name", "campaignField": "FNAME"},
            {"crmField": "Last_Name", "campaignField": "LNAME"},
        ],
        "trigger": {"mode": "Instant", "pollInterval": poll},
    }


def _timed(check: Any, what: str, timeout: float = 10.0) -> float:
    started = time.monotonic()
    wait_for(check, timeout=timeout, what=what, interval=0.05)
    return time.monotonic() - started


def _channel(syncs: Syncs, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: (syncs.get(name).get("status") or {}).get("notificationChannel"),
        timeout=30,
        what=f"{name}'s notification channel",
    )


def test_create_edit_delete_reach_mailchimp_within_two_seconds(stack: Stack, syncs: Syncs) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("instant")
    list_id = mailchimp.new_audience(marker)
    create_people(crm, "Contacts", marker, 3)
    name = unique("instant")
    # Polling every hour: only a notification can bring a change within seconds.
    syncs.apply(name, instant_spec(list_id, marker, "1h"))
    body = syncs.wait_run(name, timeout=120)
    assert body["status"]["lastRun"]["counts"]["added"] == 3, json.dumps(body["status"])
    channel = _channel(syncs, name)
    assert channel["channelId"].isdigit()
    # The channel of the Connection and module, shared by its Instant syncs (14.3).
    assert channel["connection"] == "crm"
    assert channel["notifyUrl"].endswith(f"/notifications/zoho-crm/{stack.namespace}/crm/Contacts")
    assert "token" not in str(channel).lower().replace("tokensecret", "")

    email = email_of(marker, 99)
    started = time.monotonic()
    record_id = crm.create(
        "Contacts",
        {"First_Name": "New", "Last_Name": "Person", "Email": email, "Description": marker},
    )
    _timed(lambda: mailchimp_member(mailchimp, list_id, email), "the created member")
    assert time.monotonic() - started < WITHIN

    started = time.monotonic()
    crm.update("Contacts", record_id, {"Last_Name": "Edited"})
    _timed(
        lambda: (
            (mailchimp_member(mailchimp, list_id, email) or {}).get("merge_fields", {}).get("LNAME")
            == "Edited"
        ),
        "the edit on the member",
    )
    assert time.monotonic() - started < WITHIN

    started = time.monotonic()
    crm.delete("Contacts", record_id)
    _timed(
        lambda: (mailchimp_member(mailchimp, list_id, email) or {}).get("status") == "archived",
        "the member archived",
    )
    assert time.monotonic() - started < WITHIN
    last = syncs.get(name)["status"]["lastRun"]
    assert last["trigger"] == "Notification", last


def test_dropped_notification_is_caught_by_polling_and_bad_tokens_are_refused(
    stack: Stack, syncs: Syncs, own_crm_connection: str
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("dropped")
    list_id = mailchimp.new_audience(marker)
    create_people(crm, "Contacts", marker, 2)
    name = unique("dropped")
    spec = instant_spec(list_id, marker, "30s")
    # A Connection of its own: pointing its channel away drops no other sync's deliveries.
    spec["crm"]["connectionRef"]["name"] = own_crm_connection
    syncs.apply(name, spec)
    syncs.wait_run(name, timeout=120)
    channel = _channel(syncs, name)

    # A caller without the channel token is refused.
    forged = httpx.post(
        channel["notifyUrl"],
        json={"channel_id": channel["channelId"], "token": "guessed", "ids": ["1"]},
    )
    assert forged.status_code == 401
    assert httpx.post(channel["notifyUrl"], json={"ids": ["1"]}).status_code == 401

    # Point the channel somewhere that drops every notification (as a lost delivery would).
    response = crm.http.put(
        "/actions/watch",
        json={
            "watch": [
                {
                    "channel_id": int(channel["channelId"]),
                    "events": ["Contacts.all"],
                    "notify_url": "http://127.0.0.1:9/nowhere",
                    "token": "x",
                }
            ]
        },
    )
    assert response.status_code == 200, response.text
    email = email_of(marker, 42)
    started = time.monotonic()
    crm.create(
        "Contacts",
        {"First_Name": "Polled", "Last_Name": "In", "Email": email, "Description": marker},
    )
    _timed(lambda: mailchimp_member(mailchimp, list_id, email), "the polled member", timeout=45)
    elapsed = time.monotonic() - started
    assert elapsed < 30 + 5, elapsed  # one poll interval (the shortest allowed) plus a run
    assert syncs.get(name)["status"]["lastRun"]["trigger"] == "Poll"
