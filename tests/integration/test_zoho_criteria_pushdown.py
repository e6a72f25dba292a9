"""Criteria pushed to the local Zoho CRM (issue 14.3): a full read narrowed by COQL, or by
Bulk Read criteria, keeps every record the local filter keeps, for fewer credits when the
criteria are selective; hostile values are only values."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from crmsync.api.v1alpha1.contactsync import Criterion
from crmsync.engine.criteria import matches_all
from crmsync.engine.records import CrmRecord
from crmsync.providers import zoho_criteria
from crmsync.providers.base import CriteriaRead
from crmsync.providers.factory import Endpoint, open_crm
from crmsync.providers.http import CallStats
from crmsync.providers.zoho_bulk import Polling
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.providers.zoho_read_cost import affordable_matches, probe_pays, whole_read_credits
from tests.integration.conftest import FAST_RETRIES, route_calls, zoho_admin
from tests.simfixture import SimServers

FIELDS = ("First_Name", "Last_Name", "Email", "Account_Name", "Mailing_City", "Mailing_Country",
          "Lead_Source", "Loyalty_Points", "Customer_Since", "Email_Opt_Out")  # fmt: skip
COQL = ("POST", "/crm/v8/coql")
LISTING = ("GET", "/crm/v8/{module}")
BULK_CREATE = ("POST", "/crm/bulk/v8/read")

pytestmark = pytest.mark.usefixtures("no_faults", "contacts")


@pytest.fixture(scope="module")
def contacts(sim: SimServers) -> str:
    """3,000 seeded contacts and a few with hostile and oddly cased values."""
    sim.seed(contacts=3000, only=["zoho_crm"])
    tag = uuid.uuid4().hex[:6]
    odd = [
        {"Mailing_City": "STRASSE", "Mailing_Country": "Straße"},
        {"Mailing_City": "  Straße  ", "Mailing_Country": "x' or id is not null or Email like '"},
        {"Mailing_City": "o'hara", "Mailing_Country": "100%_sure\\"},
        {"Mailing_City": "ÉCOLE", "Mailing_Country": "école"},
    ]
    with zoho_admin(sim, "zoho_crm") as admin:
        ids, page = [], 1
        while True:
            params = {"fields": "Last_Name", "per_page": 200, "page": page}
            body = admin.get("/crm/v8/Contacts", params=params).json()
            ids += [str(row["id"]) for row in body["data"]]
            if not body["info"]["more_records"] or page == 10:
                break
            page += 1
        for start in range(0, len(ids), 100):  # numbers and dates the seed leaves empty
            updates = [{"id": rid, "Loyalty_Points": (start + i) * 7 % 1000,
                        "Customer_Since": f"2024-{(start + i) % 12 + 1:02d}-15"}
                       for i, rid in enumerate(ids[start : start + 100])]  # fmt: skip
            assert admin.put("/crm/v8/Contacts", json={"data": updates}).status_code == 200
        rows = [{"Last_Name": f"Odd{i}", "Email": f"odd{i}.{tag}@example.com", **values}
                for i, values in enumerate(odd)]  # fmt: skip
        response = admin.post("/crm/v8/Contacts", json={"data": rows})
        assert response.status_code in (200, 201), response.text
    return tag


@pytest.fixture
def quick_bulk(sim: SimServers) -> Iterator[None]:
    sim.admin("zoho_crm", "PUT", "bulk_read", {"processing_ms": 60, "per_page": 1000})
    yield
    sim.admin("zoho_crm", "PUT", "bulk_read",
              {"processing_ms": 300, "per_page": 200_000, "fail_jobs": 0})  # fmt: skip


def client(endpoint: Endpoint, threshold: int | None) -> ZohoCrm:
    crm = open_crm(replace(endpoint, bulk_read_threshold=threshold), CallStats(), FAST_RETRIES)
    crm.bulk.polling = Polling(first=0.05, factor=1.5, longest=0.5, give_up=30)
    return crm


async def read(crm: ZohoCrm, criteria: CriteriaRead | None = None) -> list[CrmRecord]:
    found: list[CrmRecord] = []
    async for page in crm.records("Contacts", FIELDS, criteria=criteria):
        found.extend(page)
    return found


def credits_used(sim: SimServers) -> int:
    return int(sim.admin("zoho_crm", "GET", "credits")["used"])


def crit(field: str, operator: str, *values: str) -> Criterion:
    return Criterion.model_validate({"field": field, "operator": operator,
                                     "values": list(values) or None})  # fmt: skip


CASES: list[Sequence[Criterion]] = [
    [crit("Lead_Source", "equals", "Web Download")],
    [crit("Lead_Source", "in", "Trade Show", "Partner"), crit("Email_Opt_Out", "equals", "false")],
    [crit("Loyalty_Points", "greater_than", "900")],
    [crit("Loyalty_Points", "less_than", "100"), crit("Mailing_City", "starts_with", "s")],
    [crit("Customer_Since", "greater_than", "2024-06-30")],
    [crit("Mailing_City", "equals", "straße")],
    [crit("Mailing_City", "equals", "Strasse")],
    [crit("Mailing_Country", "equals", "x' or id is not null or Email like '")],
    [crit("Mailing_Country", "starts_with", "100%_")],
    [crit("Mailing_City", "in", "O'Hara", "école")],
    [crit("Account_Name", "is_not_empty"), crit("Lead_Source", "equals", "Advertisement")],
    [crit("Mailing_City", "not_equal", "Berlin")],  # nothing to push: the whole read
]


@pytest.mark.parametrize("threshold", [None, 100], ids=["listing", "bulk"])
@pytest.mark.usefixtures("quick_bulk")
async def test_a_narrowed_read_keeps_every_record_the_local_filter_keeps(
    crm_endpoint: Endpoint, threshold: int | None
) -> None:
    async with client(crm_endpoint, None) as crm:
        everything = await read(crm)
    for criteria in CASES:
        expected = {r.id: r for r in everything if matches_all(criteria, r.values)}
        narrowing = CriteriaRead(criteria)
        async with client(crm_endpoint, threshold) as crm:
            narrowed = await read(crm, narrowing)
        kept = {r.id: r for r in narrowed if matches_all(criteria, r.values)}
        assert kept == expected, criteria
        assert len({r.id for r in narrowed}) == len(narrowed)
        if narrowing.narrowed:
            assert len(narrowed) < len(everything)


async def test_hostile_and_folded_values_find_their_records(crm_endpoint: Endpoint) -> None:
    async with client(crm_endpoint, None) as crm:
        for criteria, names in [
            ([crit("Mailing_City", "equals", "strasse")], {"Odd0", "Odd1"}),
            ([crit("Mailing_Country", "equals", "x' or id is not null or Email like '")],
             {"Odd1"}),
            ([crit("Mailing_Country", "starts_with", "100%_sure\\")], {"Odd2"}),
            ([crit("Mailing_City", "equals", "école")], {"Odd3"}),
        ]:  # fmt: skip
            narrowing = CriteriaRead(criteria)
            found = await read(crm, narrowing)
            assert narrowing.narrowed
            assert {r.values["Last_Name"] for r in found if matches_all(criteria, r.values)} == (
                names
            )
            assert len(found) < 50


async def test_selective_criteria_cost_fewer_credits(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    criteria = [crit("Loyalty_Points", "greater_than", "990")]
    async with client(crm_endpoint, None) as crm:
        sim.reset_counters("zoho_crm")
        before = credits_used(sim)
        whole = await read(crm)
        whole_credits = credits_used(sim) - before
        pages = route_calls(sim, "zoho_crm", *LISTING)
        sim.reset_counters("zoho_crm")
        before = credits_used(sim)
        narrowing = CriteriaRead(criteria)
        narrowed = await read(crm, narrowing)
        narrowed_credits = credits_used(sim) - before
    assert narrowing.narrowed
    assert pages >= 15 and whole_credits >= 15
    # The ids in one call; where the module is large enough that more than a page of ids
    # would still pay (the suite's other modules add contacts), first one call for the row
    # past the most matches that pay.
    coql_calls = route_calls(sim, "zoho_crm", *COQL)
    probed = probe_pays(affordable_matches(whole_read_credits(len(whole), None)))
    assert coql_calls == (2 if probed else 1), (coql_calls, whole_credits)
    # fields, count, the probe (1), one COQL (3), by id
    assert narrowed_credits <= 8 + probed < whole_credits
    wanted = {r.id for r in whole if matches_all(criteria, r.values)}
    assert wanted and wanted == {r.id for r in narrowed}


async def test_unselective_criteria_fall_back_to_the_whole_read(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    criteria = [crit("Email", "is_not_empty")]
    async with client(crm_endpoint, None) as crm:
        sim.reset_counters("zoho_crm")
        narrowing = CriteriaRead(criteria)
        found = await read(crm, narrowing)
    assert not narrowing.narrowed
    assert route_calls(sim, "zoho_crm", *COQL) == 1  # 2,000 ids showed it does not pay
    assert len(found) >= 3000


@pytest.mark.usefixtures("quick_bulk")
async def test_bulk_read_jobs_take_the_criteria(sim: SimServers, crm_endpoint: Endpoint) -> None:
    """3,000 records never make COQL lose to a job; the job's criteria are read directly."""
    async with client(crm_endpoint, None) as crm:
        everything = await read(crm)
        names = ["id", *FIELDS, "Modified_Time"]
        types = {f.api_name: f.data_type for f in await crm.fields("Contacts")}
        for criteria in [CASES[1], CASES[3], CASES[6], CASES[7], CASES[9]]:
            # Five jobs: Zoho's (and the server's) 10 downloads a minute are not reached.
            job_criteria = zoho_criteria.bulk_criteria(zoho_criteria.pushed(criteria, types))
            assert job_criteria is not None
            sim.reset_counters("zoho_crm")
            pages = await crm.bulk.full_read("Contacts", names, 100, criteria=job_criteria)
            assert pages is not None
            exported = [r async for page in pages for r in page]
            assert route_calls(sim, "zoho_crm", *BULK_CREATE) >= 1
            expected = {r.id: r for r in everything if matches_all(criteria, r.values)}
            kept = {r.id: r for r in exported if matches_all(criteria, r.values)}
            assert kept == expected, criteria
            assert len(exported) < len(everything)


def test_the_server_refuses_what_it_documents(sim: SimServers) -> None:
    with zoho_admin(sim, "zoho_crm") as admin:
        three = (
            "select Email from Contacts where Email like '%a%' and Loyalty_Points > 1 and id > 1"
        )
        answer = admin.post("/crm/v8/coql", json={"select_query": three})
        assert answer.status_code == 400 and answer.json()["code"] == "SYNTAX_ERROR"
        grouped = three.replace("where ", "where (").replace(" and id", ") and id")
        assert admin.post("/crm/v8/coql", json={"select_query": grouped}).status_code in (200, 204)
