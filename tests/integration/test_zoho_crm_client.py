"""The Zoho CRM client against the local Zoho CRM server, over real HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crmsync.engine.records import CrmRecord, WriteOutcome
from crmsync.providers.factory import Endpoint, open_crm
from crmsync.providers.http import AuthError, CallStats, ConfigError
from crmsync.providers.zoho_crm import ZohoCrm
from tests.integration.conftest import FAST_RETRIES, route_calls, unique, zoho_admin
from tests.simfixture import SimServers

FIELDS = ("First_Name", "Last_Name", "Email", "Account_Name", "Email_Opt_Out")
SEEDED_CONTACTS = 2500

pytestmark = pytest.mark.usefixtures("no_faults", "crm_seeded")


@pytest.fixture(scope="module")
def crm_seeded(sim: SimServers) -> None:
    """Enough contacts to cross the 2,000-record ``page`` limit, and some converted leads."""
    sim.seed(contacts=SEEDED_CONTACTS, leads=80, only=["zoho_crm"])


def crm(endpoint: Endpoint, stats: CallStats | None = None) -> ZohoCrm:
    return open_crm(endpoint, stats or CallStats(), FAST_RETRIES)


def live_count(sim: SimServers, module: str, converted: str = "false") -> int:
    with zoho_admin(sim, "zoho_crm") as admin:
        response = admin.get(f"/crm/v8/{module}/actions/count", params={"converted": converted})
        return int(response.json()["count"])


async def read_all(client: ZohoCrm, module: str, **kwargs: datetime) -> list[CrmRecord]:
    found: list[CrmRecord] = []
    async for page in client.records(
        module, FIELDS if module == "Contacts" else ("Email",), **kwargs
    ):
        found.extend(page)
    return found


async def test_verify_and_fields(crm_endpoint: Endpoint) -> None:
    async with crm(crm_endpoint) as client:
        facts = await client.verify()
        assert facts["account_id"]
        assert facts["account_name"]
        fields = {f.api_name: f for f in await client.fields("Contacts")}
        assert fields["Email"].data_type == "email"
        assert fields["Account_Name"].data_type == "lookup"
        with pytest.raises(ConfigError):
            await client.fields("NoSuchModule")


async def test_full_listing_crosses_the_page_token_boundary(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    sim.reset_counters("zoho_crm")
    stats = CallStats()
    async with crm(crm_endpoint, stats) as client:
        records = await read_all(client, "Contacts")
    expected = live_count(sim, "Contacts")
    assert expected >= SEEDED_CONTACTS
    assert len(records) == expected
    assert len({r.id for r in records}) == expected
    times = [r.modified_time for r in records]
    assert times == sorted(times)
    assert route_calls(sim, "zoho_crm", "GET", "/crm/v8/{module}") == -(-expected // 200)
    with_account = next(r for r in records if r.values.get("Account_Name"))
    assert set(with_account.values["Account_Name"]) >= {"id", "name"}


async def test_runs_of_one_connection_starting_together_list_the_module_once(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    """Twenty first runs of syncs on one Connection whose criteria the CRM cannot filter
    by (issue 14): every page to each of them, from a few listings rather than twenty.
    (A run whose count read ends after another's first page was answered starts anew.)"""
    shared = replace(crm_endpoint, connection="bench/one-listing")
    expected = live_count(sim, "Contacts")
    sim.reset_counters("zoho_crm")
    clients = [crm(shared) for _ in range(20)]
    try:
        results = await asyncio.gather(*(read_all(c, "Contacts") for c in clients))
    finally:
        await asyncio.gather(*(c.__aexit__() for c in clients))
    assert all(len({r.id for r in found}) == expected for found in results)
    pages = -(-expected // 200)
    assert pages <= route_calls(sim, "zoho_crm", "GET", "/crm/v8/{module}") <= 3 * pages


async def test_converted_leads_are_listed_and_flagged(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    async with crm(crm_endpoint) as client:
        leads = await read_all(client, "Leads")
    converted = [lead for lead in leads if lead.converted]
    assert len(leads) == live_count(sim, "Leads", converted="both")
    assert len(converted) == live_count(sim, "Leads", converted="true") > 0


async def test_incremental_listing_updates_and_deletions(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    async with crm(crm_endpoint) as client:
        first_page = await anext(aiter(client.records("Contacts", FIELDS)))
        chosen, other, doomed = first_page[:3]
        since = datetime.now(UTC)
        assert await read_all(client, "Contacts", modified_since=since + timedelta(days=1)) == []
        await asyncio.sleep(1.1)  # Modified_Time has whole seconds

        results = await client.update_records(
            "Contacts",
            [
                {"id": chosen.id, "Last_Name": "Changed"},
                {"id": other.id, "Email": "not an email"},
                {"id": "1", "Last_Name": "Nobody"},
            ],
        )
        assert [r.outcome for r in results] == [
            WriteOutcome.UPDATED, WriteOutcome.REJECTED, WriteOutcome.REJECTED
        ]  # fmt: skip
        assert results[1].reason == "invalid_data"
        assert results[1].record_id == other.id

        changed = await read_all(client, "Contacts", modified_since=since)
        assert [(r.id, r.values["Last_Name"]) for r in changed] == [(chosen.id, "Changed")]

        (again,) = await client.records_by_id("Contacts", [chosen.id, "1"], FIELDS)
        assert again.values["Last_Name"] == "Changed"

        with zoho_admin(sim, "zoho_crm") as admin:
            admin.delete("/crm/v8/Contacts", params={"ids": doomed.id}).raise_for_status()
        deleted = await client.deleted_since("Contacts", since)
        assert [d.id for d in deleted] == [doomed.id]
        assert await client.deleted_since("Contacts", datetime.now(UTC) + timedelta(days=1)) == []


async def test_related_values_in_chunks_of_100(sim: SimServers, crm_endpoint: Endpoint) -> None:
    async with crm(crm_endpoint) as client:
        contacts = await read_all(client, "Contacts")
        account_ids = sorted(
            {r.values["Account_Name"]["id"] for r in contacts if r.values.get("Account_Name")}
        )
        assert len(account_ids) > 100
        sim.reset_counters("zoho_crm")
        values = await client.related_values("Accounts", account_ids, ["Account_Name", "Website"])
    assert set(values) == set(account_ids)
    assert route_calls(sim, "zoho_crm", "GET", "/crm/v8/{module}") == -(-len(account_ids) // 100)


async def test_the_contacts_of_edited_accounts_through_their_related_lists(
    crm_endpoint: Endpoint,
) -> None:
    """Z3 routing: an Account edit reaches the syncs through its Contacts."""
    async with crm(crm_endpoint) as client:
        contacts = await read_all(client, "Contacts")
        by_account: dict[str, set[str]] = {}
        for record in contacts:
            if account := record.values.get("Account_Name"):
                by_account.setdefault(account["id"], set()).add(record.id)
        chosen = sorted(by_account, key=lambda a: -len(by_account[a]))[:3]
        expected = set().union(*(by_account[a] for a in chosen))
        assert await client.child_ids("Accounts", chosen, "Contacts") == expected
        assert await client.child_ids("Accounts", ["1"], "Contacts") == set()  # no such one


async def test_each_contacts_newest_deal_in_one_query_for_a_page_of_contacts(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    """Z3 for Deals: a Contact names no Deal; the Deals name their Contact, and the one
    modified last is the Contact's."""
    async with crm(crm_endpoint) as client:
        contacts = [r.id for r in (await read_all(client, "Contacts"))[:150]]
        with zoho_admin(sim, "zoho_crm") as admin:

            def deal(contact: str, name: str) -> str:
                row = {"Deal_Name": name, "Stage": "Qualification", "Contact_Name": {"id": contact}}
                response = admin.post("/crm/v8/Deals", json={"data": [row]})
                response.raise_for_status()
                return str(response.json()["data"][0]["details"]["id"])

            deal(contacts[0], "first")
            deal(contacts[0], "second")
            deal(contacts[149], "only")
            first_again = deal(contacts[1], "old")
            deal(contacts[1], "new")
            # Edited after: the older Deal of contacts[1] is now its newest.
            await asyncio.sleep(1.1)
            admin.put(
                "/crm/v8/Deals", json={"data": [{"id": first_again, "Deal_Name": "old, edited"}]}
            ).raise_for_status()
        sim.reset_counters("zoho_crm")
        values = await client.newest_linked("Deals", "Contact_Name", contacts, ["Deal_Name"])
        assert route_calls(sim, "zoho_crm", "POST", "/crm/v8/coql") == 1  # 18 × 100 ids a call
        assert values[contacts[0]]["Deal_Name"] == "second"
        assert values[contacts[1]]["Deal_Name"] == "old, edited"
        assert values[contacts[149]]["Deal_Name"] == "only"
        assert values[contacts[0]]["Contact_Name"]["id"] == contacts[0]
        assert not set(values) - set(contacts)
        assert await client.newest_linked("Deals", "Contact_Name", ["1; drop"], ["Deal_Name"]) == {}


async def test_new_and_edited_deals_route_to_the_contacts_they_name(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    """Z3 routing for Deals: a delivered Deal id reaches the sync as its Contact's id."""
    from crmsync.reconcile.routing import children_of_edited_parents

    async with crm(crm_endpoint) as client:
        contact = (await read_all(client, "Contacts"))[7].id
        with zoho_admin(sim, "zoho_crm") as admin:
            row = {"Deal_Name": "routed", "Stage": "Qualification", "Contact_Name": {"id": contact}}
            response = admin.post("/crm/v8/Deals", json={"data": [row]})
            deal = str(response.json()["data"][0]["details"]["id"])
            orphan = {"Deal_Name": "no contact", "Stage": "Qualification"}
            response = admin.post("/crm/v8/Deals", json={"data": [orphan]})
            no_contact = str(response.json()["data"][0]["details"]["id"])
        parents = {"Deals": [deal, no_contact, "1"], "Campaigns": ["2"]}
        assert await children_of_edited_parents(client, "Contacts", parents) == {contact}
        assert await children_of_edited_parents(client, "Leads", parents) == set()


async def test_watch_and_unwatch(crm_endpoint: Endpoint) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=6)
    async with crm(crm_endpoint) as client:
        channel = await client.watch(
            "1000000068001", ["Contacts.all"], "http://127.0.0.1:9/hook", "s3cr3t-token", expiry
        )
        assert channel.expiry <= expiry + timedelta(seconds=1)
        await client.unwatch([channel.channel_id])
        await client.unwatch([channel.channel_id])  # already gone: fine


async def test_token_is_cached_and_refreshed_after_expiry(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    endpoint = replace(crm_endpoint, connection=unique("ns/crm"))
    sim.reset_counters("zoho_crm")
    stats = CallStats()
    async with crm(endpoint, stats) as client:
        await client.verify()
        await client.fields("Contacts")
        assert route_calls(sim, "zoho_crm", "POST", "/oauth/v2/token") == 1
        sim.admin("zoho_crm", "POST", "tokens/expire")
        await client.verify()
    assert route_calls(sim, "zoho_crm", "POST", "/oauth/v2/token") == 2
    assert stats.token_refreshes == 1
    assert stats.by_status_class["4xx"] == 1


async def test_listing_survives_429s_and_500s(sim: SimServers, crm_endpoint: Endpoint) -> None:
    expected = live_count(sim, "Contacts")
    for faults in ({"rate_429": 0.3, "retry_after_seconds": 0.05}, {"rate_500": 0.2}):
        sim.set_faults("zoho_crm", seed=3, **faults)
        stats = CallStats()
        async with crm(crm_endpoint, stats) as client:
            records = await read_all(client, "Contacts")
        sim.set_faults("zoho_crm")
        assert len({r.id for r in records}) == expected
        assert stats.retries > 0


async def test_bad_credentials_are_an_auth_error_without_secrets(crm_endpoint: Endpoint) -> None:
    secret = "wrong-client-secret-do-not-print"
    refresh = "1000.wrong-refresh-token-do-not-print"
    endpoint = Endpoint(
        provider="zoho-crm",
        credentials={"clientId": "x", "clientSecret": secret, "refreshToken": refresh},
        api_base_url=crm_endpoint.api_base_url,
        accounts_url=crm_endpoint.accounts_url,
    )
    async with crm(endpoint) as client:
        with pytest.raises(AuthError) as caught:
            await client.verify()
    text = f"{caught.value} {caught.value!r} {endpoint!r} {client!r}"
    assert secret not in text
    assert refresh not in text
