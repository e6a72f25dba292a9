"""Quiet polls against the local Zoho CRM and Mailchimp servers (issue 14): the polls of
many syncs on one Connection cost one probe, and a change made between two probes is seen
by the next poll."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine import quiet
from crmsync.engine.quiet import ProbeNeeds
from crmsync.providers.factory import Endpoint
from crmsync.reconcile.quietpoll import poll_verdict
from tests.integration.conftest import mailchimp_admin, route_calls, unique, zoho_admin
from tests.simfixture import SimServers

pytestmark = pytest.mark.usefixtures("no_faults")

SYNCS = 40
Z17 = ProbeNeeds("Contacts", campaign_statuses=("unsubscribed", "cleaned"))
LISTING = ("GET", "/crm/v8/{module}")
DELETED = ("GET", "/crm/v8/{module}/deleted")
MEMBERS = ("GET", "/3.0/lists/{list_id}/members")


def calls(sim: SimServers) -> tuple[int, int, int]:
    return (
        route_calls(sim, "zoho_crm", *LISTING),
        route_calls(sim, "zoho_crm", *DELETED),
        route_calls(sim, "mailchimp", *MEMBERS),
    )


def new_audience(sim: SimServers, name: str) -> str:
    body = {
        "name": name, "permission_reminder": "CRM", "email_type_option": False,
        "contact": {"company": "t", "address1": "1 Main St", "city": "Madrid", "state": "M",
                    "zip": "28001", "country": "ES"},
        "campaign_defaults": {"from_name": "t", "from_email": "t@example.com",
                              "subject": "News", "language": "en"},
    }  # fmt: skip
    with mailchimp_admin(sim) as mc:
        return str(mc.post("/lists", json=body).json()["id"])


async def poll_is_quiet(*args: Any) -> bool:
    """:func:`poll_verdict`'s answer: quiet or not."""
    return (await poll_verdict(*args)).quiet


async def settle() -> datetime:
    """A checkpoint after every change so far, in a second of its own (vendor times have
    whole seconds)."""
    await asyncio.sleep(1.1)
    checkpoint = datetime.now(UTC)
    await asyncio.sleep(1.1)
    return checkpoint


async def test_many_syncs_polling_together_cost_one_probe_and_see_the_next_edit(
    sim: SimServers,
    crm_endpoint: Endpoint,
    mailchimp_endpoint: Endpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm = replace(crm_endpoint, connection=unique("quiet/crm"))
    mailchimp = replace(mailchimp_endpoint, connection=unique("quiet/mailchimp"))
    audience = new_audience(sim, unique("quiet"))
    with zoho_admin(sim, "zoho_crm") as admin:
        created = admin.post(
            "/crm/v8/Contacts",
            json={"data": [{"Last_Name": "Quiet", "Email": f"{unique('q')}@example.com"}]},
        ).json()
    record_id = str(created["data"][0]["details"]["id"])
    since = await settle()
    checkpoint = Checkpoint(modified_since=since, deleted_since=since, mapping_hash="m")

    async def poll_all() -> list[bool]:
        return list(
            await asyncio.gather(
                *(
                    poll_is_quiet(Z17, crm, mailchimp, audience, checkpoint, None)
                    for _ in range(SYNCS)
                )
            )
        )

    before = calls(sim)
    assert await poll_all() == [True] * SYNCS
    after = calls(sim)
    # One CRM listing row, one deletion row, one Mailchimp read per opt-out status.
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == (1, 1, 2)

    # Asked again at once: the fresh answer is shared, no call at all.
    assert await poll_all() == [True] * SYNCS
    assert calls(sim) == after

    # An edit after that probe: the next poll (its answer no longer fresh) sees it.
    monkeypatch.setattr(quiet, "FRESH_SECONDS", 0.0)
    with zoho_admin(sim, "zoho_crm") as admin:
        admin.put("/crm/v8/Contacts", json={"data": [{"id": record_id, "First_Name": "Edited"}]})
    assert await poll_all() == [False] * SYNCS
    assert calls(sim)[0] == after[0] + 1
    # The checkpoint stays where it was, so every later poll sees the edit until a run;
    # only CRM records changed: the poll names them (to be routed like a notification's).
    verdict = await poll_verdict(Z17, crm, mailchimp, audience, checkpoint, None)
    assert not verdict.quiet
    assert verdict.changed == [record_id]


async def test_a_deletion_and_a_campaign_side_unsubscribe_are_seen(
    sim: SimServers,
    crm_endpoint: Endpoint,
    mailchimp_endpoint: Endpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(quiet, "FRESH_SECONDS", 0.0)
    crm = replace(crm_endpoint, connection=unique("quiet/crm"))
    mailchimp = replace(mailchimp_endpoint, connection=unique("quiet/mailchimp"))
    audience = new_audience(sim, unique("quiet"))
    email = f"{unique('member')}@example.com"
    with zoho_admin(sim, "zoho_crm") as admin:
        created = admin.post(
            "/crm/v8/Contacts", json={"data": [{"Last_Name": "Gone", "Email": email}]}
        ).json()
    record_id = str(created["data"][0]["details"]["id"])
    with mailchimp_admin(sim) as mc:
        mc.post(f"/lists/{audience}/members", json={"email_address": email, "status": "subscribed"})
    since = await settle()
    checkpoint = Checkpoint(modified_since=since, deleted_since=since, mapping_hash="m")
    assert await poll_is_quiet(Z17, crm, mailchimp, audience, checkpoint, None)

    with mailchimp_admin(sim) as mc:
        answer = mc.patch(f"/lists/{audience}/members/{email}", json={"status": "unsubscribed"})
        assert answer.status_code == 200, answer.text
    assert not await poll_is_quiet(Z17, crm, mailchimp, audience, checkpoint, None)
    # A sync that does not mirror unsubscribes (no Z17) is not concerned.
    crm_only = ProbeNeeds("Contacts")
    assert await poll_is_quiet(crm_only, crm, mailchimp, audience, checkpoint, None)

    with zoho_admin(sim, "zoho_crm") as admin:
        assert admin.delete("/crm/v8/Contacts", params={"ids": record_id}).status_code == 200
    assert not await poll_is_quiet(crm_only, crm, mailchimp, audience, checkpoint, None)
