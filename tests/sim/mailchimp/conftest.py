from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sim.mailchimp.contract import Contract
from tests.sim.mailchimp.localserver import LocalMailchimp

NEW_LIST = {
    "name": "test audience",
    "contact": {
        "company": "Acme Ltd",
        "address1": "1 Main St",
        "city": "Kraków",
        "state": "",
        "zip": "30-001",
        "country": "PL",
    },
    "permission_reminder": "You signed up on our site.",
    "campaign_defaults": {
        "from_name": "Acme",
        "from_email": "news@acme.example.com",
        "subject": "News",
        "language": "en",
    },
    "email_type_option": False,
}


@pytest.fixture(scope="session")
def mailchimp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMailchimp]:
    server = LocalMailchimp(tmp_path_factory.mktemp("mailchimp")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@pytest.fixture
def api(mailchimp: LocalMailchimp) -> Iterator[httpx.Client]:
    with mailchimp.client() as client:
        yield client


@pytest.fixture
def list_id(api: httpx.Client) -> str:
    """A fresh audience per test, so tests never see each other's members."""
    response = api.post("/lists", json={**NEW_LIST, "name": f"test {uuid.uuid4().hex[:8]}"})
    response.raise_for_status()
    return str(response.json()["id"])


def email(prefix: str = "person") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def member_body(address: str, **extra: Any) -> dict[str, Any]:
    return {"email_address": address, "status_if_new": "subscribed", **extra}
