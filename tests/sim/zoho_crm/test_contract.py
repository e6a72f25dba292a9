"""Every implemented endpoint's requests and answers checked against Zoho's v8 spec files."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sim.zoho_crm.contract import validate, validate_request, validate_response
from tests.sim.zoho_crm.server import CrmServer

RECORDS = "/crm/v8/{module_api_name}"
RECORD = "/crm/v8/{module_api_name}/{id}"


def _new_contact(api: httpx.Client, **values: Any) -> str:
    body = {"data": [{"Last_Name": "Contract", **values}]}
    response = api.post("/Contacts", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"][0]["details"]["id"])


def test_oauth_token_answer(crm: CrmServer) -> None:
    response = httpx.post(
        f"{crm.base_url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": crm.credentials["client_id"],
            "client_secret": crm.credentials["client_secret"],
            "refresh_token": crm.credentials["refresh_token"],
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["expires_in"] == 3600
    assert body["api_domain"] == crm.base_url
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("1000.")


def test_list_records(api: httpx.Client) -> None:
    response = api.get(
        "/Contacts", params={"fields": "Last_Name,Email,Email_Opt_Out", "per_page": 5}
    )
    assert response.status_code == 200
    body = response.json()
    validate_response("record.json", RECORDS, "get", body)
    validate("record.json", "Response_Wrapper", body)
    assert body["info"]["count"] == 5
    assert set(body["data"][0]) == {"id", "Last_Name", "Email", "Email_Opt_Out"}


def test_get_record(api: httpx.Client) -> None:
    record_id = _new_contact(api, Email="contract.get@example.com")
    body = api.get(f"/Contacts/{record_id}").json()
    validate_response("record.json", RECORD, "get", body)
    validate("record.json", "Response_Wrapper", body)
    record = body["data"][0]
    validate("record.json", "Record", record)
    assert record["Email"] == "contract.get@example.com"
    assert record["Created_By"]["id"] and record["Modified_Time"]


def test_insert_update_delete(api: httpx.Client) -> None:
    insert = {
        "data": [{"Last_Name": "Núñez", "First_Name": "José", "Email": "jose@example.com"}],
        "trigger": [],
    }
    validate_request("record.json", RECORDS, "post", insert)
    created = api.post("/Contacts", json=insert).json()
    validate_response("record.json", RECORDS, "post", created)
    validate("record.json", "Success_Response", created["data"][0])
    record_id = created["data"][0]["details"]["id"]

    update = {"data": [{"id": record_id, "Title": "CTO"}]}
    validate_request("record.json", RECORDS, "put", update)
    updated = api.put("/Contacts", json=update).json()
    validate("record.json", "Success_Response", updated["data"][0])
    assert updated["data"][0]["message"] == "record updated"

    deleted = api.delete("/Contacts", params={"ids": record_id}).json()
    validate_response("record.json", RECORDS, "delete", deleted)
    validate("record.json", "Success_Response", deleted["data"][0])


def test_upsert_and_per_record_errors(api: httpx.Client) -> None:
    body = {
        "data": [
            {"Last_Name": "Upsert", "Email": "UPSERT.contract@example.com"},
            {"Email": "no.last.name@example.com"},
            {"Last_Name": "Bad", "Email": "not-an-email"},
        ],
        "duplicate_check_fields": ["Email"],
    }
    validate_request("record.json", "/crm/v8/{module_api_name}/upsert", "post", body)
    response = api.post("/Contacts/upsert", json=body)
    assert response.status_code == 207
    answer = response.json()
    validate_response("record.json", "/crm/v8/{module_api_name}/upsert", "post", answer)
    ok, missing, invalid = answer["data"]
    validate("record.json", "Success_Response", ok)
    validate("record.json", "API_Exception", missing)
    validate("record.json", "API_Exception", invalid)
    assert missing["code"] == "MANDATORY_NOT_FOUND"
    assert missing["details"] == {"api_name": "Last_Name", "json_path": "$.data[1].Last_Name"}
    assert invalid["code"] == "INVALID_DATA"
    assert invalid["details"]["api_name"] == "Email"


def test_deleted_records(api: httpx.Client) -> None:
    record_id = _new_contact(api)
    api.delete(f"/Contacts/{record_id}")
    body = api.get("/Contacts/deleted", params={"type": "recycle"}).json()
    validate_response("record.json", "/crm/v8/{module_api_name}/deleted", "get", body)
    validate("record.json", "Deleted_Records_Wrapper", body)
    assert record_id in [d["id"] for d in body["data"]]


def test_search(api: httpx.Client) -> None:
    _new_contact(api, Email="search.contract@example.com")
    body = api.get("/Contacts/search", params={"email": "Search.Contract@example.com"}).json()
    validate_response("module_search.json", "/crm/v8/{module}/search", "get", body)
    validate("record.json", "Response_Wrapper", body)


def test_coql(api: httpx.Client) -> None:
    query = {
        "select_query": "select Last_Name, Email from Contacts where Email is not null "
        "order by id limit 3"
    }
    validate_request("coql.json", "/crm/v8/coql", "post", query)
    body = api.post("/coql", json=query).json()
    validate_response("coql.json", "/crm/v8/coql", "post", body)
    validate("coql.json", "Response_Wrapper", body)
    bad = api.post("/coql", json={"select_query": "select from"})
    assert bad.status_code == 400
    validate("coql.json", "Syntax_Exception", bad.json())


def test_fields_and_modules(api: httpx.Client) -> None:
    fields = api.get("/settings/fields", params={"module": "Leads"}).json()
    validate_response("fields.json", "/crm/v8/settings/fields", "get", fields)
    by_name = {f["api_name"]: f for f in fields["fields"]}
    assert by_name["Email_Opt_Out"]["data_type"] == "boolean"
    assert by_name["Modified_Time"]["read_only"] is True
    modules = api.get("/settings/modules").json()
    validate_response("modules.json", "/crm/v8/settings/modules", "get", modules)
    names = {m["api_name"] for m in modules["modules"]}
    assert {"Leads", "Contacts", "Accounts", "Deals", "Campaigns", "Subscribers"} <= names


def test_watch(api: httpx.Client) -> None:
    body = {
        "watch": [
            {
                "channel_id": "1000000068001",
                "events": ["Contacts.all"],
                "notify_url": "http://127.0.0.1:9/callback",
                "token": "contract",
            }
        ]
    }
    validate_request("notifications.json", "/crm/v8/actions/watch", "post", body)
    response = api.post("/actions/watch", json=body)
    assert response.status_code == 201
    answer = response.json()
    validate_response("notifications.json", "/crm/v8/actions/watch", "post", answer, 201)
    validate("notifications.json", "SuccessWrapper", answer)
    listed = api.get("/actions/watch").json()
    validate("notifications.json", "Response_Wrapper", listed)
    removed = api.delete("/actions/watch", params={"channel_ids": "1000000068001"}).json()
    validate("notifications.json", "SuccessWrapper", removed)
    missing = api.delete("/actions/watch", params={"channel_ids": "42"})
    assert missing.status_code == 202
    validate_response("notifications.json", "/crm/v8/actions/watch", "delete", missing.json(), 202)
    validate("notifications.json", "InvalidParamWrapper", missing.json())


def test_convert_lead(api: httpx.Client) -> None:
    lead = api.post(
        "/Leads",
        json={
            "data": [
                {
                    "Last_Name": "Convertible",
                    "Company": "Zenit SA",
                    "Email": "convertible@example.com",
                }
            ]
        },
    ).json()
    lead_id = lead["data"][0]["details"]["id"]
    body = {
        "data": [
            {"overwrite": True, "Deals": {"Deal_Name": "Zenit deal", "Stage": "Qualification"}}
        ]
    }
    answer = api.post(f"/Leads/{lead_id}/actions/convert", json=body).json()
    validate_response(
        "convert_lead.json", "/crm/v8/Leads/{lead_id}/actions/convert", "post", answer
    )
    validate("convert_lead.json", "Success_Response", answer["data"][0])
    again = api.post(f"/Leads/{lead_id}/actions/convert", json=body)
    assert again.status_code == 400
    validate("convert_lead.json", "ID_Already_Converted_API_Exception", again.json())


def test_related_records(api: httpx.Client) -> None:
    campaign = api.get("/Campaigns", params={"fields": "Campaign_Name"}).json()["data"][0]
    contact_id = _new_contact(api)
    put = {"data": [{"id": campaign["id"], "Member_Status": "Invited"}]}
    path = "/crm/v8/{module_api_name}/{record_id}/{related_list_api_name}"
    answer = api.put(f"/Contacts/{contact_id}/Campaigns", json=put).json()
    validate_response("related_records.json", path, "put", answer)
    listed = api.get(f"/Contacts/{contact_id}/Campaigns").json()
    validate_response("related_records.json", path, "get", listed)
    assert listed["data"][0]["Member_Status"] == "Invited"


@pytest.mark.parametrize("header", [None, "Zoho-oauthtoken 1000.wrong.token"])
def test_auth_errors(crm: CrmServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{crm.base_url}/crm/v8/Contacts?fields=Email", headers=headers)
    assert response.status_code == 401
    validate("record.json", "API_Exception", response.json())
    expected = "INVALID_TOKEN" if header else "AUTHENTICATION_FAILURE"
    assert response.json()["code"] == expected


# --- issue 13.5: the /crm/v2 alias, field metadata and error details ---------------------


def test_v2_lists_all_fields_without_fields_param(crm: CrmServer, api: httpx.Client) -> None:
    with crm.client("v2") as v2:
        response = v2.get("/Contacts", params={"per_page": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    validate("record.json", "Response_Wrapper", body)
    assert {"Last_Name", "Email", "Email_Opt_Out", "Owner"} <= set(body["data"][0])
    refused = api.get("/Contacts", params={"per_page": 2})
    assert refused.status_code == 400
    validate("common.json", "MandatoryParamError", refused.json())
    assert refused.json()["details"] == {"param_name": "fields", "param": "fields"}


def test_required_param_missing_details_name_the_param(api: httpx.Client) -> None:
    for response in (api.delete("/Contacts"), api.get("/settings/fields")):
        assert response.status_code == 400
        validate("common.json", "MandatoryParamError", response.json())
        validate("recycle_bin.json", "REQUIRED_PARAM_MISSING", response.json())
        validate("fields.json", "MandatoryParamError", response.json())


def test_pagination_limit_answer_is_zohos(api: httpx.Client) -> None:
    response = api.get("/Contacts", params={"fields": "Email", "page": 11, "per_page": 200})
    assert response.status_code == 400
    assert response.json() == {
        "code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        "details": {"limit": 2000},
        "message": "You can only get the first 2000 records without using page_token param",
        "status": "error",
    }


def test_v2_lookup_metadata_names_the_module(crm: CrmServer, api: httpx.Client) -> None:
    with crm.client("v2") as v2:
        v2_fields = v2.get("/settings/fields", params={"module": "Contacts"}).json()["fields"]
        v2_module = v2.get("/settings/modules/Contacts").json()["modules"][0]["fields"]
    v8_fields = api.get("/settings/fields", params={"module": "Contacts"}).json()
    validate_response("fields.json", "/crm/v8/settings/fields", "get", v8_fields)
    for fields in (v2_fields, v2_module):
        lookup = {f["api_name"]: f for f in fields}["Account_Name"]["lookup"]
        assert lookup["module"] == "Accounts"
    v8_lookup = {f["api_name"]: f for f in v8_fields["fields"]}["Account_Name"]["lookup"]
    assert v8_lookup["module"] == {"api_name": "Accounts", "id": v8_lookup["module"]["id"]}


@pytest.mark.parametrize("version", ["v8", "v2"])
def test_subform_module_fields(crm: CrmServer, version: str) -> None:
    with crm.client(version) as client:
        parent = client.get("/settings/fields", params={"module": "Contacts"}).json()["fields"]
        subform = {f["api_name"]: f for f in parent}["Social_Profiles"]
        name = subform["subform"]["module"]
        response = client.get("/settings/fields", params={"module": name})
        one = client.get("/settings/fields/Network", params={"module": name})
    assert response.status_code == 200, response.text
    assert one.status_code == 200, one.text
    if version == "v8":
        validate_response("fields.json", "/crm/v8/settings/fields", "get", response.json())
        assert subform["associated_module"]["api_name"] == name
    rows = {f["api_name"]: f for f in response.json()["fields"]}
    assert rows["Parent_Id"]["data_type"] == "lookup"
    module = rows["Parent_Id"]["lookup"]["module"]
    assert (module if version == "v2" else module["api_name"]) == "Contacts"
    assert {"Network", "Handle", "Profile_URL"} <= set(rows)


def test_field_data_types_are_in_the_sdk_type_table(api: httpx.Client) -> None:
    utility = pytest.importorskip("zohocrmsdk.src.com.zoho.crm.api.util.utility").Utility
    utility.fill_data_type()
    known = set(utility.apitype_vs_datatype)
    for module in ("Leads", "Contacts", "Accounts", "Deals", "Campaigns", "Subscribers"):
        fields = api.get("/settings/fields", params={"module": module}).json()["fields"]
        unknown = {f["api_name"]: f["data_type"] for f in fields if f["data_type"] not in known}
        assert unknown == {}, module


@pytest.mark.parametrize("version", ["v8", "v2"])
def test_notes_parent_lookup_is_se_module(crm: CrmServer, version: str) -> None:
    with crm.client(version) as client:
        fields = client.get("/settings/fields", params={"module": "Notes"}).json()
    if version == "v8":
        validate_response("fields.json", "/crm/v8/settings/fields", "get", fields)
    lookup = {f["api_name"]: f for f in fields["fields"]}["Parent_Id"]["lookup"]
    module = lookup["module"]
    assert (module if version == "v2" else module["api_name"]) == "se_module"
