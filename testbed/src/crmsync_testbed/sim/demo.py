"""What ``hack/demo.sh`` (and its end-to-end test) sets up besides the servers.

``crmsync sim demo-secrets``: the Secrets the examples name, with the local servers'
credentials. ``crmsync sim demo-mail``: something for the demo's mailbox to capture. The
demo's MailboxSync reads a mailbox on the local Dovecot (``crmsync sim imap``) and
writes what it finds onto the local Zoho CRM's records, as a CRM user. This makes that
user (``POST /_admin/zoho_crm/users``, idempotent by email) and appends a few messages
over IMAP: from three CRM contacts into INBOX, replies to them and an offer to a CRM lead
into Sent, and one newsletter from an address no CRM record has (counted ``unmatched``).
Each call delivers new messages (fresh Message-IDs), so a re-run of the demo captures
them again onto the same records.
"""

from __future__ import annotations

import imaplib
import json
import re
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from crmsync_testbed.sim.imap import make_message

_PLAIN_EMAIL = re.compile(r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")


@dataclass(frozen=True)
class Person:
    module: str
    record_id: str
    name: str
    email: str


def _token(crm: dict[str, Any]) -> str:
    response = httpx.post(
        f"{crm.get('accounts_url', crm['base_url'])}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": crm["client_id"],
            "client_secret": crm["client_secret"],
            "refresh_token": crm["refresh_token"],
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def ensure_user(http: httpx.Client, base_url: str, email: str, first: str, last: str) -> str:
    """The active CRM user with this email (made, or re-activated); returns its id."""
    body: dict[str, Any] = {
        "email": email,
        "first_name": first,
        "last_name": last,
        "status": "active",
    }
    listed = http.get("/users", params={"type": "AllUsers"})
    listed.raise_for_status()
    users = listed.json()["users"] if listed.status_code == 200 else []
    for user in users:
        if str(user.get("email", "")).lower() == email.lower():
            body["id"] = user["id"]
    saved = httpx.post(f"{base_url}/_admin/zoho_crm/users", json=body, timeout=30)
    saved.raise_for_status()
    return str(saved.json()["users"][0]["id"])


def pick_people(http: httpx.Client, module: str, count: int) -> list[Person]:
    """The first ``count`` records of ``module`` with a plain, opted-in email."""
    response = http.get(
        f"/{module}",
        params={"fields": "First_Name,Last_Name,Email,Email_Opt_Out", "per_page": 50},
    )
    response.raise_for_status()
    found: list[Person] = []
    seen: set[str] = set()
    for record in response.json().get("data", []) if response.status_code == 200 else []:
        email = str(record.get("Email") or "")
        if record.get("Email_Opt_Out") or not _PLAIN_EMAIL.match(email) or email in seen:
            continue
        seen.add(email)
        name = f"{record.get('First_Name') or ''} {record.get('Last_Name') or ''}".strip()
        found.append(Person(module, str(record["id"]), name or email, email))
        if len(found) == count:
            break
    return found


def demo_messages(
    owner: str, owner_name: str, contacts: list[Person], leads: list[Person]
) -> list[tuple[str, EmailMessage]]:
    """(folder, message) pairs: the conversation the demo's mailbox holds."""
    me = f"{owner_name} <{owner}>"
    out: list[tuple[str, EmailMessage]] = []
    for person in contacts:
        first = person.name.split()[0]
        question = make_message(
            sender=f"{person.name} <{person.email}>",
            to=[me],
            subject="Question about our order",
            body=f"Hi {owner_name.split(maxsplit=1)[0]},\n\ncould you confirm the delivery date?\n\n{first}",
        )
        out.append(("INBOX", question))
        out.append(
            (
                "Sent",
                make_message(
                    sender=me,
                    to=[f"{person.name} <{person.email}>"],
                    subject="Re: Question about our order",
                    body=f"Hi {first},\n\nit ships on Monday.\n\n{owner_name}",
                    in_reply_to=str(question["Message-ID"]),
                    references=[str(question["Message-ID"])],
                ),
            )
        )
    for person in leads:
        out.append(
            (
                "Sent",
                make_message(
                    sender=me,
                    to=[f"{person.name} <{person.email}>"],
                    subject="Our offer",
                    body=f"Hello {person.name},\n\nas promised, our offer is attached.\n\n{owner_name}",
                ),
            )
        )
    out.append(
        (
            "INBOX",
            make_message(
                sender="Industry Weekly <news@industry-weekly.example>",
                to=[me],
                subject="This week in the industry",
                body="Nobody in the CRM sent this: it stays out of the CRM.",
            ),
        )
    )
    return out


def deliver(
    host: str, port: int, user: str, password: str, messages: list[tuple[str, EmailMessage]]
) -> None:
    client = imaplib.IMAP4(host, port, timeout=30)
    try:
        client.login(user, password)
        for folder, message in messages:
            typ, data = client.append(
                folder, "", imaplib.Time2Internaldate(time.time()), message.as_bytes()
            )
            if typ != "OK":
                raise RuntimeError(f"IMAP APPEND to {folder} failed: {data!r}")
    finally:
        client.logout()


def prepare(
    crm: dict[str, Any],
    *,
    imap_host: str,
    imap_port: int,
    user: str,
    password: str,
    owner: str = "",
    owner_name: str = "Ana Garcia",
) -> dict[str, Any]:
    """Make ``owner`` (default: the mailbox user) a CRM user and deliver the demo mail."""
    owner = owner or user
    first, _, last = owner_name.partition(" ")
    base_url = str(crm["base_url"])
    with httpx.Client(
        base_url=f"{base_url}/crm/v8",
        headers={"Authorization": f"Zoho-oauthtoken {_token(crm)}"},
        timeout=30,
    ) as http:
        user_id = ensure_user(http, base_url, owner, first, last or "User")
        contacts = pick_people(http, "Contacts", 3)
        leads = pick_people(http, "Leads", 1)
    if not contacts:
        raise RuntimeError("the CRM has no contact with a plain email: seed it first")
    messages = demo_messages(owner, owner_name, contacts, leads)
    deliver(imap_host, imap_port, user, password, messages)
    return {
        "owner": {"email": owner, "id": user_id},
        "correspondents": [p.__dict__ for p in contacts + leads],
        "delivered": len(messages),
        "matching_crm_records": len(messages) - 1,
    }


SECRETS = {
    "zoho-crm-credentials": "zoho_crm",
    "zoho-campaigns-credentials": "zoho_campaigns",
    "mailchimp-credentials": "mailchimp",
}
"""The Secrets ``examples/10-connections.yaml`` names, by the vendor whose keys they hold."""
MAILBOX_SECRET = "mailbox-ana-credentials"


def secrets(
    info: dict[str, Any], namespace: str, mailbox_user: str, mailbox_password: str
) -> dict[str, Any]:
    """A ``v1 List`` of the examples' Secrets for servers described by ``info`` (the line
    ``crmsync sim serve`` prints) and the mailbox's IMAP login."""
    data: dict[str, dict[str, str]] = {}
    for name, vendor in SECRETS.items():
        keys = info[vendor]
        if vendor == "mailchimp":
            data[name] = {"apiKey": keys["api_key"]}
        else:
            data[name] = {
                "clientId": keys["client_id"],
                "clientSecret": keys["client_secret"],
                "refreshToken": keys["refresh_token"],
            }
    data[MAILBOX_SECRET] = {"username": mailbox_user, "password": mailbox_password}
    items = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": values,
        }
        for name, values in data.items()
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def main_demo_secrets(sim_info: Path, namespace: str, user: str, password: str) -> int:
    json.dump(secrets(json.loads(sim_info.read_text()), namespace, user, password), sys.stdout)
    sys.stdout.write("\n")
    return 0


def main_demo_mail(
    sim_info: Path, imap_host: str, imap_port: int, user: str, password: str, owner: str
) -> int:
    crm = json.loads(sim_info.read_text())["zoho_crm"]
    summary = prepare(
        crm, imap_host=imap_host, imap_port=imap_port, user=user, password=password, owner=owner
    )
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0
