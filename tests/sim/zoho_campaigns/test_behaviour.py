"""Behaviour the product relies on: identity, subscription type, opt-outs, limits, topics,
campaign activity, persistence."""

from __future__ import annotations

import json
from typing import Any

from tests.sim.zoho_campaigns.conftest import CampaignsClient


def subscribe(client: CampaignsClient, email: str, **params: Any) -> dict[str, Any]:
    info = {"Contact Email": email, **params.pop("info", {})}
    params.setdefault("listkey", client.credentials["list_key"])
    return client.post("json/listsubscribe", contactinfo=json.dumps(info), **params)


def contact(client: CampaignsClient, email: str) -> dict[str, Any]:
    response = client.admin("GET", f"/zoho_campaigns/contacts/{email}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def active_emails(client: CampaignsClient, listkey: str, status: str = "active") -> list[str]:
    emails: list[str] = []
    fromindex = 1
    while True:
        page = client.get(
            "getlistsubscribers", listkey=listkey, status=status, fromindex=fromindex, range=7
        )
        emails += [row["contact_email"] for row in page["list_of_details"]]
        if len(page["list_of_details"]) < 7:
            return emails
        fromindex += 7


def test_listsubscribe_upserts_by_normalised_email(client: CampaignsClient) -> None:
    assert subscribe(client, "Ana.Garcia@Example.com", info={"First Name": "Ana"})["code"] == "0"
    again = subscribe(client, "  ana.garcia@example.COM ", info={"Last Name": "García"})
    assert again["code"] == "0"
    stored = contact(client, "ana.garcia@example.com")
    assert stored["fields"] == {"firstname": "Ana", "lastname": "García"}
    assert active_emails(client, client.credentials["list_key"]) == ["Ana.Garcia@Example.com"]


def test_subscription_type_is_set_for_new_contacts_only(client: CampaignsClient) -> None:
    subscribe(client, "nm@example.com", subscription_type="non-marketing", legal_basis="Contract")
    subscribe(client, "nm@example.com", subscription_type="marketing", consent_status="Consented")
    stored = contact(client, "nm@example.com")
    assert stored["subscription_type"] == "non-marketing"
    assert stored["legal_basis"] == "Contract"
    assert stored["consent_status"] == "Consented"


def test_unsubscribed_contact_is_not_resubscribed(client: CampaignsClient) -> None:
    listkey = client.credentials["list_key"]
    subscribe(client, "gone@example.com", info={"First Name": "Old"})
    unsub = client.post(
        "json/listunsubscribe", listkey=listkey, contactinfo="{Contact Email:gone@example.com}"
    )
    assert unsub["message"] == "User successfully unsubscribed."
    again = subscribe(client, "gone@example.com", info={"First Name": "New"})
    assert again["code"] == "0"
    assert again["contact_status"] == "unsub"
    bulk = client.post("addlistsubscribersinbulk", listkey=listkey, emailids="gone@example.com")
    assert bulk["code"] == "0"
    assert "gone@example.com" not in active_emails(client, listkey)
    assert active_emails(client, listkey, "unsub") == ["gone@example.com"]
    assert contact(client, "gone@example.com")["fields"]["firstname"] == "New"


def test_do_not_mail_contacts_are_not_added_to_lists(client: CampaignsClient) -> None:
    client.post("json/contactdonotmail", contactinfo="{Contact Email:dnm@example.com}")
    again = client.post("json/contactdonotmail", contactinfo="{Contact Email:dnm@example.com}")
    assert again["message"] == "User already in Do-Not-Mail."
    assert subscribe(client, "dnm@example.com")["contact_status"] == "donotmail"
    assert contact(client, "dnm@example.com")["lists"] == {}


def test_bulk_add_takes_at_most_ten_emails(client: CampaignsClient) -> None:
    listkey = client.credentials["list_key"]
    eleven = ",".join(f"b{n}@example.com" for n in range(11))
    assert (
        client.post("addlistsubscribersinbulk", listkey=listkey, emailids=eleven)["code"] == "2306"
    )
    ten = ",".join(f"b{n}@example.com" for n in range(10))
    assert client.post("addlistsubscribersinbulk", listkey=listkey, emailids=ten)["code"] == "0"
    assert len(active_emails(client, listkey)) == 10
    count = client.get("listsubscriberscount", listkey=listkey, status="active")
    assert count["no_of_contacts"] == "10"


def test_plan_contact_limit_counts_marketing_contacts(client: CampaignsClient) -> None:
    plan = client.admin("PUT", "/zoho_campaigns/plan", {"contact_limit": 2}).json()
    assert plan == {"contact_limit": 2, "marketing_contacts": 0}
    listkey = client.credentials["list_key"]
    assert (
        client.post(
            "addlistsubscribersinbulk", listkey=listkey, emailids="l1@example.com,l2@example.com"
        )["code"]
        == "0"
    )
    assert subscribe(client, "l3@example.com")["code"] == "2302"
    assert subscribe(client, "l3@example.com", subscription_type="non-marketing")["code"] == "0"
    assert subscribe(client, "l1@example.com", info={"First Name": "Existing"})["code"] == "0"
    assert client.admin("GET", "/zoho_campaigns/plan").json()["marketing_contacts"] == 2


def test_method_lockout_after_its_call_limit(client: CampaignsClient) -> None:
    limits = {"addlistsubscribersinbulk": [{"calls": 3, "window_seconds": 60, "lock_seconds": 600}]}
    assert client.admin("PUT", "/zoho_campaigns/rate_limits", limits).status_code == 200
    listkey = client.credentials["list_key"]
    codes = [
        client.post("addlistsubscribersinbulk", listkey=listkey, emailids=f"r{n}@example.com")[
            "code"
        ]
        for n in range(3)
    ]
    assert codes == ["0", "0", "0"]
    locked = client.raw(
        "POST", "addlistsubscribersinbulk", listkey=listkey, emailids="r9@example.com"
    )
    assert locked.status_code == 200
    assert locked.json()["code"] == "2101"
    assert int(locked.headers["Retry-After"]) > 590
    assert subscribe(client, "other-method@example.com")["code"] == "0"
    client.admin("DELETE", "/zoho_campaigns/rate_limits")
    assert (
        client.post("addlistsubscribersinbulk", listkey=listkey, emailids="r9@example.com")["code"]
        == "0"
    )


def test_topics_follow_subscribe_and_unsubscribe(client: CampaignsClient) -> None:
    creds = client.credentials
    created = client.post("topics", details='{"topic_name":"Events","topic_desc":"Invitations"}')
    events = created["topic_id"]
    subscribe(client, "t@example.com", topic_id=f"{creds['topic_id']},{events}")
    assert contact(client, "t@example.com")["topics"] == {
        creds["topic_id"]: "active",
        events: "active",
    }
    client.post(
        "json/listunsubscribe",
        listkey=creds["list_key"],
        contactinfo="{Contact Email:t@example.com}",
        topic_id=events,
    )
    stored = contact(client, "t@example.com")
    assert stored["topics"][events] == "unsub"
    assert stored["lists"][creds["list_key"]] == "active"
    names = [t["topicName"] for t in client.get("topics")["topicDetails"]]
    assert names == ["Newsletter", "Events"]


def test_contacts_stay_in_all_contacts_when_removed_from_a_list(client: CampaignsClient) -> None:
    listkey = client.credentials["list_key"]
    subscribe(client, "stay@example.com")
    assert (
        client.admin(
            "DELETE", f"/zoho_campaigns/lists/{listkey}/contacts/stay@example.com"
        ).status_code
        == 200
    )
    assert contact(client, "stay@example.com")["lists"] == {}
    assert client.admin("DELETE", "/zoho_campaigns/contacts/stay@example.com").status_code == 200
    assert client.admin("GET", "/zoho_campaigns/contacts/stay@example.com").status_code == 404


def test_delete_mailing_list_keeps_or_deletes_contacts(client: CampaignsClient) -> None:
    keep = client.post(
        "addlistandcontacts",
        listname="Keep",
        signupform="private",
        mode="newlist",
        emailids="k@example.com",
    )
    drop = client.post(
        "addlistandcontacts",
        listname="Drop",
        signupform="private",
        mode="newlist",
        emailids="d@example.com",
    )
    client.get("deletemailinglist", listkey=keep["listkey"], deletecontacts="off")
    client.get("deletemailinglist", listkey=drop["listkey"], deletecontacts="on")
    assert contact(client, "k@example.com")["lists"] == {}
    assert client.admin("GET", "/zoho_campaigns/contacts/d@example.com").status_code == 404
    names = [row["listname"] for row in client.get("getmailinglists")["list_of_details"]]
    assert names == ["crmsync demo"]


def test_public_list_needs_confirmation(client: CampaignsClient) -> None:
    public = client.post(
        "addlistandcontacts", listname="Signup", signupform="public", mode="newlist"
    )
    answer = subscribe(client, "double@example.com", listkey=public["listkey"])
    assert answer["message"].startswith("A confirmation email is sent")
    assert active_emails(client, public["listkey"]) == []


def test_campaign_lifecycle_reports_and_recipient_activity(client: CampaignsClient) -> None:
    listkey = client.credentials["list_key"]
    for batch in range(20):
        emails = ",".join(f"c{batch}-{n}@example.com" for n in range(10))
        client.post("addlistsubscribersinbulk", listkey=listkey, emailids=emails)
    subscribe(client, "nonmkt@example.com", subscription_type="non-marketing")
    key = client.post(
        "createCampaign", campaignname="Launch", from_email="hi@crmsync.example", subject="Launch",
        list_details=json.dumps({listkey: []}),
    )["campaignKey"]  # fmt: skip
    assert (
        client.admin(
            "PUT", f"/zoho_campaigns/campaigns/{key}/status", {"status": "tobereviewed"}
        ).status_code
        == 200
    )
    statuses = {
        c["campaign_key"]: c["campaign_status"]
        for c in client.get("recentcampaigns")["recent_campaigns"]
    }
    assert statuses[key] == "To be reviewed"
    assert client.get("campaignreports", campaignkey=key)["code"] == "6002"
    assert (
        client.post("sendcampaign", campaignkey=key)["response"]["campaign_status"] == "inprogress"
    )
    assert client.post("sendcampaign", campaignkey=key)["code"] == "6600"
    rates = {"seed": 7, "hard_bounce_rate": 0.05, "soft_bounce_rate": 0.05, "open_rate": 0.5,
             "click_rate": 0.5, "unsubscribe_rate": 0.05, "complaint_rate": 0.02}  # fmt: skip
    assert (
        client.admin("POST", f"/zoho_campaigns/campaigns/{key}/simulate", rates).status_code == 200
    )
    report = client.get("campaignreports", campaignkey=key)["campaign-reports"][0]
    assert report["emails_sent_count"] == "200"
    hard, unsub = int(report["hardbounce_count"]), int(report["unsub_count"])
    assert 0 < hard < 30 and 0 < unsub < 30
    assert 0 < int(report["unique_clicks_count"]) <= int(report["opens_count"])

    def recipients(action: str) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        while True:
            page = client.post("getcampaignrecipientsdata", campaignkey=key, action=action,
                               fromindex=len(rows) + 1, range=50)["list_of_details"]  # fmt: skip
            rows += page
            if len(page) < 50:
                return rows

    assert len(recipients("sentcontacts")) == 200
    assert len(recipients("senthardbounce")) == hard
    opted_out = recipients("optoutcontacts")
    assert len(opted_out) == unsub and all(r["contactstatus"] == "unsub" for r in opted_out)
    assert len(recipients("sentleads")) == 200
    assert set(active_emails(client, listkey, "bounce")) == {
        r["contactemailaddress"] for r in recipients("senthardbounce")
    }
    assert {r["contactemailaddress"] for r in opted_out} <= set(
        active_emails(client, listkey, "unsub")
    )
    assert "nonmkt@example.com" not in {
        r["contactemailaddress"] for r in recipients("sentcontacts")
    }
    sent = client.get("recentsentcampaigns", limit=5)["recent_sent_campaigns"]
    assert [c["campaign_key"] for c in sent] == [key]
