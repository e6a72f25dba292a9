"""The Mailchimp client against the local Mailchimp server, over real HTTP."""

from __future__ import annotations

from collections import Counter

import pytest

from crmsync.engine.records import Member, MemberStatus, MemberWrite, WriteOutcome
from crmsync.providers.factory import Endpoint, open_target
from crmsync.providers.http import AuthError, CallStats, ConfigError
from crmsync.providers.mailchimp import Mailchimp, subscriber_hash
from tests.integration.conftest import FAST_RETRIES, mailchimp_admin, route_calls, unique
from tests.simfixture import SimServers

BATCH_ROUTE = "/3.0/lists/{list_id}"

pytestmark = pytest.mark.usefixtures("no_faults")


def new_audience(sim: SimServers) -> str:
    body = {
        "name": unique("audience"),
        "contact": {"company": "crmsync", "address1": "1 Main St", "city": "Lyon", "country": "FR"},
        "permission_reminder": "You signed up on our site.",
        "email_type_option": False,
        "campaign_defaults": {
            "from_name": "crmsync", "from_email": "news@crmsync.dev",
            "subject": "News", "language": "en",
        },
    }  # fmt: skip
    with mailchimp_admin(sim) as admin:
        response = admin.post("/lists", json=body)
        response.raise_for_status()
        return str(response.json()["id"])


def writes(count: int, prefix: str, **extra: object) -> list[MemberWrite]:
    return [
        MemberWrite(
            email=f"  {prefix}.{i}@Example.com ",
            values={"FNAME": f"First{i}", "LNAME": "Tester"},
            status_if_new=MemberStatus.SUBSCRIBED,
            **extra,  # type: ignore[arg-type]
        )
        for i in range(count)
    ]


def target(endpoint: Endpoint, stats: CallStats) -> Mailchimp:
    client = open_target(endpoint, stats, FAST_RETRIES)
    assert isinstance(client, Mailchimp)
    return client


async def all_members(client: Mailchimp, audience: str) -> dict[str, Member]:
    found: dict[str, Member] = {}
    async for page in client.members(audience):
        found.update({m.email: m for m in page})
    return found


def member_status(sim: SimServers, audience: str, email: str) -> str:
    with mailchimp_admin(sim) as admin:
        return str(
            admin.get(f"/lists/{audience}/members/{subscriber_hash(email)}").json()["status"]
        )


async def test_verify_reports_account_and_audience(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    audience = sim.info["mailchimp"]["list_id"]
    async with target(mailchimp_endpoint, CallStats()) as client:
        facts = await client.verify(audience)
        assert facts["account_id"]
        assert "member_count" in facts["audience"]
        assert {"FNAME", "LNAME"} <= await client.field_names(audience)
        with pytest.raises(ConfigError, match="does not exist"):
            await client.verify("nosuchlist")


async def test_1200_new_members_take_three_batch_calls(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    sim.reset_counters("mailchimp")
    stats = CallStats()
    async with target(mailchimp_endpoint, stats) as client:
        results = await client.upsert(audience, writes(1200, "bulk"))
        assert Counter(r.outcome for r in results) == {WriteOutcome.CREATED: 1200}
        assert results[0].email == "bulk.0@example.com"
        assert route_calls(sim, "mailchimp", "POST", BATCH_ROUTE) == 3
        assert stats.api_calls == 3

        members = await all_members(client, audience)
        assert len(members) == 1200
        assert members["bulk.7@example.com"].values["FNAME"] == "First7"
        assert route_calls(sim, "mailchimp", "GET", "/3.0/lists/{list_id}/members") == 2

        # Steady state: the create-only pass finds them all, the update pass writes them.
        sim.reset_counters("mailchimp")
        again = await client.upsert(audience, writes(1200, "bulk"))
        assert Counter(r.outcome for r in again) == {WriteOutcome.UPDATED: 1200}
        assert route_calls(sim, "mailchimp", "POST", BATCH_ROUTE) == 6


async def test_upsert_never_resubscribes(sim: SimServers, mailchimp_endpoint: Endpoint) -> None:
    audience = new_audience(sim)
    emails = ["gone@example.com", "bounced@example.com", "stays@example.com"]
    async with target(mailchimp_endpoint, CallStats()) as client:
        first = [MemberWrite(e, {"FNAME": "Old"}, MemberStatus.SUBSCRIBED) for e in emails]
        await client.upsert(audience, first)
        with mailchimp_admin(sim) as admin:
            for email, status in (
                ("gone@example.com", "unsubscribed"),
                ("bounced@example.com", "cleaned"),
            ):
                admin.patch(
                    f"/lists/{audience}/members/{subscriber_hash(email)}", json={"status": status}
                ).raise_for_status()

        second = [MemberWrite(e, {"FNAME": "New"}, MemberStatus.SUBSCRIBED) for e in emails]
        results = await client.upsert(audience, second)
        assert {r.outcome for r in results} == {WriteOutcome.UPDATED}

        members = await all_members(client, audience)
        assert members["gone@example.com"].status is MemberStatus.UNSUBSCRIBED
        assert members["bounced@example.com"].status is MemberStatus.CLEANED
        assert members["stays@example.com"].status is MemberStatus.SUBSCRIBED
        assert {m.values["FNAME"] for m in members.values()} == {"New"}

        # An explicit status (the opt-out policy's call) can't revive a cleaned address.
        explicit = MemberWrite(
            "bounced@example.com", {}, MemberStatus.SUBSCRIBED, status=MemberStatus.SUBSCRIBED
        )
        (result,) = await client.upsert(audience, [explicit])
        assert (result.outcome, result.reason) == (WriteOutcome.REJECTED, "compliance_state")
    assert member_status(sim, audience, "bounced@example.com") == "cleaned"


async def test_rejected_members_are_reported_one_by_one(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    batch = [
        *writes(3, "fine"),
        MemberWrite("not-an-email", {}, MemberStatus.SUBSCRIBED),
        MemberWrite("someone@mailinator.com", {}, MemberStatus.SUBSCRIBED),
        MemberWrite("two@@example.com", {}, MemberStatus.SUBSCRIBED),
        MemberWrite("fine.0@example.com", {}, MemberStatus.SUBSCRIBED),  # repeat: first wins
    ]
    async with target(mailchimp_endpoint, CallStats()) as client:
        results = await client.upsert(audience, batch)
    by_email = {r.email: r for r in results}
    assert len(results) == 6
    assert Counter(r.outcome for r in results) == {
        WriteOutcome.CREATED: 3,
        WriteOutcome.REJECTED: 3,
    }
    assert {
        by_email[e].reason for e in ("not-an-email", "someone@mailinator.com", "two@@example.com")
    } == {"invalid_email"}


async def test_set_status_tags_non_marketing_and_remove(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    async with target(mailchimp_endpoint, CallStats()) as client:
        tagged = writes(3, "tagged", tags=frozenset({"crm", "vip"}))
        quiet = MemberWrite("quiet@example.com", {"FNAME": "Q"}, MemberStatus.NON_MARKETING)
        results = await client.upsert(audience, [*tagged, quiet])
        assert all(r.outcome is not WriteOutcome.REJECTED for r in results)
        members = await all_members(client, audience)
        assert members["tagged.1@example.com"].tags == {"crm", "vip"}
        assert members["quiet@example.com"].status is MemberStatus.NON_MARKETING

        (unsub,) = await client.set_status(
            audience, ["Tagged.0@example.com"], MemberStatus.UNSUBSCRIBED
        )
        assert unsub.outcome is WriteOutcome.UPDATED
        assert member_status(sim, audience, "tagged.0@example.com") == "unsubscribed"

        archived, erased, missing = await client.remove(
            audience, ["tagged.1@example.com"], permanent=False
        ) + await client.remove(
            audience, ["tagged.2@example.com", "nobody@example.com"], permanent=True
        )
        assert (archived.outcome, erased.outcome) == (WriteOutcome.REMOVED, WriteOutcome.REMOVED)
        assert missing.outcome is WriteOutcome.UNCHANGED
        assert member_status(sim, audience, "tagged.1@example.com") == "archived"
        assert "tagged.1@example.com" not in await all_members(client, audience)

        (forgotten,) = await client.upsert(audience, writes(3, "tagged")[2:])
        assert (forgotten.outcome, forgotten.reason) == (WriteOutcome.REJECTED, "forgotten_email")


async def test_retries_honour_retry_after_under_429s(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    sim.set_faults("mailchimp", rate_429=0.3, retry_after_seconds=0.05, seed=11)
    stats = CallStats()
    async with target(mailchimp_endpoint, stats) as client:
        results = []
        for chunk in range(20):  # enough calls that the 30 % of 429s surely hit some
            results += await client.upsert(audience, writes(50, f"busy{chunk}"))
        members = await all_members(client, audience)
    sim.set_faults("mailchimp")
    assert Counter(r.outcome for r in results) == {WriteOutcome.CREATED: 1000}
    assert len(members) == 1000
    assert stats.retries > 0
    assert stats.rate_limited > 0
    assert stats.by_status_class["4xx"] == stats.rate_limited


async def test_retries_server_errors(sim: SimServers, mailchimp_endpoint: Endpoint) -> None:
    audience = new_audience(sim)
    sim.set_faults("mailchimp", rate_500=0.2, seed=5)
    stats = CallStats()
    async with target(mailchimp_endpoint, stats) as client:
        for chunk in range(20):
            await client.upsert(audience, writes(10, f"flaky{chunk}"))
        members = await all_members(client, audience)
    sim.set_faults("mailchimp")
    assert len(members) == 200
    assert stats.by_status_class["5xx"] > 0
    assert stats.retries == stats.by_status_class["5xx"]


async def test_bad_api_key_is_an_auth_error_without_the_key(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    wrong_key = "0123456789abcdef0123456789abcdef-us1"
    endpoint = Endpoint(
        provider="mailchimp",
        credentials={"apiKey": wrong_key},
        api_base_url=sim.base_url("mailchimp"),
    )
    assert wrong_key not in repr(endpoint)
    async with target(endpoint, CallStats()) as client:
        with pytest.raises(AuthError) as caught:
            await client.verify()
    assert wrong_key not in str(caught.value)
    assert wrong_key not in repr(caught.value)
    assert wrong_key not in repr(client)


async def test_tags_past_the_first_page_are_found_not_created_again(
    sim: SimServers, mailchimp_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audience holding more tags than a page: a sync's claim tag on a later page is
    found (and its deletion finds it too), never created a second time."""
    monkeypatch.setattr("crmsync.providers.mailchimp.PAGE_SIZE", 2)
    audience = new_audience(sim)
    with mailchimp_admin(sim) as admin:
        for n in range(5):
            admin.post(
                f"/lists/{audience}/segments", json={"name": f"tag-{n}", "static_segment": []}
            ).raise_for_status()

    def segments_named(name: str) -> int:
        with mailchimp_admin(sim) as admin:
            body = admin.get(f"/lists/{audience}/segments", params={"count": 1000}).json()
        return sum(1 for s in body["segments"] if s["name"] == name)

    async with target(mailchimp_endpoint, CallStats()) as client:
        results = await client.upsert(audience, writes(2, "paged", tags=frozenset({"tag-4"})))
        assert all(r.outcome is WriteOutcome.CREATED for r in results)
        assert segments_named("tag-4") == 1
        assert (await all_members(client, audience))["paged.0@example.com"].tags == {"tag-4"}
        await client.drop_owner(audience, "tag-4")
        assert segments_named("tag-4") == 0
        assert segments_named("tag-3") == 1
