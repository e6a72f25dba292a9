"""Mailchimp list webhooks: the client registers them on the local Mailchimp server, which
checks the URL with a GET and then delivers real form-encoded callbacks to the operator's
endpoint (:class:`crmsync.webhook.NotificationServer`), which wakes the right sync."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from crmsync.providers.factory import Endpoint
from crmsync.providers.http import CallStats, ProviderError
from crmsync.reconcile.contactsync import SyncSignals
from crmsync.webhook import NotificationServer
from tests.integration.conftest import mailchimp_admin
from tests.integration.test_mailchimp_client import new_audience, target, writes
from tests.simfixture import SimServers

pytestmark = pytest.mark.usefixtures("no_faults")


async def person_event(sim: SimServers, list_id: str, **body: object) -> None:
    url = f"{sim.base_url('mailchimp')}/_admin/mailchimp/lists/{list_id}/events"
    async with httpx.AsyncClient() as client:
        response = await client.post(url, json={"source": "user", **body})
        response.raise_for_status()


async def test_registered_webhook_delivers_person_events_and_wakes_the_sync(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    server = NotificationServer(port=0, host="127.0.0.1")
    await server.start()
    signals = SyncSignals()
    audience = new_audience(sim)
    try:
        server.register_audience_hook("ns", "sync", secret="s3cret" * 7, signals=signals)
        url = server.audience_hook_url("ns", "sync", "s3cret" * 7)
        async with target(mailchimp_endpoint, CallStats()) as mailchimp:
            await mailchimp.upsert(audience, writes(2, "hooked"))
            webhook_id = await mailchimp.add_webhook(audience, url)
            assert [(h.id, h.url) for h in await mailchimp.webhooks(audience)] == [
                (webhook_id, url)
            ]
            # The operator's own (API) writes are not delivered back ...
            again = [replace(w, values={"FNAME": "Again"}) for w in writes(1, "hooked")]
            await mailchimp.upsert(audience, again)
            await asyncio.sleep(0.5)
            assert not signals.wake.is_set()
            assert server.counters["accepted"] == 0
            # ... what people do is.
            await person_event(sim, audience, type="unsubscribe", email="hooked.0@example.com")
            await asyncio.wait_for(signals.wake.wait(), timeout=5)
            assert signals.notified
            await person_event(
                sim, audience, type="profile", email="hooked.1@example.com",
                merge_fields={"FNAME": "Changed"},
            )  # fmt: skip
            for _ in range(50):
                if server.counters["accepted"] >= 2:
                    break
                await asyncio.sleep(0.1)
            assert server.take_audience_events("ns", "sync") == {"unsubscribe": 1, "profile": 1}
            assert server.take_audience_events("ns", "sync") == {}

            await mailchimp.delete_webhook(audience, webhook_id)
            await mailchimp.delete_webhook(audience, webhook_id)  # already gone: fine
            assert await mailchimp.webhooks(audience) == []
    finally:
        await server.stop()


async def test_registration_needs_a_url_that_answers(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    """Mailchimp checks the URL with a GET first: an endpoint that does not know the sync
    (404), or a wrong secret (401), makes the registration fail — and the error message
    never carries the URL's secret."""
    server = NotificationServer(port=0, host="127.0.0.1")
    await server.start()
    audience = new_audience(sim)
    try:
        server.register_audience_hook("ns", "known", secret="right" * 8, signals=SyncSignals())
        async with target(mailchimp_endpoint, CallStats()) as mailchimp:
            for url in (
                server.audience_hook_url("ns", "unknown", "whatever" * 5),
                server.audience_hook_url("ns", "known", "wrong" * 8),
            ):
                with pytest.raises(ProviderError) as caught:
                    await mailchimp.add_webhook(audience, url)
                assert "whatever" not in str(caught.value)
                assert "wrong" * 8 not in str(caught.value)
            assert await mailchimp.webhooks(audience) == []
        with mailchimp_admin(sim) as admin:
            assert admin.get(f"/lists/{audience}/webhooks").json()["total_items"] == 0
    finally:
        await server.stop()
