"""Bulk Read in the local Zoho CRM: jobs, states, the ZIP of one CSV, pages, limits, credits."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sim.zoho_crm.contract import validate, validate_response
from tests.sim.zoho_crm.server import CrmServer

READ = "/crm/bulk/v8/read"
ADMIN = "/_admin/zoho_crm/bulk_read"


@pytest.fixture
def bulk(crm: CrmServer) -> Iterator[httpx.Client]:
    """A client at the server root; jobs take 100 ms; settings restored afterwards."""
    before = crm.admin("GET", ADMIN)
    crm.admin("PUT", ADMIN, json={"processing_ms": 100})
    with httpx.Client(
        base_url=crm.base_url,
        headers={"Authorization": f"Zoho-oauthtoken {crm.token()}"},
        timeout=30,
    ) as client:
        yield client
    crm.admin(
        "PUT",
        ADMIN,
        json={
            k: before[k] for k in ("processing_ms", "per_page", "fail_jobs", "downloads_per_minute")
        },
    )


def create(client: httpx.Client, query: dict[str, Any]) -> str:
    response = client.post(READ, json={"query": query, "file_type": "csv"})
    assert response.status_code == 201, response.text
    item = response.json()["data"][0]
    assert (item["status"], item["code"], item["details"]["state"]) == (
        "success", "ADDED_SUCCESSFULLY", "ADDED")  # fmt: skip
    return str(item["details"]["id"])


def wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(f"{READ}/{job_id}").json()["data"][0]
        assert job["state"] in ("ADDED", "IN PROGRESS", "COMPLETED", "FAILURE")
        if job["state"] in ("COMPLETED", "FAILURE"):
            return dict(job)
        time.sleep(0.03)
    raise AssertionError("the job did not finish")


def rows(client: httpx.Client, job: dict[str, Any]) -> list[dict[str, str]]:
    response = client.get(job["result"]["download_url"])
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert names == [f"{job['id']}.csv"]
        text = archive.read(names[0]).decode()
    return list(csv.DictReader(io.StringIO(text)))


FIELDS = ["Email", "First_Name", "Email_Opt_Out", "Account_Name", "Account_Name.Account_Name",
          "Modified_Time", "Newsletter_Topics"]  # fmt: skip


def test_a_job_exports_every_contact_as_a_zipped_csv(bulk: httpx.Client, api: httpx.Client) -> None:
    total = api.get("/Contacts/actions/count").json()["count"]
    job_id = create(bulk, {"module": {"api_name": "Contacts"}, "fields": FIELDS})
    job = wait(bulk, job_id)
    assert job["state"] == "COMPLETED"
    assert job["query"]["module"]["api_name"] == "Contacts" and job["file_type"] == "csv"
    result = job["result"]
    assert result == {
        "page": 1,
        "count": total,
        "per_page": 200_000,
        "download_url": f"{READ}/{job_id}/result",
        "more_records": False,
    }
    exported = rows(bulk, job)
    assert list(exported[0]) == ["id", *FIELDS]
    assert len(exported) == total
    listed = api.get("/Contacts", params={"fields": ",".join(FIELDS[:4] + FIELDS[5:]),
                                          "per_page": 200}).json()["data"]  # fmt: skip
    by_id = {r["id"]: r for r in exported}
    for record in listed:
        row = by_id[record["id"]]
        assert row["Email"] == (record["Email"] or "")
        assert row["Email_Opt_Out"] == ("true" if record["Email_Opt_Out"] else "false")
        assert row["Modified_Time"] == record["Modified_Time"]
        account = record["Account_Name"]
        assert row["Account_Name"] == (account["id"] if account else "")
        assert row["Account_Name.Account_Name"] == (account["name"] if account else "")
        assert row["Newsletter_Topics"] == ";".join(record["Newsletter_Topics"] or [])


def test_a_job_costs_fifty_credits(bulk: httpx.Client, crm: CrmServer) -> None:
    before = crm.admin("GET", "/_admin/zoho_crm/credits")["used"]
    job_id = create(bulk, {"module": {"api_name": "Accounts"}, "fields": ["Account_Name"]})
    assert crm.admin("GET", "/_admin/zoho_crm/credits")["used"] - before == 50
    wait(bulk, job_id)


def test_pages_follow_the_token_or_the_page_number(
    bulk: httpx.Client, crm: CrmServer, api: httpx.Client
) -> None:
    total = api.get("/Contacts/actions/count").json()["count"]
    crm.admin("PUT", ADMIN, json={"per_page": 1000})
    query: dict[str, Any] = {"module": {"api_name": "Contacts"}, "fields": ["Email"]}
    seen: list[str] = []
    pages = []
    while True:
        job = wait(bulk, create(bulk, query))
        pages.append(job["result"])
        seen.extend(r["id"] for r in rows(bulk, job))
        if not job["result"]["more_records"]:
            break
        query = {**query, "page_token": job["result"]["next_page_token"]}
    assert [(p["page"], p["count"], p["more_records"]) for p in pages] == [
        (1, 1000, True), (2, 1000, True), (3, total - 2000, False)]  # fmt: skip
    assert "next_page_token" not in pages[-1]
    assert len(seen) == len(set(seen)) == total
    second = wait(bulk, create(bulk, {"module": {"api_name": "Contacts"}, "fields": ["Email"],
                                      "page": 2}))  # fmt: skip
    assert [r["id"] for r in rows(bulk, second)] == seen[1000:2000]


def test_criteria_select_the_records_a_search_finds(bulk: httpx.Client, api: httpx.Client) -> None:
    criteria = {"group_operator": "and", "group": [
        {"field": {"api_name": "Email_Opt_Out"}, "comparator": "equal", "value": True},
        {"field": {"api_name": "Email"}, "comparator": "contains", "value": "@"},
    ]}  # fmt: skip
    job = wait(bulk, create(bulk, {"module": {"api_name": "Contacts"}, "fields": ["Email"],
                                   "criteria": criteria}))  # fmt: skip
    found: set[str] = set()
    page = 1
    while True:
        answer = api.get(
            "/Contacts/search",
            params={"criteria": "(Email_Opt_Out:equals:true)", "per_page": 200, "page": page},
        )
        if answer.status_code == 204:
            break
        found |= {r["id"] for r in answer.json()["data"] if "@" in (r.get("Email") or "")}
        if not answer.json()["info"]["more_records"]:
            break
        page += 1
    assert found and {r["id"] for r in rows(bulk, job)} == found


def test_a_failed_job_says_failure_and_has_no_result(bulk: httpx.Client, crm: CrmServer) -> None:
    crm.admin("PUT", ADMIN, json={"fail_jobs": 1})
    job = wait(bulk, create(bulk, {"module": {"api_name": "Contacts"}, "fields": ["Email"]}))
    assert job["state"] == "FAILURE" and "result" not in job
    answer = bulk.get(f"{READ}/{job['id']}/result")
    assert answer.status_code == 400 and answer.json()["code"] == "RESOURCE_NOT_FOUND"


def test_downloads_are_limited_per_minute(bulk: httpx.Client, crm: CrmServer) -> None:
    crm.admin("PUT", ADMIN, json={"downloads_per_minute": 1})
    job = wait(bulk, create(bulk, {"module": {"api_name": "Accounts"}, "fields": ["Account_Name"]}))
    assert bulk.get(job["result"]["download_url"]).status_code == 200
    refused = bulk.get(job["result"]["download_url"])
    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (None, 400, "REQUEST_BODY_IS_EMPTY"),
        ({"query": {}}, 400, "INVALID_REQUEST"),
        ({"query": {"module": {"api_name": "Nope"}}}, 400, "MODULE_NOT_AVAILABLE"),
        ({"query": {"module": {"api_name": "Contacts"}, "fields": ["Nope"]}}, 400,
         "FIELD_NOT_AVAILABLE"),
        ({"query": {"module": {"api_name": "Contacts"}, "fields": ["Social_Profiles"]}}, 400,
         "FIELD_NOT_SUPPORTED"),
        ({"query": {"module": {"api_name": "Contacts"}, "page": 51}}, 400, "PAGE_RANGE_EXCEEDED"),
        ({"query": {"module": {"api_name": "Contacts"}, "page": 2, "page_token": "x"}}, 400,
         "INVALID_REQUEST"),
        ({"query": {"module": {"api_name": "Contacts"}, "page_token": "x"}}, 400,
         "INVALID_REQUEST"),
        ({"query": {"module": {"api_name": "Contacts"}, "cvid": "1"}}, 400, "CVID_NOT_SUPPORTED"),
        ({"query": {"module": {"api_name": "Contacts"}}, "callback": {"url": "https://x.test",
          "method": "get"}}, 400, "INVALID_CALLBACK_METHOD"),
        ({"query": {"module": {"api_name": "Contacts"}, "criteria": {
            "group_operator": "and", "group": [
                {"field": {"api_name": "Email"}, "comparator": "equal", "value": f"{i}@x.test"}
                for i in range(26)]}}}, 400, "CRITERIA_LIMIT_EXCEEDED"),
        ({"query": {"module": {"api_name": "Contacts"}, "criteria": {
            "field": {"api_name": "Email"}, "comparator": "like", "value": "a"}}}, 400,
         "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED"),
        ({"query": {"module": {"api_name": "Contacts"}, "criteria": {
            "field": {"api_name": "Nope"}, "comparator": "equal", "value": "a"}}}, 400,
         "FIELD_IN_CRITERIA_NOT_AVAILABLE"),
    ],
)  # fmt: skip
def test_invalid_jobs_are_refused(
    bulk: httpx.Client, body: dict[str, Any] | None, status: int, code: str
) -> None:
    answer = bulk.post(READ, json=body) if body is not None else bulk.post(READ)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.json()["status"] == "error"


def test_unknown_jobs_are_not_found(bulk: httpx.Client) -> None:
    answer = bulk.get(f"{READ}/123")
    assert (answer.status_code, answer.json()["code"]) == (404, "RESOURCE_NOT_FOUND")


def test_answers_follow_bulk_read_json(bulk: httpx.Client) -> None:
    created = bulk.post(READ, json={"query": {"module": {"api_name": "Accounts"}}})
    validate_response("bulk_read.json", READ, "post", created.json(), 201)
    validate("bulk_read.json", "Success_Response", created.json()["data"][0])
    job_id = created.json()["data"][0]["details"]["id"]
    path = f"{READ}/{{job_id}}"
    added = bulk.get(f"{READ}/{job_id}").json()
    validate_response("bulk_read.json", path, "get", added)
    wait(bulk, job_id)
    done = bulk.get(f"{READ}/{job_id}").json()
    validate_response("bulk_read.json", path, "get", done)
    validate("bulk_read.json", "Job_Detail", done["data"][0])
    validate("bulk_read.json", "Result", done["data"][0]["result"])
    refused = bulk.post(READ, json={"query": {"module": {"api_name": "Contacts"}, "page": 51}})
    validate_response("bulk_read.json", READ, "post", refused.json(), 400)
    validate("bulk_read.json", "Page_Range_Exceeded", refused.json())
    unknown = bulk.get(f"{READ}/123")
    validate_response("bulk_read.json", path, "get", unknown.json(), 404)
    validate("bulk_read.json", "Resource_Not_Found", unknown.json())
