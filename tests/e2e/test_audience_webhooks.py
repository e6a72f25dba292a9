"""Mailchimp list webhooks end to end (issue 7, point 3): the operator registers a webhook on
the audience of each Instant sync that reads the campaign side, Mailchimp (the local
server) delivers subscribe / unsubscribe / profile / upemail / cleaned events to the
operator's endpoint, and the change is in the CRM within seconds although polling runs
only hourly. The URL's secret segment is the only proof and never shows in status."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import OperatorProcess, Stack, wait_for
from tests.e2e.syncs import Person, Syncs, create_people, email_of, marked, unique
from tests.e2e.test_twoway_mailchimp import CRM_FIELDS, NAME_MAPPING, events_of, person_event
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

WITHIN = 3.0
"""Seconds from a change in Mailchimp to the CRM (polling every hour could not do it)."""
EVENT_TYPES = {"subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign"}


def webhook_spec(list_id: str, marker: str, flow: dict[str, Any]) -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id, "tags": ["crm"]},
        "fieldMapping": NAME_MAPPING,
        "trigger": {"mode": "Instant", "pollInterval": "1h"},
        "flow": flow,
    }


def audience_webhooks(mailchimp: MailchimpReader, list_id: str) -> list[dict[str, Any]]:
    response = mailchimp.http.get(f"/lists/{list_id}/webhooks")
    assert response.status_code == 200, response.text
    return list(response.json()["webhooks"])


def deliveries(mailchimp: MailchimpReader, prefix: str) -> list[dict[str, Any]]:
    """What the local Mailchimp delivered to URLs starting with ``prefix``."""
    url = str(mailchimp.http.base_url.join("/_admin/mailchimp/webhook-deliveries"))
    return [d for d in mailchimp.http.get(url).json()["deliveries"] if d["url"].startswith(prefix)]


def the_hook(syncs: Syncs, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: (syncs.get(name).get("status") or {}).get("audienceWebhook"),
        timeout=30,
        what=f"{name}'s audience webhook",
    )


def records_of(crm: CrmReader, marker: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in crm.records("Contacts", CRM_FIELDS) if r["Description"] == marker}


def timed(check: Any, what: str, timeout: float = 15.0) -> float:
    started = time.monotonic()
    wait_for(check, timeout=timeout, what=what, interval=0.05)
    elapsed = time.monotonic() - started
    print(f"{what}: {elapsed:.2f} s")  # the figures, shown with -rP
    return elapsed


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


@dataclass
class Started:
    """A sync of this test's own, after its first run."""

    name: str
    marker: str
    list_id: str
    people: list[Person]
    first: dict[str, Any]
    crm: CrmReader
    mailchimp: MailchimpReader


def start(stack: Stack, syncs: Syncs, prefix: str, people: int, flow: dict[str, Any]) -> Started:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker, name = unique(prefix), unique(prefix)
    created = create_people(crm, "Contacts", marker, people)
    list_id = mailchimp.new_audience(name)
    syncs.apply(name, webhook_spec(list_id, marker, flow))
    first = syncs.wait_run(name, timeout=120)
    return Started(name, marker, list_id, created, first, crm, mailchimp)


CAMPAIGN_WINS = {"type": "TwoWay", "conflictPolicy": "CampaignWins"}


def test_mailchimp_changes_reach_the_crm_within_seconds_through_the_audience_webhook(
    stack: Stack, syncs: Syncs, operator: OperatorProcess
) -> None:
    started = start(stack, syncs, "hook", 5, CAMPAIGN_WINS)
    crm, mailchimp, name, marker = started.crm, started.mailchimp, started.name, started.marker
    list_id, people = started.list_id, started.people
    first = started.first
    assert first["status"]["lastRun"]["counts"]["added"] == 5, first["status"]["lastRun"]

    # The audience and its tags, as the extension's Audiences / Segments-Tags modules show
    # them (M13), after the full comparison.
    audience = wait_for(
        lambda: syncs.get(name)["status"].get("audience"), timeout=10, what="status.audience"
    )
    assert (audience["listId"], audience["name"], audience["subscribed"]) == (list_id, name, 5)
    # The declared tag, and the sync's claim on the members it wants (shared audiences).
    claim = f"crmsync:{stack.namespace}/{name}"
    assert sorted(audience["tags"], key=lambda t: t["name"]) == [
        {"name": "crm", "members": 5},
        {"name": claim, "members": 5},
    ]

    hook = the_hook(syncs, name)
    assert hook["listId"] == list_id
    assert hook["notifyUrl"].endswith(f"/notifications/mailchimp/{stack.namespace}/{name}/…")
    assert hook["tokenSecret"] == f"{name}-crmsync-audience-hook"
    registered = audience_webhooks(mailchimp, list_id)
    assert [w["id"] for w in registered] == [hook["webhookId"]]
    assert registered[0]["events"] == dict.fromkeys(EVENT_TYPES, True)
    # API-sourced events are not asked for: the operator's own writes would come back.
    assert registered[0]["sources"] == {"user": True, "admin": True, "api": False}
    secret = registered[0]["url"].rsplit("/", 1)[1]
    assert len(secret) >= 40
    assert secret not in json.dumps(syncs.get(name))
    assert secret not in operator.output()

    runs_before = syncs.get(name)["status"]["history"]
    p = people
    # A profile edit in Mailchimp → the CRM, within seconds.
    person_event(mailchimp, list_id, "profile", p[0].email, merge_fields={"FNAME": "Hooked"})
    elapsed = timed(
        lambda: records_of(crm, marker)[p[0].id]["First_Name"] == "Hooked",
        "the profile edit in the CRM",
    )
    assert elapsed < WITHIN, elapsed
    # An unsubscribe → the CRM opt-out.
    person_event(mailchimp, list_id, "unsubscribe", p[1].email)
    elapsed = timed(
        lambda: records_of(crm, marker)[p[1].id]["Email_Opt_Out"] is True, "the CRM opt-out"
    )
    assert elapsed < WITHIN, elapsed
    # A new address moves the record's email; no second record appears.
    moved = email_of(marker, 777)
    person_event(mailchimp, list_id, "upemail", p[2].email, new_email=moved)
    elapsed = timed(
        lambda: records_of(crm, marker)[p[2].id]["Email"].lower() == moved, "the moved email"
    )
    assert elapsed < WITHIN, elapsed
    # A bounce.
    person_event(mailchimp, list_id, "cleaned", p[3].email)
    timed(lambda: records_of(crm, marker)[p[3].id]["Email_Opt_Out"] is True, "the cleaned opt-out")
    assert len(records_of(crm, marker)) == 5

    body = syncs.get(name)
    new_runs = [r for r in body["status"]["history"] if r not in runs_before]
    assert new_runs and all(r["trigger"] == "Notification" for r in new_runs), new_runs
    # Events are posted after the CRM write the test saw.
    wanted = {"ProfileUpdated", "Unsubscribed", "EmailChanged", "Cleaned"}
    wait_for(
        lambda: wanted <= {e["reason"] for e in events_of(stack, name)},
        timeout=30,
        what=f"the events {sorted(wanted)}",
    )
    assert metric(operator, "crmsync_campaign_changes_total", sync=name, change="unsubscribed") == 1
    assert (
        metric(operator, "crmsync_campaign_changes_total", sync=name, change="email_changed") == 1
    )
    assert metric(operator, "crmsync_notifications_received_total", provider="mailchimp") >= 4

    # Deliveries without the secret are refused and change nothing.
    url = registered[0]["url"]
    forged = url[: -len(secret)] + "guessed" + secret[7:]
    refused = httpx.post(forged, data={"type": "unsubscribe", "data[email]": p[4].email})
    assert refused.status_code == 401
    assert httpx.get(forged).status_code == 401
    unknown = url.replace(f"/{name}/", "/no-such-sync/")
    assert httpx.post(unknown, data={"type": "profile"}).status_code == 404
    assert httpx.post(url, data={"type": "bogus"}).status_code == 400
    assert metric(operator, "crmsync_notifications_rejected_total", provider="mailchimp") >= 3


def test_the_operators_own_writes_fire_no_webhook_so_nothing_loops(
    stack: Stack, syncs: Syncs
) -> None:
    started = start(stack, syncs, "noloop", 3, CAMPAIGN_WINS)
    crm, mailchimp, name = started.crm, started.mailchimp, started.name
    list_id, people = started.list_id, started.people
    prefix = the_hook(syncs, name)["notifyUrl"].removesuffix("…")
    delivered = len(deliveries(mailchimp, prefix))

    # A CRM edit reaches Mailchimp (an API write by the operator) ...
    crm.update("Contacts", people[0].id, {"First_Name": "FromTheCrm"})
    wait_for(
        lambda: (
            mailchimp.members(list_id)[people[0].email]["merge_fields"]["FNAME"] == "FromTheCrm"
        ),
        timeout=20,
        what="the CRM edit in Mailchimp",
    )
    quiet_since = syncs.last_run_id(name)
    time.sleep(3)
    # ... and comes back neither as a delivery nor as another run.
    assert len(deliveries(mailchimp, prefix)) == delivered
    assert syncs.last_run_id(name) == quiet_since


def test_webhook_follows_the_spec_suspend_one_way_and_delete(stack: Stack, syncs: Syncs) -> None:
    started = start(stack, syncs, "hooklife", 2, {"type": "OneWay", "direction": "CampaignToCrm"})
    mailchimp, name = started.mailchimp, started.name
    list_id, people = started.list_id, started.people
    first = the_hook(syncs, name)
    assert [w["id"] for w in audience_webhooks(mailchimp, list_id)] == [first["webhookId"]]

    # Suspended: no webhook at Mailchimp; resumed: a new one, and changes flow again.
    syncs.patch(name, {"suspend": True})
    wait_for(
        lambda: (
            not (syncs.get(name).get("status") or {}).get("audienceWebhook")
            and not audience_webhooks(mailchimp, list_id)
        ),
        timeout=30,
        what="the webhook removed on suspend",
    )
    syncs.patch(name, {"suspend": False})
    again = the_hook(syncs, name)
    assert [w["id"] for w in audience_webhooks(mailchimp, list_id)] == [again["webhookId"]]

    # One-way CRM → campaign reads nothing from Mailchimp: no webhook.
    syncs.patch(name, {"flow": {"type": "OneWay", "direction": "CrmToCampaign"}})
    wait_for(
        lambda: not audience_webhooks(mailchimp, list_id),
        timeout=30,
        what="the webhook removed for a one-way CRM → campaign sync",
    )
    # ... and gets none on later passes either.
    after = syncs.wait_run(name, after=syncs.sync_now(name), timeout=60)
    assert "audienceWebhook" not in after["status"]
    assert not audience_webhooks(mailchimp, list_id)
    syncs.patch(name, {"flow": {"type": "TwoWay", "direction": None}})
    the_hook(syncs, name)
    assert len(audience_webhooks(mailchimp, list_id)) == 1

    # Deleting the sync removes the webhook and its Secret; the members stay.
    stack.kube.kubectl("delete", "contactsync", name, "-n", stack.namespace, "--wait=true")
    syncs.names.remove(name)
    wait_for(
        lambda: not audience_webhooks(mailchimp, list_id),
        timeout=30,
        what="the webhook removed on delete",
    )
    secrets = stack.kube.get_json("secrets", "-n", stack.namespace)["items"]
    assert f"{name}-crmsync-audience-hook" not in {s["metadata"]["name"] for s in secrets}
    assert {p.email for p in people} <= set(mailchimp.members(list_id))
