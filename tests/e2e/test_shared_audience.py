"""Several ContactSyncs on one audience or list (issue 14, point 1): a sync only removes
members no other sync claims; deleting one sync leaves the others' members alone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import Syncs, create_people, marked, unique
from tests.e2e.test_contactsync_options import mailchimp_spec, wait_statuses
from tests.e2e.test_contactsync_zoho_campaigns import campaigns_spec, wait_list_statuses
from tests.e2e.vendors import (
    CampaignsReader,
    CrmReader,
    MailchimpReader,
    crm_create_many,
    mailchimp_member,
)

pytestmark = pytest.mark.e2e

TRADE_SHOW = {"field": "Lead_Source", "operator": "equals", "values": ["Trade Show"]}
TRADE_SHOW_OR_CHAT = {"field": "Lead_Source", "operator": "in", "values": ["Trade Show", "Chat"]}


@pytest.fixture
def crm(stack: Stack) -> CrmReader:
    return CrmReader(stack.sim)


def claims(mailchimp: MailchimpReader, list_id: str, email: str) -> set[str]:
    member = mailchimp_member(mailchimp, list_id, email) or {}
    return {str(t["name"]) for t in member.get("tags") or [] if t["name"].startswith("crmsync:")}


def wait_claims(mailchimp: MailchimpReader, list_id: str, email: str, wanted: set[str]) -> None:
    wait_for(
        lambda: claims(mailchimp, list_id, email) == wanted or None,
        timeout=60,
        what=f"{email} claimed by {wanted} (now {claims(mailchimp, list_id, email)})",
    )


def test_mailchimp_syncs_sharing_an_audience_keep_each_others_members(
    stack: Stack, syncs: Syncs, crm: CrmReader
) -> None:
    mailchimp = MailchimpReader(stack.sim)
    marker = unique("shared")
    list_id = mailchimp.new_audience(marker)
    everyone, trade_show = f"{marker}-all", f"{marker}-ts"
    leads = f"{marker}-leads"
    claim = {name: f"crmsync:{stack.namespace}/{name}" for name in (everyone, trade_show, leads)}
    show, chat, web = create_people(
        crm, "Contacts", marker, 3,
        lambda i: {"Lead_Source": ("Trade Show", "Chat", "Web Download")[i]},
    )  # fmt: skip
    # The Trade Show contact is also a lead (another module, same person).
    crm_create_many(
        crm, "Leads", [{"Last_Name": "Lead", "Email": show.email, "Description": marker}]
    )

    syncs.apply(everyone, mailchimp_spec(list_id, criteria=[*marked(marker), TRADE_SHOW_OR_CHAT]))
    wait_statuses(
        mailchimp,
        list_id,
        {show.email: "subscribed", chat.email: "subscribed", web.email: "absent"},
    )
    # The narrower sync reads the Chat contact too (outside its criteria): before claims it
    # archived the other sync's member as "left the criteria".
    syncs.apply(trade_show, mailchimp_spec(list_id, criteria=[*marked(marker), TRADE_SHOW]))
    syncs.wait_run(trade_show)
    syncs.apply(leads, mailchimp_spec(list_id, module="Leads", criteria=marked(marker)))
    syncs.wait_run(leads)
    wait_claims(mailchimp, list_id, show.email, set(claim.values()))
    wait_claims(mailchimp, list_id, chat.email, {claim[everyone]})
    assert mailchimp_member(mailchimp, list_id, chat.email)["status"] == "subscribed"
    assert syncs.get(trade_show)["status"]["counts"]["deleted"] == 0

    # Both contact syncs stop wanting the Trade Show contact; the lead sync still wants it.
    crm.update("Contacts", show.id, {"Lead_Source": "Web Download"})
    wait_claims(mailchimp, list_id, show.email, {claim[leads]})
    assert mailchimp_member(mailchimp, list_id, show.email)["status"] == "subscribed"
    released = sum(
        syncs.get(n)["status"]["counts"].get("released", 0) for n in (everyone, trade_show)
    )
    assert released == 2

    # Deleting a sync drops its claims and removes nothing.
    syncs.delete(leads)
    wait_claims(mailchimp, list_id, show.email, set())
    assert mailchimp_member(mailchimp, list_id, show.email)["status"] == "subscribed"

    # A member only one sync claims still leaves when that sync stops wanting it.
    crm.update("Contacts", chat.id, {"Lead_Source": "Web Download"})
    wait_statuses(mailchimp, list_id, {chat.email: "archived"})


def test_zoho_campaigns_syncs_sharing_a_list_keep_each_others_contacts(
    stack: Stack, syncs: Syncs, crm: CrmReader
) -> None:
    campaigns = CampaignsReader(stack.sim)
    marker = unique("zc-shared")
    listkey = campaigns.new_list(marker)
    show, chat = create_people(
        crm, "Contacts", marker, 2, lambda i: {"Lead_Source": ("Trade Show", "Chat")[i]}
    )
    wide, narrow = f"{marker}-all", f"{marker}-ts"

    def spec(criterion: dict[str, Any]) -> dict[str, Any]:
        body = campaigns_spec(listkey, marker)
        body["crm"]["criteria"].append(criterion)
        return body

    syncs.apply(wide, spec(TRADE_SHOW_OR_CHAT))
    wait_list_statuses(campaigns, listkey, {show.email: "active", chat.email: "active"})
    syncs.apply(narrow, spec(TRADE_SHOW))
    syncs.wait_run(narrow)
    syncs.wait_run(narrow, after=syncs.sync_now(narrow))
    assert campaigns.list_statuses(listkey)[chat.email] == "active"
    assert syncs.get(narrow)["status"]["counts"]["deleted"] == 0

    # Wanted by both, then by neither: the first to notice releases, the last removes.
    crm.update("Contacts", show.id, {"Lead_Source": "Web Download"})
    wait_list_statuses(campaigns, listkey, {show.email: "unsub", chat.email: "active"})
    counts = [syncs.get(n)["status"]["counts"] for n in (wide, narrow)]
    assert sorted((c.get("released", 0), c["deleted"]) for c in counts) == [(0, 1), (1, 0)]
