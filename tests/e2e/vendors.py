"""Read what the vendors hold, straight from their HTTP APIs (not through crmsync's clients),
so end-to-end assertions compare the operator's claims with an independent view."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.simfixture import SimServers


class CrmReader:
    def __init__(self, sim: SimServers) -> None:
        info = sim.info["zoho_crm"]
        token = httpx.post(
            f"{info['accounts_url']}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "refresh_token": info["refresh_token"],
            },
        ).json()["access_token"]
        self.http = httpx.Client(
            base_url=f"{info['base_url']}/crm/v8",
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
            timeout=30,
        )

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
