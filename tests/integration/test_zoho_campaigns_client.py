"""The Zoho Campaigns client against the local Zoho Campaigns server, over real HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from crmsync.engine.records import Member, MemberStatus, MemberWrite, WriteOutcome
from crmsync.providers.factory import Endpoint, open_target
from crmsync.providers.http import AuthError, CallStats, ConfigError
from crmsync.providers.zoho_campaigns import ZohoCampaigns
from tests.integration.conftest import FAST_RETRIES, route_calls, unique, zoho_admin
from tests.simfixture import SimServers

VENDOR = "zoho_campaigns"
SUBSCRIBE_ROUTE = "/api/v1.1/json/listsubscribe"

pytestmark = pytest.mark.usefixtures("no_faults")


@pytest.fixture
def list_key(sim: SimServers) -> str:
    with zoho_admin(sim, VENDOR) as admin:
        body = admin.post(
            "/api/v1.1/addlistandcontacts",
            data={"listname": unique("list"), "signupform": "private", "mode": "newlist",
                  "resfmt": "JSON"},
        ).json()  # fmt: skip
    assert body["code"] == "0", body
    return str(body["listkey"])


@pytest.fixture
def unlocked(sim: SimServers) -> Iterator[None]:
    yield
    with zoho_admin(sim, VENDOR) as admin:
        admin.delete("/_admin/zoho_campaigns/rate_limits").raise_for_status()


def target(endpoint: Endpoint, stats: CallStats | None = None) -> ZohoCampaigns:
    client = open_target(endpoint, stats or CallStats(), FAST_RETRIES)
    assert isinstance(client, ZohoCampaigns)
    return client


def people(count: int, prefix: str, **extra: Any) -> list[MemberWrite]:
    return [
        MemberWrite(
            email=f"{prefix}.{i}@Example.com",
            values={"First Name": f"First{i}", "Last Name": "Tester"},
            status_if_new=MemberStatus.SUBSCRIBED,
            **extra,
        )
        for i in range(count)
    ]


async def all_members(client: ZohoCampaigns, list_key: str) -> dict[str, Member]:
    found: dict[str, Member] = {}
    async for page in client.members(list_key):
        found.update({m.email: m for m in page})
    return found


def contact(sim: SimServers, email: str) -> dict[str, Any]:
    with zoho_admin(sim, VENDOR) as admin:
        response = admin.get(f"/_admin/zoho_campaigns/contacts/{email}")
        response.raise_for_status()
        return dict(response.json())


async def test_verify_and_fields(sim: SimServers, campaigns_endpoint: Endpoint) -> None:
    default_list = sim.info[VENDOR]["list_key"]
    async with target(campaigns_endpoint) as client:
        facts = await client.verify(default_list)
        assert facts["has_lists"]
        assert "audience" in facts
        assert {"Contact Email", "First Name", "Last Name"} <= await client.field_names(
            default_list
        )
        with pytest.raises(ConfigError):
            await client.verify("no-such-list")


async def test_upsert_lists_and_updates_one_call_per_contact(
    sim: SimServers, campaigns_endpoint: Endpoint, list_key: str
) -> None:
    sim.reset_counters(VENDOR)
    async with target(campaigns_endpoint) as client:
        created = await client.upsert(list_key, people(10, "zc"))
        assert Counter(r.outcome for r in created) == {WriteOutcome.CREATED: 10}
        assert route_calls(sim, VENDOR, "POST", SUBSCRIBE_ROUTE) == 10

        renamed = [
            MemberWrite(w.email, {"First Name": "Renamed"}, w.status_if_new)
            for w in people(10, "zc")
        ]
        updated = await client.upsert(list_key, renamed)
        assert Counter(r.outcome for r in updated) == {WriteOutcome.UPDATED: 10}

        members = await all_members(client, list_key)
    assert set(members) == {f"zc.{i}@example.com" for i in range(10)}
    assert members["zc.3@example.com"].values == {"First Name": "Renamed", "Last Name": "Tester"}
    assert {m.status for m in members.values()} == {MemberStatus.SUBSCRIBED}


async def test_upsert_never_resubscribes_nor_changes_the_subscription_type(
    sim: SimServers, campaigns_endpoint: Endpoint, list_key: str
) -> None:
    email = f"{unique('optout')}@example.com"
    async with target(campaigns_endpoint) as client:
        first = MemberWrite(email, {"First Name": "Ann"}, MemberStatus.NON_MARKETING,
                            legal_basis="Consent", consent=True)  # fmt: skip
        await client.upsert(list_key, [first])
        with zoho_admin(sim, VENDOR) as admin:
            body = admin.post(
                "/api/v1.1/json/listunsubscribe",
                data={"listkey": list_key, "contactinfo": f'{{"Contact Email": "{email}"}}',
                      "resfmt": "JSON"},
            ).json()  # fmt: skip
            assert body["code"] == "0"

        again = MemberWrite(email, {"First Name": "Anne"}, MemberStatus.SUBSCRIBED)
        (result,) = await client.upsert(list_key, [again])
        assert result.outcome is WriteOutcome.UPDATED
        assert "unsub" in result.detail
        members = await all_members(client, list_key)
    assert members[email].status is MemberStatus.UNSUBSCRIBED
    stored = contact(sim, email)
    assert stored["lists"][list_key] == "unsub"
    assert stored["subscription_type"] == "non-marketing"
    assert stored["fields"]["firstname"] == "Anne"
    assert (stored["legal_basis"], stored["consent_status"]) == ("Consent", "Consented")


async def test_rejections_status_changes_and_removal(
    sim: SimServers, campaigns_endpoint: Endpoint, list_key: str
) -> None:
    async with target(campaigns_endpoint) as client:
        batch = [
            *people(3, "keep"),
            MemberWrite("not-an-email", {}, MemberStatus.SUBSCRIBED),
            MemberWrite("postmaster@example.com", {}, MemberStatus.SUBSCRIBED),
        ]
        results = await client.upsert(list_key, batch)
        assert [r.reason for r in results[3:]] == ["invalid_email", "role_email"]
        assert Counter(r.outcome for r in results)[WriteOutcome.REJECTED] == 2

        (unsub,) = await client.set_status(
            list_key, ["keep.0@example.com"], MemberStatus.UNSUBSCRIBED
        )
        assert unsub.outcome is WriteOutcome.UPDATED
        (missing,) = await client.set_status(
            list_key, ["nobody-zc@example.com"], MemberStatus.UNSUBSCRIBED
        )
        assert missing.outcome is WriteOutcome.UNCHANGED

        (archived,) = await client.remove(list_key, ["keep.1@example.com"], permanent=False)
        (erased,) = await client.remove(list_key, ["keep.2@example.com"], permanent=True)
        assert (archived.outcome, erased.outcome) == (WriteOutcome.REMOVED, WriteOutcome.REMOVED)

        with pytest.raises(ConfigError, match="mailing list"):
            await client.upsert("", people(1, "nolist"))
    assert contact(sim, "keep.0@example.com")["lists"][list_key] == "unsub"
    assert contact(sim, "keep.1@example.com")["lists"][list_key] == "unsub"
    assert contact(sim, "keep.2@example.com")["do_not_mail"] is True


async def test_token_refresh_after_expiry(sim: SimServers, campaigns_endpoint: Endpoint) -> None:
    stats = CallStats()
    async with target(campaigns_endpoint, stats) as client:
        await client.verify()
        with zoho_admin(sim, VENDOR) as admin:
            admin.post("/_admin/zoho_campaigns/tokens/expire").raise_for_status()
        await client.verify()
    assert stats.token_refreshes == 1


async def test_retries_under_faults_and_api_locks(
    sim: SimServers, campaigns_endpoint: Endpoint, list_key: str, unlocked: None
) -> None:
    stats = CallStats()
    async with target(campaigns_endpoint, stats) as client:
        sim.set_faults(VENDOR, rate_429=0.3, retry_after_seconds=0.05, seed=2)
        first = await client.upsert(list_key, people(15, "busy"))
        sim.set_faults(VENDOR, rate_500=0.2, seed=4)
        second = await client.upsert(list_key, people(15, "flaky"))
        sim.set_faults(VENDOR)
        assert stats.rate_limited > 0
        assert stats.by_status_class["5xx"] > 0

        # The documented lock: past the call limit the method answers 2101 + Retry-After.
        with zoho_admin(sim, VENDOR) as admin:
            admin.put(
                "/_admin/zoho_campaigns/rate_limits",
                json={"listsubscribe": [{"calls": 4, "window_seconds": 1, "lock_seconds": 0.2}]},
            ).raise_for_status()
        locked_before = stats.rate_limited
        third = await client.upsert(list_key, people(6, "locked"))
        assert stats.rate_limited > locked_before
        members = await all_members(client, list_key)
    for results in (first, second, third):
        assert {r.outcome for r in results} == {WriteOutcome.CREATED}
    assert len(members) == 36
    assert stats.retries > 0


async def test_bad_credentials_are_an_auth_error_without_secrets(
    campaigns_endpoint: Endpoint,
) -> None:
    secret = "campaigns-secret-never-printed"
    endpoint = Endpoint(
        provider="zoho-campaigns",
        credentials={"clientId": "x", "clientSecret": secret, "refreshToken": "rt-never-printed"},
        api_base_url=campaigns_endpoint.api_base_url,
        accounts_url=campaigns_endpoint.accounts_url,
    )
    async with target(endpoint) as client:
        with pytest.raises(AuthError) as caught:
            await client.verify()
    text = f"{caught.value} {caught.value!r} {endpoint!r} {client!r}"
    assert secret not in text
    assert "rt-never-printed" not in text
