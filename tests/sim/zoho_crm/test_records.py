"""Record behaviour: pagination, incremental reads, upsert identity, search, COQL, conversion."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_crm import VENDOR
from tests.sim.zoho_crm.conftest import SEEDED_CONTACTS
from tests.sim.zoho_crm.server import CrmServer, run_crm


def _insert(api: httpx.Client, module: str, **values: object) -> str:
    response = api.post(f"/{module}", json={"data": [values]})
    assert response.status_code == 201, response.text
    return str(response.json()["data"][0]["details"]["id"])


def test_fields_parameter_is_mandatory(api: httpx.Client) -> None:
    response = api.get("/Contacts")
    assert response.status_code == 400
    assert response.json()["code"] == "REQUIRED_PARAM_MISSING"


def test_page_stops_at_2000_and_page_token_goes_on(api: httpx.Client) -> None:
    beyond = api.get("/Contacts", params={"fields": "Email", "page": 11, "per_page": 200})
    assert beyond.status_code == 400
    assert beyond.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"

    seen: list[str] = []
    params: dict[str, str | int] = {"fields": "Email", "per_page": 200}
    while True:
        body = api.get("/Contacts", params=params).json()
        seen += [r["id"] for r in body["data"]]
        if not body["info"]["more_records"]:
            break
        params = {"fields": "Email", "per_page": 200, "page_token": body["info"]["next_page_token"]}
    assert len(seen) == len(set(seen)) >= SEEDED_CONTACTS
    assert seen == sorted(seen, key=int)


def _walk(api: httpx.Client, **sort: str) -> list[tuple[str, str]]:
    """Every (Modified_Time, id) of the Contacts listing, page by page through the token."""
    base: dict[str, str | int] = {"fields": "Modified_Time", "per_page": 200, **sort}
    params, seen = dict(base), []
    while True:
        body = api.get("/Contacts", params=params).json()
        seen += [(r["Modified_Time"], r["id"]) for r in body["data"]]
        if not body["info"]["more_records"]:
            return seen
        params = {**base, "page_token": body["info"]["next_page_token"]}


def test_page_token_resumes_after_ties_in_the_sort_field(tmp_path: Path) -> None:
    # Pages end inside runs of equal modification times: the token must resume after
    # (time, id), neither repeating nor skipping a record, in either order.
    VENDOR.seed(tmp_path, SeedOptions(contacts=700, leads=0, random_seed=3))
    with sqlite3.connect(tmp_path / "crm.sqlite3") as db:
        for second in range(7):
            db.execute(
                "UPDATE records SET modified_ms = ?, doc = json_set(doc, '$.Modified_Time', ?)"
                " WHERE id % 7 = ?",
                ((1_700_000_000 + second) * 1000, f"2023-11-14T22:13:2{second}+00:00", second),
            )
    with run_crm(tmp_path) as crm, crm.client() as api:
        by_id = _walk(api)
        for order in ("asc", "desc"):
            walked = _walk(api, sort_by="Modified_Time", sort_order=order)
            keys = [(stamp, int(record_id)) for stamp, record_id in walked]
            assert sorted(walked) == sorted(by_id)
            assert keys == sorted(keys, reverse=order == "desc")
    assert len({stamp for stamp, _ in by_id}) == 7
    assert len(by_id) >= 700


def test_sort_by_modified_time_and_if_modified_since(api: httpx.Client) -> None:
    newest = api.get(
        "/Contacts",
        params={
            "fields": "Modified_Time",
            "sort_by": "Modified_Time",
            "sort_order": "desc",
            "per_page": 1,
        },
    ).json()
    stamp = newest["data"][0]["Modified_Time"]
    time.sleep(1.1)
    unchanged = api.get(
        "/Contacts",
        params={"fields": "Email"},
        headers={"If-Modified-Since": datetime.now(tz=UTC).isoformat()},
    )
    assert unchanged.status_code == 304
    record_id = _insert(api, "Contacts", Last_Name="Fresh")
    changed = api.get("/Contacts", params={"fields": "Email"}, headers={"If-Modified-Since": stamp})
    assert changed.status_code == 200
    assert record_id in [r["id"] for r in changed.json()["data"]]


def test_upsert_matches_email_case_insensitively_and_reports_duplicates(api: httpx.Client) -> None:
    first = _insert(api, "Contacts", Last_Name="García", Email="maria.garcia@example.com")
    body = {
        "data": [
            {"Last_Name": "García", "Email": "  Maria.Garcia@EXAMPLE.com ".strip(), "Title": "CEO"}
        ],
        "duplicate_check_fields": ["Email"],
    }
    answer = api.post("/Contacts/upsert", json=body)
    assert answer.status_code == 200
    result = answer.json()["data"][0]
    assert result["action"] == "update" and result["duplicate_field"] == "Email"
    assert result["details"]["id"] == first

    _insert(api, "Contacts", Last_Name="Twin", Email="twin@example.com")
    _insert(api, "Contacts", Last_Name="Twin", Email="TWIN@example.com")
    clash = api.post(
        "/Contacts/upsert", json={"data": [{"Last_Name": "Twin", "Email": "twin@example.com"}]}
    )
    assert clash.status_code == 400
    assert clash.json()["data"][0]["code"] == "DUPLICATE_DATA"


def test_write_limit_of_100_records(api: httpx.Client) -> None:
    body = {"data": [{"Last_Name": f"n{i}"} for i in range(101)]}
    response = api.post("/Contacts", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "LIMIT_EXCEEDED"


def test_unique_field_of_custom_module(api: httpx.Client) -> None:
    _insert(api, "Subscribers", Name="Ana", Email="ana.unique@example.com")
    again = api.post(
        "/Subscribers", json={"data": [{"Name": "Ana 2", "Email": "ANA.unique@example.com"}]}
    )
    assert again.status_code == 400
    assert again.json()["data"][0]["code"] == "DUPLICATE_DATA"


def test_delete_then_deleted_listing_and_permanent(api: httpx.Client) -> None:
    record_id = _insert(api, "Leads", Last_Name="Gone")
    assert api.delete("/Leads", params={"ids": f"{record_id},999"}).status_code == 207
    assert api.get(f"/Leads/{record_id}").status_code == 400
    recycle = api.get("/Leads/deleted", params={"type": "recycle"}).json()
    assert record_id in [d["id"] for d in recycle["data"]]
    assert api.delete(f"/settings/recycle_bin/{record_id}").status_code == 200
    permanent = api.get("/Leads/deleted", params={"type": "permanent"}).json()
    assert record_id in [d["id"] for d in permanent["data"]]


def test_search_criteria_and_word(api: httpx.Client) -> None:
    record_id = _insert(
        api,
        "Contacts",
        Last_Name="O'Brien",
        First_Name="Siobhán",
        Email="siobhan.search@example.com",
        Email_Opt_Out=True,
    )
    criteria = "((Last_Name:equals:o'brien)and(Email_Opt_Out:equals:true))"
    found = api.get("/Contacts/search", params={"criteria": criteria}).json()
    assert record_id in [r["id"] for r in found["data"]]
    assert found["data"][0]["Email_Opt_Out"] is True
    by_word = api.get("/Contacts/search", params={"word": "siobhan.search"}).json()
    assert [r["id"] for r in by_word["data"]] == [record_id]
    nothing = api.get("/Contacts/search", params={"email": "nobody@nowhere.example"})
    assert nothing.status_code == 204
    bad = api.get("/Contacts/search", params={"criteria": "(Nope:equals:1)"})
    assert bad.status_code == 400


def test_coql_subset(api: httpx.Client) -> None:
    account = _insert(api, "Accounts", Account_Name="COQL Widgets")
    ids = [
        _insert(
            api,
            "Contacts",
            Last_Name=f"Coql{i}",
            Email=f"coql{i}@example.com",
            Account_Name={"id": account},
        )
        for i in range(3)
    ]
    query = (
        "select Last_Name, Account_Name.Account_Name from Contacts "
        "where (Last_Name like 'Coql%' and Email in ('coql0@example.com', "
        "'coql2@example.com')) or id = " + ids[1] + " order by Last_Name desc limit 0, 10"
    )
    body = api.post("/coql", json={"select_query": query}).json()
    assert [r["Last_Name"] for r in body["data"]] == ["Coql2", "Coql1", "Coql0"]
    assert body["data"][0]["Account_Name.Account_Name"] == "COQL Widgets"
    nulls = api.post(
        "/coql", json={"select_query": "select Email from Leads where Email is null limit 1"}
    )
    assert nulls.status_code in (200, 204)
    unknown = api.post("/coql", json={"select_query": "select Nope from Contacts"})
    assert unknown.json()["code"] == "INVALID_QUERY"
    syntax = api.post("/coql", json={"select_query": "select Email Contacts"})
    assert syntax.json()["code"] == "SYNTAX_ERROR"


def test_lead_conversion(api: httpx.Client) -> None:
    lead_id = _insert(
        api,
        "Leads",
        Last_Name="Dubois",
        First_Name="Élodie",
        Email="elodie.convert@example.com",
        Company="Lumière SARL 99",
        Email_Opt_Out=True,
    )
    campaign = api.get("/Campaigns", params={"fields": "Campaign_Name"}).json()["data"][0]
    api.put(
        f"/Leads/{lead_id}/Campaigns",
        json={"data": [{"id": campaign["id"], "Member_Status": "Sent"}]},
    )
    answer = api.post(f"/Leads/{lead_id}/actions/convert", json={"data": [{}]}).json()
    details = answer["data"][0]["details"]
    assert details["Deals"] is None
    contact = api.get(f"/Contacts/{details['Contacts']['id']}").json()["data"][0]
    assert contact["Email"] == "elodie.convert@example.com"
    assert contact["Email_Opt_Out"] is True
    assert contact["Account_Name"]["id"] == details["Accounts"]["id"]
    members = api.get(f"/Contacts/{details['Contacts']['id']}/Campaigns").json()["data"]
    assert members[0]["Member_Status"] == "Sent"

    listed = api.get("/Leads/search", params={"email": "elodie.convert@example.com"})
    assert listed.status_code == 204
    converted = api.get(
        "/Leads/search", params={"email": "elodie.convert@example.com", "converted": "true"}
    ).json()
    assert converted["data"][0]["$converted"] is True
    lead = api.get(f"/Leads/{lead_id}").json()["data"][0]
    assert lead["$converted_detail"]["contact"] == details["Contacts"]["id"]
    refused = api.put(f"/Leads/{lead_id}", json={"data": [{"Title": "x"}]})
    assert refused.json()["data"][0]["code"] == "CONVERTED_RECORD"


def test_related_lists_accounts_deals_notes_emails(crm: CrmServer, api: httpx.Client) -> None:
    account = _insert(api, "Accounts", Account_Name="Related Co")
    contact = _insert(
        api, "Contacts", Last_Name="Rel", Account_Name={"id": account}, Email="rel@example.com"
    )
    deal = _insert(
        api,
        "Deals",
        Deal_Name="Rel deal",
        Stage="Qualification",
        Contact_Name={"id": contact},
        Account_Name={"id": account},
    )
    assert [r["id"] for r in api.get(f"/Accounts/{account}/Contacts").json()["data"]] == [contact]
    assert [r["id"] for r in api.get(f"/Contacts/{contact}/Deals").json()["data"]] == [deal]

    note = api.post(
        f"/Contacts/{contact}/Notes",
        json={"data": [{"Note_Title": "Mail", "Note_Content": "Captured mail"}]},
    )
    assert note.status_code == 201
    notes = api.get(f"/Contacts/{contact}/Notes").json()["data"]
    assert notes[0]["Note_Content"] == "Captured mail"
    assert notes[0]["Parent_Id"]["id"] == contact

    assert api.get(f"/Contacts/{contact}/Emails").status_code == 204
    crm.admin(
        "POST",
        f"/_admin/zoho_crm/emails/Contacts/{contact}",
        json={
            "from": {"email": "rel@example.com", "user_name": "Rel"},
            "to": [{"email": "admin@crm.example.com"}],
            "subject": "Hi",
        },
    )
    emails = api.get(f"/Contacts/{contact}/Emails").json()
    assert emails["email_related_list"][0]["subject"] == "Hi"


def test_invalid_lookup_and_types(api: httpx.Client) -> None:
    response = api.post(
        "/Contacts",
        json={
            "data": [
                {"Last_Name": "x", "Account_Name": {"id": "1"}},
                {"Last_Name": "y", "Email_Opt_Out": "yes"},
                {"Last_Name": "z", "Date_of_Birth": "31/12/1990"},
            ]
        },
    )
    assert response.status_code == 400
    codes = [(r["code"], r["details"]["api_name"]) for r in response.json()["data"]]
    assert codes == [
        ("INVALID_DATA", "Account_Name"),
        ("INVALID_DATA", "Email_Opt_Out"),
        ("INVALID_DATA", "Date_of_Birth"),
    ]


def test_v2_alias(crm: CrmServer) -> None:
    with crm.client("v2") as v2:
        body = v2.get("/Leads", params={"fields": "Email", "per_page": 2}).json()
    assert len(body["data"]) == 2
