"""Read what the vendors hold, straight from their HTTP APIs (not through crmsync's clients),
so end-to-end assertions compare the operator's claims with an independent view."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from tests.simfixture import SimServers, ZohoSimAuth


def zoho_client(info: dict[str, Any], base_url: str) -> httpx.Client:
    """An httpx client with the tests' own access token from the server's Zoho OAuth."""
    return httpx.Client(base_url=base_url, auth=ZohoSimAuth(info), timeout=30)


class CrmReader:
    def __init__(self, sim: SimServers) -> None:
        info = sim.info["zoho_crm"]
        self.http = zoho_client(info, f"{info['base_url']}/crm/v8")

    def records(self, module: str, fields: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"fields": fields, "per_page": 200}
        while True:
            response = self.http.get(f"/{module}", params=params)
            if response.status_code == 204:
                return out
            body = response.json()
            out += body["data"]
            info = body["info"]
            if not info.get("more_records"):
                return out
            params = {"fields": fields, "per_page": 200, "page_token": info["next_page_token"]}

    def update(self, module: str, record_id: str, values: dict[str, Any]) -> None:
        response = self.http.put(f"/{module}/{record_id}", json={"data": [values]})
        assert response.status_code in (200, 202), response.text

    def create(self, module: str, values: dict[str, Any]) -> str:
        response = self.http.post(f"/{module}", json={"data": [values]})
        assert response.status_code in (200, 201), response.text
        return str(response.json()["data"][0]["details"]["id"])

    def delete(self, module: str, record_id: str) -> None:
        assert self.http.delete(f"/{module}", params={"ids": record_id}).status_code == 200


class MailchimpReader:
    def __init__(self, sim: SimServers) -> None:
        info = sim.info["mailchimp"]
        self.http = httpx.Client(
            base_url=f"{info['base_url']}/3.0", auth=("crmsync-e2e", info["api_key"]), timeout=30
        )

    def new_audience(self, name: str) -> str:
        body = {
            "name": name,
            "permission_reminder": "You signed up in our CRM.",
            "email_type_option": False,
            "contact": {
                "company": "crmsync e2e",
                "address1": "1 Main St",
                "city": "Madrid",
                "state": "M",
                "zip": "28001",
                "country": "ES",
            },
            "campaign_defaults": {
                "from_name": "crmsync",
                "from_email": "e2e@example.com",
                "subject": "News",
                "language": "en",
            },
        }
        response = self.http.post("/lists", json=body)
        assert response.status_code == 200, response.text
        list_id = str(response.json()["id"])
        for tag, name_ in (("FNAME", "First Name"), ("LNAME", "Last Name")):
            self.http.post(
                f"/lists/{list_id}/merge-fields", json={"tag": tag, "name": name_, "type": "text"}
            )
        return list_id

    def members(self, list_id: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            body = self.http.get(
                f"/lists/{list_id}/members", params={"count": 1000, "offset": offset}
            ).json()
            for member in body["members"]:
                out[member["email_address"].lower()] = member
            offset += len(body["members"])
            if not body["members"] or offset >= body["total_items"]:
                return out

    def set_status(self, list_id: str, email: str, status: str) -> None:
        subscriber = hashlib.md5(email.lower().encode()).hexdigest()
        response = self.http.patch(
            f"/lists/{list_id}/members/{subscriber}", json={"status": status}
        )
        assert response.status_code == 200, response.text


def crm_create_many(crm: CrmReader, module: str, rows: list[dict[str, Any]]) -> list[str]:
    """Create records 100 per call (Zoho's insert limit); their ids in order."""
    ids: list[str] = []
    for start in range(0, len(rows), 100):
        response = crm.http.post(f"/{module}", json={"data": rows[start : start + 100]})
        assert response.status_code in (200, 201), response.text
        ids += [str(item["details"]["id"]) for item in response.json()["data"]]
    return ids


def crm_convert_lead(crm: CrmReader, lead_id: str) -> dict[str, Any]:
    response = crm.http.post(f"/Leads/{lead_id}/actions/convert", json={"data": [{}]})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"][0])


def mailchimp_member(mailchimp: MailchimpReader, list_id: str, email: str) -> dict[str, Any] | None:
    """One member by address, archived ones included (the default listing leaves them out)."""
    subscriber = hashlib.md5(email.lower().encode()).hexdigest()
    response = mailchimp.http.get(f"/lists/{list_id}/members/{subscriber}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return dict(response.json())


class CampaignsReader:
    """Zoho Campaigns API v1.1 (and the local server's admin view of one contact)."""

    LIST_STATUSES = ("active", "unsub", "bounce", "spam")

    def __init__(self, sim: SimServers) -> None:
        info = sim.info["zoho_campaigns"]
        self.base_url = str(info["base_url"])
        self.http = zoho_client(info, f"{self.base_url}/api/v1.1")

    def call(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        response = self.http.post(f"/{method}", data={**params, "resfmt": "JSON"})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert str(body.get("code", "0")) in ("0", "200"), body
        return body

    def new_list(self, name: str) -> str:
        body = self.call(
            "addlistandcontacts", {"listname": name, "signupform": "private", "mode": "newlist"}
        )
        return str(body["listkey"])

    def new_topic(self, name: str) -> str:
        details = json.dumps({"topic_name": name, "topic_desc": "crmsync e2e"})
        return str(self.call("topics", {"details": details})["topic_id"])

    def list_statuses(self, listkey: str) -> dict[str, str]:
        """Normalised email → list membership status (active, unsub, bounce, spam)."""
        return {email: row["status"] for email, row in self.list_members(listkey).items()}

    def list_members(self, listkey: str) -> dict[str, dict[str, Any]]:
        """Normalised email → the list's row for it, with its membership ``status``."""
        out: dict[str, dict[str, Any]] = {}
        for status in self.LIST_STATUSES:
            fromindex = 1
            while True:
                rows = (
                    self.call(
                        "getlistsubscribers",
                        {
                            "listkey": listkey,
                            "status": status,
                            "fromindex": str(fromindex),
                            "range": "500",
                        },
                    ).get("list_of_details")
                    or []
                )
                out.update(
                    {str(r["contact_email"]).strip().lower(): {**r, "status": status} for r in rows}
                )
                if len(rows) < 500:
                    break
                fromindex += len(rows)
        return out

    def contact(self, email: str) -> dict[str, Any] | None:
        """The contact in "all contacts": fields, subscription type, consent, lists, topics."""
        response = httpx.get(f"{self.base_url}/_admin/zoho_campaigns/contacts/{email}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return dict(response.json())
