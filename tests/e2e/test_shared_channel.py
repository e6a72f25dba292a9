"""One CRM notification channel per Connection and module (14.3), end to end: three Instant
syncs on one Connection and module hold exactly one channel at the CRM; an edit is
delivered once and runs only the sync it concerns; the channel goes with the last sync."""

from __future__ import annotations

import time
from typing import Any

import pytest

from crmsync.engine.channels import SETTLING
from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import Syncs, create_people, unique
from tests.e2e.test_triggers import instant_spec
from tests.e2e.vendors import CrmReader, MailchimpReader, mailchimp_member

pytestmark = pytest.mark.e2e


def channels_at_crm(stack: Stack, connection: str) -> dict[str, dict[str, Any]]:
    """The live channels the CRM holds that deliver for ``connection`` (by channel id)."""
    response = CrmReader(stack.sim).http.get("/actions/watch")
    if response.status_code == 204:
        return {}
    part = f"/notifications/zoho-crm/{stack.namespace}/{connection}/"
    return {str(c["channel_id"]): c for c in response.json()["watch"] if part in c["notify_url"]}


def deliveries_of(stack: Stack, record_id: str, notify_url: str) -> list[dict[str, Any]]:
    """Deliveries naming the record to one channel (the org's other channels on the module,
    other tests' among them, get theirs too)."""
    sent = stack.sim.admin("zoho_crm", "GET", "notifications")["deliveries"]
    return [
        d
        for d in sent
        if record_id in (d["body"].get("ids") or []) and d["notify_url"] == notify_url
    ]


def test_three_syncs_share_one_channel_and_an_edit_runs_only_its_sync(
    stack: Stack, syncs: Syncs, own_crm_connection: str
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    names, markers, people = [], [], []
    for i in range(3):
        marker = unique(f"chan{i}")
        list_id = mailchimp.new_audience(marker)
        people.append((list_id, create_people(crm, "Contacts", marker, 2)))
        spec = instant_spec(list_id, marker, "1h")
        spec["crm"]["connectionRef"]["name"] = own_crm_connection
        name = unique(f"chan{i}")
        syncs.apply(name, spec)
        names.append(name)
        markers.append(marker)
    for name in names:
        syncs.wait_run(name, timeout=180)
    shown = [
        wait_for(
            lambda name=name: (syncs.get(name).get("status") or {}).get("notificationChannel"),
            timeout=30,
            what=f"{name}'s channel",
        )
        for name in names
    ]
    assert {c["channelId"] for c in shown} == {shown[0]["channelId"]}
    assert {c["connection"] for c in shown} == {own_crm_connection}
    assert shown[0]["notifyUrl"].endswith(
        f"/notifications/zoho-crm/{stack.namespace}/{own_crm_connection}/Contacts"
    )
    at_crm = channels_at_crm(stack, own_crm_connection)
    assert list(at_crm) == [shown[0]["channelId"]], at_crm
    status = stack.get("connection", own_crm_connection)["status"]
    assert [c["channelId"] for c in status["notificationChannels"].values()] == list(at_crm)
    assert "token" not in str(status["notificationChannels"]).lower().replace("tokensecret", "")

    # One edit of the second sync's record: one delivery, a run of that sync only.
    before = [syncs.last_run_id(n) for n in names]
    list_id, (person, _) = people[1]
    crm.update("Contacts", person.id, {"Last_Name": "Routed"})
    wait_for(
        lambda: (
            (mailchimp_member(mailchimp, list_id, person.email) or {})
            .get("merge_fields", {})
            .get("LNAME")
            == "Routed"
        ),
        timeout=10,
        interval=0.05,
        what="the edit in Mailchimp",
    )
    time.sleep(2)  # time enough for a run the other syncs should not make
    after = [syncs.last_run_id(n) for n in names]
    assert after[0] == before[0] and after[2] == before[2], (before, after)
    assert after[1] != before[1]
    assert syncs.get(names[1])["status"]["lastRun"]["trigger"] == "Notification"
    delivered = deliveries_of(stack, person.id, shown[0]["notifyUrl"])
    assert len(delivered) == 1 and delivered[0]["status"] == 200, delivered

    # Down to zero: the channel stays while one sync is on it, and goes with the last.
    syncs.delete(names[0])
    syncs.delete(names[1])
    assert list(channels_at_crm(stack, own_crm_connection)) == list(at_crm)
    syncs.delete(names[2])
    # At once, unless the operator started less than SETTLING ago (its syncs may still be
    # coming back): then the Connection's next timer pass after it removes the channel.
    wait_for(
        lambda: not channels_at_crm(stack, own_crm_connection),
        timeout=SETTLING.total_seconds() + 45,  # + a timer interval (30 s)
        what="the channel unsubscribed",
    )
    wait_for(
        lambda: (
            not (stack.get("connection", own_crm_connection).get("status") or {}).get(
                "notificationChannels"
            )
        ),
        timeout=30,
        what="the channel gone from the Connection's status",
    )
    secrets = stack.kube.kubectl("get", "secrets", "-n", stack.namespace, "-o", "name").stdout
    assert f"{own_crm_connection}-crmsync-notify" not in secrets
