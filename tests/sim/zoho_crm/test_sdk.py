"""Zoho's official Python SDK (zohocrmsdk8-0) against the local server, unchanged.

The only difference from production: a ``DataCenter.Environment`` whose API URL and
accounts (token) URL point at the local server — the SDK's own public constructor for
environments (``Environment(url, accounts_url, file_upload_url)``).
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.sim.zoho_crm.server import CrmServer

sdk = pytest.importorskip("zohocrmsdk.src.com.zoho.crm.api")

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken  # noqa: E402
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore  # noqa: E402
from zohocrmsdk.src.com.zoho.api.logger import Logger  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.bulk_read import (  # noqa: E402
    BodyWrapper as BulkBody,
)
from zohocrmsdk.src.com.zoho.crm.api.bulk_read import (  # noqa: E402
    BulkReadOperations,
    FileBodyWrapper,
    Query,
)
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.fields import FieldsOperations, GetFieldsParam  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.modules import MinifiedModule  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.record import (  # noqa: E402
    ActionWrapper,
    APIException,
    BodyWrapper,
    DeleteRecordsParam,
    GetRecordsParam,
    Record,
    RecordOperations,
    ResponseWrapper,
    SearchRecordsParam,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig  # noqa: E402


@pytest.fixture(scope="module")
def initialised(crm: CrmServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder: Path = tmp_path_factory.mktemp("zohosdk")
    environment = DataCenter.Environment(
        crm.base_url, f"{crm.base_url}/oauth/v2/token", crm.base_url
    )
    token = OAuthToken(
        client_id=crm.credentials["client_id"],
        client_secret=crm.credentials["client_secret"],
        refresh_token=crm.credentials["refresh_token"],
    )
    Initializer.initialize(
        environment=environment,
        token=token,
        store=FileStore(str(folder / "tokens.txt")),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
        resource_path=str(folder),
        logger=Logger.get_instance(level=Logger.Levels.INFO, file_path=str(folder / "sdk.log")),
    )


def _ok(response: Any) -> Any:
    assert response is not None
    body = response.get_object()
    assert not isinstance(body, APIException), (
        body.get_code().get_value(),
        body.get_message().get_value(),
        body.get_details(),
    )
    return body


def _first_success(response: Any) -> SuccessResponse:
    wrapper = _ok(response)
    assert isinstance(wrapper, ActionWrapper)
    result = wrapper.get_data()[0]
    assert isinstance(result, SuccessResponse), (
        result.get_code().get_value(),
        result.get_details(),
    )
    return result


@pytest.mark.usefixtures("initialised")
def test_sdk_records_round_trip() -> None:
    operations = RecordOperations("Contacts")

    record = Record()
    record.add_key_value("Last_Name", "Łukasiewicz")
    record.add_key_value("First_Name", "Zoë")
    record.add_key_value("Email", "zoe.sdk@example.com")
    body = BodyWrapper()
    body.set_data([record])
    body.set_duplicate_check_fields(["Email"])
    created = _first_success(operations.upsert_records(body, HeaderMap()))
    record_id = int(created.get_details()["id"])

    fetched = _ok(operations.get_record(record_id, ParameterMap(), HeaderMap()))
    assert isinstance(fetched, ResponseWrapper)
    assert fetched.get_data()[0].get_key_value("Email") == "zoe.sdk@example.com"

    params = ParameterMap()
    params.add(GetRecordsParam.fields, "Last_Name,Email")
    params.add(GetRecordsParam.per_page, 10)
    listed = _ok(operations.get_records(params, HeaderMap()))
    assert len(listed.get_data()) == 10
    assert listed.get_info().get_more_records() is True

    search = ParameterMap()
    search.add(SearchRecordsParam.email, "ZOE.SDK@example.com")
    found = _ok(operations.search_records(search, HeaderMap()))
    assert [r.get_id() for r in found.get_data()] == [record_id]

    again = Record()
    again.add_key_value("Last_Name", "Łukasiewicz")
    again.add_key_value("Email", "ZOE.SDK@example.com")
    body.set_data([again])
    updated = _first_success(operations.upsert_records(body, HeaderMap()))
    assert updated.get_details()["id"] == str(record_id)

    delete = ParameterMap()
    delete.add(DeleteRecordsParam.ids, str(record_id))
    _first_success(operations.delete_records(delete, HeaderMap()))


@pytest.mark.usefixtures("initialised")
def test_sdk_field_metadata() -> None:
    params = ParameterMap()
    params.add(GetFieldsParam.module, "Leads")
    wrapper = _ok(FieldsOperations().get_fields(params))
    types = {f.get_api_name(): f.get_data_type() for f in wrapper.get_fields()}
    assert types["Email_Opt_Out"] == "boolean"
    assert types["Owner"] == "ownerlookup"
    assert types["Signed_Consent_Form"] == "fileupload"


@pytest.mark.usefixtures("initialised")
def test_sdk_bulk_read() -> None:
    operations = BulkReadOperations()
    module = MinifiedModule()
    module.set_api_name("Accounts")
    query = Query()
    query.set_module(module)
    query.set_fields(["Account_Name"])
    body = BulkBody()
    body.set_query(query)
    body.set_file_type("csv")
    created = _ok(operations.create_bulk_read_job(body)).get_data()[0]
    assert created.get_code().get_value() == "ADDED_SUCCESSFULLY", created.get_details()
    job_id = int(created.get_details()["id"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = _ok(operations.get_bulk_read_job_details(job_id)).get_data()[0]
        if job.get_state().get_value() == "COMPLETED":
            break
        time.sleep(0.1)
    assert job.get_state().get_value() == "COMPLETED"
    assert job.get_result().get_more_records() is False
    download = _ok(operations.download_result(job_id))
    assert isinstance(download, FileBodyWrapper)
    assert download.get_file().get_name() == f"{job_id}.zip"
    # The SDK hands over the HTTP response as the stream.
    with zipfile.ZipFile(io.BytesIO(download.get_file().get_stream().content)) as archive:
        header = archive.read(archive.namelist()[0]).decode().splitlines()[0]
    assert header == "id,Account_Name"
