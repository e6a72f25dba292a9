"""One CRM notification channel per Connection and module (14.3), against the local Zoho
CRM over real HTTP: subscribed for the first sync, re-subscribed when the syncs' needs
grow, one delivery per edit reaching every sync on it, unsubscribed after the last; and
what a crash can leave behind is adopted or removed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from crmsync.k8s.api import NotFoundError
from crmsync.providers.factory import Endpoint, open_crm
from crmsync.providers.http import CallStats
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.channels import ChannelHub, channel_secret_name
from crmsync.reconcile.contactsync import SyncSignals
from crmsync.reconcile.notifications import retire_sync_channel
from crmsync.reconcile.screening import DeliveryScreen, Screen, read_shared
from crmsync.sharding import Sharding
from crmsync.webhook import NotificationServer
from tests.e2e.vendors import CrmReader
from tests.integration.conftest import FAST_RETRIES, unique
from tests.simfixture import SimServers
from tests.unit.test_plan import settings

pytestmark = pytest.mark.usefixtures("no_faults")

OWN = ("Contacts.all",)
WITH_ACCOUNTS = ("Contacts.all", "Accounts.edit")
STARTED_LONG_AGO = datetime.now(UTC) - timedelta(hours=1)


class Secrets:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict[str, str]] = {}
        self.reads = 0

    async def get(
        self, namespace: str, name: str, max_age: float = 0
    ) -> tuple[dict[str, str], str]:
        self.reads += 1
        try:
            return dict(self.data[(namespace, name)]), "1"
        except KeyError:
            raise NotFoundError(name) from None

    def forget(self, namespace: str, name: str) -> None: ...


class FakeKube:
    """The Secrets and the Connection status the hub writes."""

    def __init__(self) -> None:
        self.secrets = Secrets()
        self.status: dict[tuple[str, str], dict[str, Any]] = {}

    async def create_secret(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, Any]
    ) -> bool:
        assert owner["kind"] == "Connection"
        if (namespace, name) in self.secrets.data:
            return False
        self.secrets.data[(namespace, name)] = dict(data)
        return True

    async def delete_secret(self, namespace: str, name: str) -> None:
        self.secrets.data.pop((namespace, name), None)

    async def patch_status(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        assert plural == "connections" and list(patch) == ["notificationChannels"]
        status = self.status.setdefault((namespace, name), {"notificationChannels": {}})
        for key, entry in patch["notificationChannels"].items():  # a merge patch
            if entry is None:
                status["notificationChannels"].pop(key, None)
            else:
                status["notificationChannels"][key] = entry
        return {}


def connection_body(namespace: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": "Connection",
        "metadata": {"namespace": namespace, "name": "crm", "uid": str(uuid.uuid4())},
        "spec": {"provider": "zoho-crm"},
        "status": status or {},
    }


class Setup:
    def __init__(self, endpoint: Endpoint, webhook: NotificationServer) -> None:
        self.endpoint = endpoint
        self.webhook = webhook
        self.kube = FakeKube()
        self.namespace = unique("ns")
        self.connection = connection_body(self.namespace)
        self.key = (self.namespace, "crm", "Contacts")
        self.signals: dict[str, SyncSignals] = {}

    def crm(self) -> ZohoCrm:
        return open_crm(self.endpoint, CallStats(), FAST_RETRIES)

    def join(self, name: str, needs: tuple[str, ...]) -> None:
        signals = self.signals.setdefault(name, SyncSignals())
        self.webhook.register(
            self.namespace, name, signals=signals, connection="crm", module="Contacts", needs=needs
        )

    async def reconcile(self, hub: ChannelHub) -> Any:
        return await hub.reconcile(self.kube, self.webhook, self.connection, "Contacts", self.crm)  # type: ignore[arg-type]

    async def ours_at_zoho(self) -> dict[str, str]:
        """The channels Zoho holds that deliver to this Connection's endpoint."""
        prefix = self.webhook.notify_url(self.namespace, "crm", "")
        async with self.crm() as crm:
            return {i: u for i, u in (await crm.channels()).items() if u.startswith(prefix)}

    def stored_status(self) -> dict[str, Any]:
        return self.kube.status.get((self.namespace, "crm"), {})


@pytest.fixture
async def setup(crm_endpoint: Endpoint) -> AsyncIterator[Setup]:
    webhook = NotificationServer(port=0, host="127.0.0.1")
    await webhook.start()
    try:
        yield Setup(crm_endpoint, webhook)
    finally:
        await webhook.stop()


async def _until(check: Any, what: str, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_three_syncs_share_one_channel_until_the_last_leaves(
    sim: SimServers, setup: Setup
) -> None:
    hub = ChannelHub(started=STARTED_LONG_AGO)
    for name in ("a", "b"):
        setup.join(name, OWN)
        first = await setup.reconcile(hub)
    assert first is not None and first.events == ["Contacts.all"]
    setup.join("c", WITH_ACCOUNTS)  # maps Account fields: the channel grows
    channel = await setup.reconcile(hub)
    assert channel.channel_id == first.channel_id
    assert channel.events == ["Contacts.all", "Accounts.edit"]
    assert list(await setup.ours_at_zoho()) == [channel.channel_id]
    stored = setup.stored_status()["notificationChannels"]
    assert {k: (c["module"], c["channelId"]) for k, c in stored.items()} == {
        "Contacts": ("Contacts", channel.channel_id)
    }
    assert "token" not in str(stored).lower().replace("tokensecret", "")
    secret = (setup.namespace, channel_secret_name("crm", "Contacts"))
    assert setup.kube.secrets.data[secret]["channelId"] == channel.channel_id

    # One edit: one delivery from Zoho, its id left for every sync on the channel.
    record_id = CrmReader(sim).create(
        "Contacts", {"Last_Name": "Shared", "Email": f"{unique('s')}@example.com"}
    )
    await _until(lambda: all(s.notified for s in setup.signals.values()), "every sync notified")
    for name in ("a", "b", "c"):
        assert setup.webhook.take_ids(setup.namespace, name) == {record_id}
    deliveries = sim.admin("zoho_crm", "GET", "notifications")["deliveries"]
    ours = [d for d in deliveries if d["body"].get("ids") == [record_id]]
    assert len(ours) == 1 and ours[0]["status"] == 200, ours

    # Leaving one by one: the channel stays (and shrinks) until the last one goes.
    setup.webhook.unregister(setup.namespace, "c")
    shrunk = await setup.reconcile(hub)
    assert shrunk.events == ["Contacts.all"]
    setup.webhook.unregister(setup.namespace, "a")
    assert await setup.reconcile(hub) == shrunk
    setup.webhook.unregister(setup.namespace, "b")
    assert await setup.reconcile(hub) is None
    assert await setup.ours_at_zoho() == {}
    assert setup.stored_status()["notificationChannels"] == {}
    assert secret not in setup.kube.secrets.data


async def test_a_delivery_wakes_only_the_syncs_it_may_concern(
    sim: SimServers, setup: Setup
) -> None:
    """The screen at the webhook reads the notified records once, from the local CRM, for
    the syncs that hold none of them; the holder wakes without a read."""
    reads: list[tuple[Any, ...]] = []

    async def read(*asked: Any) -> Any:
        reads.append(asked)
        return await read_shared(*asked)

    screen = DeliveryScreen(read=read)
    setup.webhook.dispatcher = screen
    hub = ChannelHub(started=STARTED_LONG_AGO)
    names = ("holder", "matching", "elsewhere")
    for name in names:
        setup.join(name, OWN)
    assert await setup.reconcile(hub) is not None
    reader = CrmReader(sim)
    email = f"{unique('r')}@example.com"
    record_id = reader.create("Contacts", {"Last_Name": "Routed", "Email": email})
    await _until(lambda: all(s.notified for s in setup.signals.values()), "the create")
    for name in names:  # before anything is known, every sync wakes
        setup.webhook.take_ids(setup.namespace, name)
        setup.signals[name].notified = False

    crm: Any = SimpleNamespace(endpoint=setup.endpoint)
    criteria = {
        "holder": "Elsewhere",  # holds the record: it may have left the criteria
        "matching": "Routed",
        "elsewhere": "Elsewhere",
    }
    for name, last_name in criteria.items():
        signals = setup.signals[name]
        signals.held.ids = {record_id} if name == "holder" else set()
        wanted = settings(crm={"criteria": [{"field": "Last_Name", "operator": "in", "values": [last_name]}]})  # fmt: skip
        signals.screen = Screen(1, time.monotonic(), crm, wanted)
    reader.update("Contacts", record_id, {"First_Name": "Edited"})
    await _until(lambda: setup.signals["matching"].notified, "the matching sync woken")
    await screen.settle()
    assert {n: setup.signals[n].notified for n in names} == {
        "holder": True,
        "matching": True,
        "elsewhere": False,
    }
    assert setup.webhook.take_ids(setup.namespace, "elsewhere") == set()
    assert setup.webhook.take_ids(setup.namespace, "matching") == {record_id}
    assert len(reads) == 1 and reads[0][2] == [record_id]  # one read, for both screened


async def test_a_subscription_whose_status_a_crash_lost_is_adopted(setup: Setup) -> None:
    """Crashed after subscribing, before writing status: the Secret fixes the channel id,
    so the next process subscribes the same channel again (Zoho replaces it)."""
    setup.join("a", OWN)
    first = await setup.reconcile(ChannelHub(started=STARTED_LONG_AGO))
    setup.connection = connection_body(setup.namespace)  # status never written
    again = await setup.reconcile(ChannelHub(started=STARTED_LONG_AGO))
    assert again.channel_id == first.channel_id
    assert list(await setup.ours_at_zoho()) == [first.channel_id]
    # Its last sync gone with the status still lost: the audit finds it by its URL.
    setup.webhook.unregister(setup.namespace, "a")
    hub = ChannelHub(started=STARTED_LONG_AGO)
    await hub.sweep(setup.kube, setup.webhook, setup.connection, setup.crm)  # type: ignore[arg-type]
    assert await setup.ours_at_zoho() == {}


async def test_the_audit_removes_strays_and_resubscribes_what_zoho_lost(setup: Setup) -> None:
    setup.join("a", OWN)
    hub = ChannelHub(started=STARTED_LONG_AGO)
    channel = await setup.reconcile(hub)
    stray_url = setup.webhook.notify_url(setup.namespace, "crm", "Leads")
    async with setup.crm() as crm:
        # A channel a crash left (its Secret and status gone), and ours lost at Zoho.
        await crm.watch(
            "777000111", ["Leads.all"], stray_url, "t" * 20, datetime.now(UTC) + timedelta(hours=1)
        )
        await crm.unwatch([channel.channel_id])
    setup.connection = connection_body(setup.namespace, setup.stored_status())
    restarted = ChannelHub(started=STARTED_LONG_AGO)
    assert restarted.due(setup.connection)
    await restarted.sweep(setup.kube, setup.webhook, setup.connection, setup.crm)  # type: ignore[arg-type]
    assert list(await setup.ours_at_zoho()) == [channel.channel_id]
    assert restarted.modules(setup.namespace, "crm") == ["Contacts"]


async def test_nothing_is_removed_while_the_syncs_come_back_after_a_start(setup: Setup) -> None:
    setup.join("a", WITH_ACCOUNTS)
    channel = await setup.reconcile(ChannelHub(started=STARTED_LONG_AGO))
    setup.webhook.unregister(setup.namespace, "a")  # a fresh process: no sync back yet
    setup.connection = connection_body(setup.namespace, setup.stored_status())
    starting = ChannelHub()
    setup.join("b", OWN)
    kept = await setup.reconcile(starting)
    assert kept.events == channel.events  # Accounts.edit kept for the sync not back yet
    setup.webhook.unregister(setup.namespace, "b")
    assert await setup.reconcile(starting) is not None
    assert list(await setup.ours_at_zoho()) == [channel.channel_id]
    settled = ChannelHub(started=STARTED_LONG_AGO)
    await settled.sweep(setup.kube, setup.webhook, setup.connection, setup.crm)  # type: ignore[arg-type]
    assert await setup.ours_at_zoho() == {}


async def test_a_pass_that_changes_nothing_reads_nothing_and_a_change_is_seen(
    setup: Setup,
) -> None:
    """A delivery wakes every sync of the module; each pass finds the channel as it is
    without the Connection's lock or a Secret read, until a sync's needs change."""
    hub = ChannelHub(started=STARTED_LONG_AGO)
    setup.join("a", OWN)
    channel = await setup.reconcile(hub)
    reads = setup.kube.secrets.reads
    for _ in range(20):
        assert await setup.reconcile(hub) is channel
    assert setup.kube.secrets.reads == reads
    setup.join("b", WITH_ACCOUNTS)
    wider = await setup.reconcile(hub)
    assert setup.kube.secrets.reads > reads
    assert set(wider.events) > set(channel.events)


async def test_a_channel_kept_through_the_start_goes_once_the_start_is_over(
    setup: Setup,
) -> None:
    hub = ChannelHub()  # just started: syncs may still be coming back
    setup.join("a", OWN)
    assert await setup.reconcile(hub) is not None
    setup.webhook.unregister(setup.namespace, "a")
    assert await setup.reconcile(hub) is not None  # kept while starting
    hub.started = STARTED_LONG_AGO
    await hub.sweep(setup.kube, setup.webhook, setup.connection, setup.crm)  # type: ignore[arg-type]
    assert await setup.ours_at_zoho() == {}


async def test_a_per_sync_channel_from_before_is_retired(setup: Setup) -> None:
    """Migration: the channel a sync subscribed for itself is unsubscribed and its
    Secret removed; a sync already on the shared channel is left as it is."""
    url = setup.webhook.public_url + f"/notifications/zoho-crm/{setup.namespace}/old"
    expires = datetime.now(UTC) + timedelta(hours=6)
    async with setup.crm() as crm:
        await crm.watch("777000222", ["Contacts.all"], url, "t" * 20, expires)
    setup.kube.secrets.data[(setup.namespace, "old-crmsync-notify")] = {"token": "t" * 20}
    old = {"channelId": "777000222", "expiresAt": expires.isoformat(), "notifyUrl": url}
    body = {"metadata": {"namespace": setup.namespace, "name": "old"}, "status": {}}
    async with setup.crm() as crm:
        shared = {"notificationChannel": {**old, "connection": "crm"}}
        assert not await retire_sync_channel(setup.kube, {**body, "status": shared}, crm)  # type: ignore[arg-type]
        assert "777000222" in await crm.channels()
        assert await retire_sync_channel(
            setup.kube,  # type: ignore[arg-type]
            {**body, "status": {"notificationChannel": old}},
            crm,
        )
        assert "777000222" not in await crm.channels()
    assert (setup.namespace, "old-crmsync-notify") not in setup.kube.secrets.data


async def test_each_operator_shard_holds_its_own_channel(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shards have endpoints of their own: syncs of one Connection in two shards get a
    channel per shard (own Secret, own status key), and neither touches the other's."""
    setup.join("a", OWN)
    default = await setup.reconcile(ChannelHub(started=STARTED_LONG_AGO))
    monkeypatch.setattr(Sharding, "shard", "b")
    setup.connection = connection_body(setup.namespace, setup.stored_status())
    in_b = await setup.reconcile(ChannelHub(started=STARTED_LONG_AGO))
    assert in_b.channel_id != default.channel_id and in_b.shard == "b"
    assert set(setup.stored_status()["notificationChannels"]) == {"Contacts", "b/Contacts"}
    assert (setup.namespace, "crm-crmsync-notify-contacts-b") in setup.kube.secrets.data
    setup.webhook.unregister(setup.namespace, "a")
    assert await setup.reconcile(ChannelHub(started=STARTED_LONG_AGO)) is None
    assert set(setup.stored_status()["notificationChannels"]) == {"Contacts"}
    assert list(await setup.ours_at_zoho()) == [default.channel_id]
    monkeypatch.setattr(Sharding, "shard", "")
    assert await setup.reconcile(ChannelHub(started=STARTED_LONG_AGO)) is None
    assert await setup.ours_at_zoho() == {}
