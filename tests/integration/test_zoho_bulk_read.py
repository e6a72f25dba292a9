"""Full reads through Bulk Read against the local Zoho CRM: the same records as paging."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.records import CrmRecord
from crmsync.engine.settings import SyncSettings
from crmsync.providers.factory import Endpoint, open_crm
from crmsync.providers.http import CallStats, TransientError
from crmsync.providers.zoho_bulk import Polling
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.resolve import check_fields
from crmsync.runtime.sync import RunRequest, SyncRun
from tests.integration.conftest import FAST_RETRIES, route_calls
from tests.integration.test_mailchimp_client import all_members, new_audience, target
from tests.simfixture import SimServers

FIELDS = ("First_Name", "Last_Name", "Email", "Account_Name", "Email_Opt_Out",
          "Newsletter_Topics", "Loyalty_Points", "Customer_Since", "Lead_Source")  # fmt: skip
BULK_CREATE = ("POST", "/crm/bulk/v8/read")
LISTING = ("GET", "/crm/v8/{module}")

pytestmark = pytest.mark.usefixtures("no_faults", "contacts")


@pytest.fixture(scope="module")
def contacts(sim: SimServers) -> None:
    sim.seed(contacts=3000, only=["zoho_crm"])


@pytest.fixture
def bulk_settings(sim: SimServers) -> Iterator[None]:
    """Quick jobs of 1,000 records (several pages); the defaults come back afterwards."""
    sim.admin("zoho_crm", "PUT", "bulk_read", {"processing_ms": 60, "per_page": 1000})
    yield
    sim.admin("zoho_crm", "PUT", "bulk_read",
              {"processing_ms": 300, "per_page": 200_000, "fail_jobs": 0})  # fmt: skip


def client(endpoint: Endpoint, threshold: int | None, stats: CallStats | None = None) -> ZohoCrm:
    crm = open_crm(replace(endpoint, bulk_read_threshold=threshold), stats or CallStats(),
                   FAST_RETRIES)  # fmt: skip
    crm.bulk.polling = Polling(first=0.05, factor=1.5, longest=0.5, give_up=30)
    return crm


async def read_all(crm: ZohoCrm) -> list[CrmRecord]:
    found: list[CrmRecord] = []
    async for page in crm.records("Contacts", FIELDS):
        assert len(page) <= 200
        found.extend(page)
    return found


def order_key(record: CrmRecord) -> tuple[object, int, str]:
    return (record.modified_time, len(record.id), record.id)


@pytest.mark.usefixtures("bulk_settings")
async def test_a_bulk_full_read_gives_the_records_paging_gives(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    async with client(crm_endpoint, None) as crm:
        paged = await read_all(crm)
    sim.reset_counters("zoho_crm")
    async with client(crm_endpoint, 100) as crm:
        bulk = await read_all(crm)
    jobs = route_calls(sim, "zoho_crm", *BULK_CREATE)
    assert jobs == -(-len(paged) // 1000) >= 3
    assert route_calls(sim, "zoho_crm", *LISTING) == 0
    assert len(bulk) == len(paged) and len({r.id for r in bulk}) == len(bulk)
    assert {r.id: r for r in bulk} == {r.id: r for r in paged}
    assert [order_key(r) for r in bulk] == sorted(order_key(r) for r in bulk)
    assert any(isinstance(r.values["Account_Name"], dict) for r in bulk)
    assert any(r.values["Email_Opt_Out"] is True for r in bulk)


async def test_a_small_module_is_listed(sim: SimServers, crm_endpoint: Endpoint) -> None:
    sim.reset_counters("zoho_crm")
    async with client(crm_endpoint, 1_000_000) as crm:
        records = await read_all(crm)
    assert records
    assert route_calls(sim, "zoho_crm", *BULK_CREATE) == 0
    assert route_calls(sim, "zoho_crm", "GET", "/crm/v8/{module}/actions/count") == 1


@pytest.mark.usefixtures("bulk_settings")
async def test_a_failed_job_is_an_error(sim: SimServers, crm_endpoint: Endpoint) -> None:
    sim.admin("zoho_crm", "PUT", "bulk_read", {"fail_jobs": 1})
    async with client(crm_endpoint, 100) as crm:
        with pytest.raises(TransientError, match=r"bulk read job \d+ failed"):
            await read_all(crm)


@pytest.mark.usefixtures("bulk_settings")
async def test_a_job_costs_fifty_credits_and_other_calls_one(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    sim.admin("zoho_crm", "POST", "credits/reset")
    sim.reset_counters("zoho_crm")
    async with client(crm_endpoint, 100) as crm:
        await read_all(crm)
    calls = sum(
        row["count"]
        for row in sim.counters("zoho_crm")["requests"]
        if row["route"].startswith("/crm/")
    )
    jobs = route_calls(sim, "zoho_crm", *BULK_CREATE)
    assert sim.admin("zoho_crm", "GET", "credits")["used"] == calls + 49 * jobs


def contacts_to(audience: str) -> SyncSettings:
    spec = ContactSyncSpec.model_validate(
        {
            "crm": {
                "connectionRef": {"name": "crm"},
                "module": "Contacts",
                "criteria": [{"field": "Lead_Source", "operator": "not_equal", "values": ["Chat"]}],
            },
            "target": {"connectionRef": {"name": "mailchimp"}, "listId": audience},
            "fieldMapping": [
                {"crmField": "First_Name", "campaignField": "FNAME"},
                {"crmField": "Last_Name", "campaignField": "LNAME"},
            ],
        }
    )
    return SyncSettings.resolve(spec, mapping=None, policy=None, target_provider="mailchimp")


@pytest.mark.usefixtures("bulk_settings")
async def test_a_bulk_full_load_syncs_what_a_paged_one_does(
    sim: SimServers, crm_endpoint: Endpoint, mailchimp_endpoint: Endpoint
) -> None:
    outcomes = []
    sim.reset_counters("zoho_crm")
    for threshold in (None, 100):
        audience = new_audience(sim)
        settings = contacts_to(audience)
        stats = CallStats()
        async with (
            client(crm_endpoint, threshold, stats) as crm,
            target(mailchimp_endpoint, stats) as mailchimp,
        ):
            await check_fields(crm, mailchimp, settings, audience, create_missing=True)
            request = RunRequest(settings, audience, Checkpoint(), full=True)
            result = await SyncRun(crm, mailchimp, request).execute()
            members = await all_members(mailchimp, audience)
        state = {email: (m.status, dict(m.values)) for email, m in members.items()}
        outcomes.append((result.tally.as_counts(), state, result.full))
    (paged_counts, paged, _), (bulk_counts, bulk, full) = outcomes
    assert full and bulk_counts == paged_counts and bulk == paged
    assert route_calls(sim, "zoho_crm", *BULK_CREATE) >= 3
    assert paged_counts.added > 1000 and paged_counts.skipped_ignored > 0
