"""Issue 12 point 7: every kind's health under the kstatus rules (tests/kstatus.py, the
rules Flux, kpt and kubectl-style waits use) on the real control plane, with the operator
running — and the Argo CD Lua check (manifests/argocd) judging each status document the
operator wrote the same way, under a real Lua interpreter."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests import argocd, kstatus
from tests.e2e.conftest import Stack, wait_for
from tests.e2e.mailserver import Dovecot
from tests.e2e.syncs import FAST_TRIGGER, Syncs, create_people, marked, unique
from tests.e2e.test_emailcampaign import campaign_manifest, campaign_spec, people
from tests.e2e.vendors import CampaignsReader, CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e


def judged(stack: Stack, kind: str, name: str, namespace: str = "") -> tuple[kstatus.Result, dict[str, Any]]:  # fmt: skip
    body = dict(stack.kube.get_json(kind, name, "-n", namespace or stack.namespace))
    argocd.assert_agrees(body)
    return kstatus.compute(body), body


def wait_health(
    stack: Stack, kind: str, name: str, status: str, reason: str | None = None,
    *, timeout: float = 60, namespace: str = "",
) -> dict[str, Any]:  # fmt: skip
    """The object once kstatus says ``status`` (and ``reason``); Argo CD's check agrees."""
    seen: list[kstatus.Result] = []

    def reached() -> dict[str, Any] | None:
        result, body = judged(stack, kind, name, namespace)
        seen.append(result)
        if result.status == status and (reason is None or result.reason == reason):
            return body
        return None

    try:
        return wait_for(reached, timeout=timeout, what=f"{kind} {name} {status} {reason or ''}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; judged: {seen[-3:]}") from None


def observed(body: dict[str, Any]) -> bool:
    return bool(body["status"]["observedGeneration"] == body["metadata"]["generation"])


def mailchimp_sync(list_id: str, marker: str, **extra: Any) -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
        "flow": {"type": "OneWay", "direction": "CrmToCampaign"},
        "trigger": FAST_TRIGGER,
        **extra,
    }


# --- Connection --------------------------------------------------------------------------


def test_connections_current_failed_on_bad_credentials_in_progress_without_secret(
    stack: Stack,
) -> None:
    wait_health(stack, "connection", "crm", kstatus.CURRENT)
    name = unique("health-conn")
    key = base64.b64encode(b"wrong-us1").decode()
    stack.apply(f"""
apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
data: {{apiKey: {key}}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: {name}}}
spec: {{provider: mailchimp, credentialsSecretRef: {{name: {name}}}, apiBaseUrl: "{stack.sim.info["mailchimp"]["base_url"]}"}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: {name}-nosecret}}
spec: {{provider: mailchimp, credentialsSecretRef: {{name: {name}-absent}}}}
""")
    try:
        body = wait_health(stack, "connection", name, kstatus.FAILED, "AuthenticationFailed")
        assert observed(body)
        body = wait_health(stack, "connection", f"{name}-nosecret", kstatus.IN_PROGRESS, "SecretNotFound")  # fmt: skip
        assert observed(body), "waiting for a Secret is observed, not unobserved"
    finally:
        stack.kube.kubectl("delete", "connection", name, f"{name}-nosecret", "-n", "e2e", "--wait=false")  # fmt: skip


# --- ContactSync -------------------------------------------------------------------------


def test_a_scheduled_sync_that_has_not_run_is_current_with_its_next_run(
    stack: Stack, syncs: Syncs
) -> None:
    name = unique("health-weekly")
    list_id = MailchimpReader(stack.sim).new_audience(name)
    day = (datetime.now(UTC) + timedelta(days=3)).strftime("%A")
    weekly = {"mode": "Scheduled", "schedule": {"frequency": "Weekly", "dayOfWeek": day, "at": "03:00"}}  # fmt: skip
    syncs.apply(name, mailchimp_sync(list_id, name, trigger=weekly))
    body = wait_health(stack, "contactsync", name, kstatus.CURRENT)
    assert observed(body)
    status = body["status"]
    assert "lastRun" not in status, "nothing ran: the schedule is days away"
    written = wait_for(
        lambda: syncs.get(name)["status"].get("nextRunTime"), timeout=30, what="nextRunTime"
    )
    next_run = datetime.fromisoformat(written)
    now = datetime.now(UTC)
    assert (next_run.hour, next_run.minute) == (3, 0), "the schedule's time, not a recheck"
    assert next_run.strftime("%A") == day
    assert timedelta(days=2) < next_run - now <= timedelta(days=4)


def test_a_first_load_is_in_progress_reconciling_then_current(
    stack: Stack, syncs: Syncs, quiet_e2e_syncs: None
) -> None:
    name = unique("health-load")
    crm = CrmReader(stack.sim)
    create_people(crm, "Contacts", name, 20)
    list_id = MailchimpReader(stack.sim).new_audience(name)
    stack.sim.set_faults("mailchimp", latency_ms=400)  # a first load of some seconds
    try:
        syncs.apply(name, mailchimp_sync(list_id, name))
        body = wait_health(stack, "contactsync", name, kstatus.IN_PROGRESS, "InitialRun", timeout=60)  # fmt: skip
        assert observed(body), "InProgress by the Reconciling condition, with a reason"
    finally:
        stack.sim.set_faults("mailchimp")
    body = wait_health(stack, "contactsync", name, kstatus.CURRENT, timeout=120)
    status = body["status"]
    assert status["lastRun"]["trigger"] == "Initial" and status["lastRun"]["endTime"]
    assert status["syncedGeneration"] == body["metadata"]["generation"]
    assert "Reconciling" not in {c["type"] for c in status["conditions"]}


def test_a_spec_error_is_failed_until_the_spec_is_fixed(stack: Stack, syncs: Syncs) -> None:
    name = unique("health-specerr")
    listkey = CampaignsReader(stack.sim).new_list(name)
    two_way_zoho = {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(name)},
        "target": {"connectionRef": {"name": "campaigns"}, "listId": listkey},
        "flow": {"type": "TwoWay"},
        "trigger": FAST_TRIGGER,
    }
    syncs.apply(name, two_way_zoho)
    body = wait_health(stack, "contactsync", name, kstatus.FAILED, "FlowNotSupported")
    assert observed(body)
    syncs.patch(name, {"flow": {"type": "OneWay", "direction": "CrmToCampaign"}})
    body = wait_health(stack, "contactsync", name, kstatus.CURRENT, timeout=120)
    assert body["metadata"]["generation"] == 2 and observed(body)
    assert "Stalled" not in {c["type"] for c in body["status"]["conditions"]}


def test_a_missing_connection_is_observed_and_in_progress(stack: Stack, syncs: Syncs) -> None:
    name = unique("health-noconn")
    spec = mailchimp_sync("any", name)
    spec["target"]["connectionRef"]["name"] = "no-such-connection"
    syncs.apply(name, spec)
    body = wait_health(stack, "contactsync", name, kstatus.IN_PROGRESS, "ConnectionNotFound")
    assert observed(body)


def test_a_new_object_is_in_progress_until_the_operator_observes_it(stack: Stack) -> None:
    """The operator watches namespace e2e only: elsewhere nobody observes the sync, and the
    status defaults (observedGeneration 0) keep kstatus from calling it Current."""
    namespace = unique("health-unwatched")
    stack.kube.kubectl("create", "namespace", namespace)
    try:
        spec = mailchimp_sync("any", namespace)
        stack.kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps({
            "apiVersion": "crmsync.dev/v1alpha1", "kind": "ContactSync",
            "metadata": {"name": "unobserved"}, "spec": spec,
        }))  # fmt: skip
        result, body = judged(stack, "contactsync", "unobserved", namespace)
        assert body["status"]["observedGeneration"] == 0
        assert (result.status, result.reason) == (
            kstatus.IN_PROGRESS,
            "LatestGenerationNotObserved",
        )
    finally:
        stack.kube.kubectl("delete", "namespace", namespace, "--wait=false")


# --- FieldMapping, OptOutPolicy -------------------------------------------------------


def test_mappings_and_policies_are_current_as_applied(stack: Stack) -> None:
    name = unique("health-config")
    stack.apply(f"""
apiVersion: crmsync.dev/v1alpha1
kind: FieldMapping
metadata: {{name: {name}}}
spec: {{fields: [{{crmField: First_Name, campaignField: FNAME}}]}}
---
apiVersion: crmsync.dev/v1alpha1
kind: OptOutPolicy
metadata: {{name: {name}}}
spec: {{}}
""")
    try:
        for kind in ("fieldmapping", "optoutpolicy"):
            result, body = judged(stack, kind, name)
            assert result.status == kstatus.CURRENT
            assert "status" not in body, "configuration only: nothing to wait for"
    finally:
        stack.kube.kubectl("delete", "fieldmapping,optoutpolicy", name, "-n", "e2e", "--wait=false")  # fmt: skip


# --- MailboxSync -------------------------------------------------------------------------


def mailbox(stack: Stack, name: str, user: str, password: str, port: int, owner: str) -> None:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in (("username", user), ("password", password))}  # fmt: skip
    stack.apply(f"""
apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
data: {{username: {data["username"]}, password: {data["password"]}}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: {name}}}
spec: {{provider: imap, credentialsSecretRef: {{name: {name}}}, imap: {{host: 127.0.0.1, port: {port}, tls: false}}}}
---
apiVersion: crmsync.dev/v1alpha1
kind: MailboxSync
metadata: {{name: {name}}}
spec:
  mailboxRef: {{name: {name}}}
  crm: {{name: crm}}
  owner: {owner}
  folders: [INBOX]
  pollInterval: 30s
""")


def test_mailbox_syncs_current_and_failed_for_an_unknown_owner(
    stack: Stack, dovecot: Dovecot
) -> None:
    name = unique("health-mail")
    user = f"{name}@acme.example"
    dovecot.add_user(user, "secret-1")
    base_url = stack.sim.info["zoho_crm"]["base_url"]
    httpx.post(
        f"{base_url}/_admin/zoho_crm/users",
        json={"email": user, "first_name": name, "last_name": "Test", "status": "active"},
    ).raise_for_status()
    mailbox(stack, name, user, "secret-1", dovecot.port, owner=user)
    mailbox(stack, f"{name}-x", user, "secret-1", dovecot.port, owner=f"nobody-{name}@acme.example")  # fmt: skip
    try:
        body = wait_health(stack, "mailboxsync", name, kstatus.CURRENT)
        assert observed(body) and body["status"].get("lastScanTime")
        body = wait_health(stack, "mailboxsync", f"{name}-x", kstatus.FAILED, "OwnerNotFound")
        assert observed(body)
    finally:
        stack.kube.kubectl("delete", "mailboxsync", name, f"{name}-x", "-n", "e2e", "--wait=false")  # fmt: skip


# --- EmailCampaign -----------------------------------------------------------------------


def test_email_campaigns_current_once_drafted_failed_without_recipients(stack: Stack) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker = unique("health-ecamp")
    people(crm, marker)
    listkey = campaigns.new_list(marker)
    stack.apply(campaign_manifest(marker, campaign_spec(marker, listkey)))
    nobody = unique("health-ecamp-none")
    stack.apply(campaign_manifest(nobody, campaign_spec(nobody, listkey)))
    try:
        body = wait_health(stack, "emailcampaign", marker, kstatus.CURRENT)
        assert body["status"]["state"] == "Draft" and body["status"]["campaignKey"]
        assert observed(body)
        body = wait_health(stack, "emailcampaign", nobody, kstatus.FAILED, "NoRecipients")
        assert observed(body) and body["status"]["state"] == "Pending"
        time.sleep(1)
        assert kstatus.compute(stack.get("emailcampaign", marker)).status == kstatus.CURRENT
    finally:
        stack.kube.kubectl("delete", "emailcampaign", marker, nobody, "-n", "e2e", "--wait=false")  # fmt: skip
