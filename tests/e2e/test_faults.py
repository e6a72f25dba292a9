"""Flaky vendors, bad credentials and rejected records, end to end."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Stack, condition, wait_for
from tests.e2e.syncs import Syncs, create_people, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e


def spec(list_id: str, marker: str, connection: str = "mailchimp") -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": connection}, "listId": list_id},
        "fieldMapping": [{"crmField": "Last_Name", "campaignField": "LNAME"}],
        "trigger": {"mode": "Instant", "pollInterval": "30s"},
    }


@pytest.fixture
def flaky(stack: Stack) -> Iterator[None]:
    """The test injects faults; they are switched off afterwards whatever happens."""
    try:
        yield
    finally:
        for vendor in ("zoho_crm", "mailchimp"):
            stack.sim.set_faults(vendor)


def test_ten_percent_429_and_5xx_still_syncs_with_correct_counts(
    stack: Stack, syncs: Syncs, flaky: None
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("flaky")
    list_id = mailchimp.new_audience(marker)
    people = create_people(crm, "Contacts", marker, 1200)
    for vendor in ("zoho_crm", "mailchimp"):
        # A run now takes about twenty calls, so 10 % alone may miss them all; the first
        # call to each vendor is refused for certain.
        stack.sim.set_faults(
            vendor, rate_429=0.05, rate_503=0.05, retry_after_seconds=0.2, first_429=1
        )
    name = unique("flaky")
    syncs.apply(name, spec(list_id, marker))
    body = syncs.wait_run(name, timeout=240)
    for vendor in ("zoho_crm", "mailchimp"):
        stack.sim.set_faults(vendor)
    status = body["status"]
    assert status["lastRun"]["outcome"] == "Succeeded", status["lastRun"]
    assert status["lastRun"]["retries"] > 0, status["lastRun"]
    assert status["lastRun"]["counts"]["added"] == len(people)
    assert status["lastRun"]["counts"]["failed"] == 0
    members = mailchimp.members(list_id)
    assert set(members) == {p.email.lower() for p in people}
    assert status["members"] == len(members)
    # The retries are in the run history too.
    assert any(h["retries"] > 0 for h in status["history"])


def _secret_data(stack: Stack, name: str) -> dict[str, str]:
    raw = stack.kube.get_json("secret", name, "-n", stack.namespace)["data"]
    return {k: base64.b64decode(v).decode() for k, v in raw.items()}


def _put_api_key(stack: Stack, secret: str, key: str) -> None:
    stack.kube.kubectl(
        "patch", "secret", secret, "-n", stack.namespace, "--type=merge",
        "-p", json.dumps({"stringData": {"apiKey": key}}),
    )  # fmt: skip


def test_bad_credentials_are_terminal_and_fixing_the_secret_recovers(
    stack: Stack, syncs: Syncs
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    good = _secret_data(stack, "mailchimp")["apiKey"]
    secret, connection = unique("mc-rotated"), unique("mailchimp-rotated")
    stack.kube.kubectl(
        "create",
        "secret",
        "generic",
        secret,
        "-n",
        stack.namespace,
        f"--from-literal=apiKey={good}",
    )
    base_url = stack.sim.info["mailchimp"]["base_url"]
    stack.apply(f"""
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: {connection}}}
spec: {{provider: mailchimp, credentialsSecretRef: {{name: {secret}}}, apiBaseUrl: "{base_url}"}}
""")
    wait_for(
        lambda: condition(stack.get("connection", connection), "Ready") == "True",
        timeout=60,
        what="the Connection Ready",
    )
    marker = unique("rotate")
    list_id = mailchimp.new_audience(marker)
    people = create_people(crm, "Contacts", marker, 5)
    name = unique("rotate")
    syncs.apply(name, spec(list_id, marker, connection))
    syncs.wait_run(name, timeout=120)
    members_before = mailchimp.members(list_id)
    assert len(members_before) == 5

    wrong = "0" * 32 + "-" + good.rpartition("-")[2]
    _put_api_key(stack, secret, wrong)
    crm.update("Contacts", people[0].id, {"Last_Name": "WhileBroken"})

    def auth_failed() -> dict[str, Any] | None:
        body = stack.get("connection", connection)
        ready = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        return body if ready and ready[0]["reason"] == "AuthenticationFailed" else None

    wait_for(auth_failed, timeout=90, what="the Connection AuthenticationFailed")

    def sync_says_so() -> dict[str, Any] | None:
        body = syncs.get(name)
        conditions = {c["type"]: c for c in body["status"]["conditions"]}
        ready, synced = conditions.get("Ready", {}), conditions.get("Synced", {})
        if ready.get("status") == "False" and ready.get("reason") == "ConnectionNotReady":
            return body
        if synced.get("status") == "False" and "AuthError" in synced.get("message", ""):
            return body
        return None

    wait_for(sync_says_so, timeout=60, what="the ContactSync reporting the bad credentials")
    # Nothing harmful happened: the audience is as it was.
    assert mailchimp.members(list_id) == members_before

    _put_api_key(stack, secret, good)
    wait_for(
        lambda: condition(stack.get("connection", connection), "Ready") == "True",
        timeout=90,
        what="the Connection Ready again",
    )

    def recovered() -> bool:
        member = mailchimp.members(list_id).get(people[0].email.lower()) or {}
        return member.get("merge_fields", {}).get("LNAME") == "WhileBroken"

    wait_for(recovered, timeout=60, what="the edit made while broken, synced after the fix")
    assert condition(syncs.get(name), "Ready") == "True"


def test_rejected_records_are_read_again_by_the_next_incremental_run(
    stack: Stack, syncs: Syncs
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("rejected")
    list_id = mailchimp.new_audience(marker)
    create_people(crm, "Contacts", marker, 3)
    fake_id = crm.create(
        "Contacts",
        {"Last_Name": "Fake", "Email": f"{marker}@mailinator.com", "Description": marker},
    )
    name = unique("rejected")
    syncs.apply(name, spec(list_id, marker))
    body = syncs.wait_run(name, timeout=120)
    assert body["status"]["lastRun"]["counts"]["failed"] == 1
    assert body["status"]["checkpoint"]["failedRecordIds"] == [fake_id]
    # The next incremental run reads the rejected record again although it did not change.
    later = syncs.wait_run(name, after=body["status"]["lastRun"]["id"], timeout=60)
    assert later["status"]["lastRun"]["trigger"] == "Poll"
    assert later["status"]["lastRun"]["counts"]["failed"] == 1
    assert later["status"]["checkpoint"]["failedRecordIds"] == [fake_id]
    # Fixed in the CRM: it lands, and leaves the retry list.
    crm.update("Contacts", fake_id, {"Email": f"{marker}.fixed@example.com"})

    def landed() -> dict[str, Any] | None:
        body = syncs.get(name)
        ok = f"{marker}.fixed@example.com" in mailchimp.members(list_id)
        return body if ok and not body["status"]["checkpoint"].get("failedRecordIds") else None

    wait_for(landed, timeout=30, what="the fixed record synced and off the retry list")
