"""``crmsync send-mail``: email a CRM record from a MailboxSync's mailbox (G4).

The mail goes out over the mailbox's SMTP server and a copy lands in its Sent folder; the
MailboxSync then captures it onto the record from there, once (the only writer of capture
Notes is the capture loop, so there is nothing to deduplicate against a second writer).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.mailboxsync import MailboxSync
from crmsync.engine.records import normalise_email
from crmsync.planning import _kube
from crmsync.providers.factory import open_crm
from crmsync.providers.http import CallStats
from crmsync.providers.smtp import Outgoing, build_message, send_and_file
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.mailbox import mailbox_connection
from crmsync.reconcile.resolve import ready_connection


async def record_email(crm: ZohoCrm, module: str, record_id: str) -> str:
    """The record's email; a deal's is its primary contact's (G1)."""
    if module == "Deals":
        deals = await crm.records_by_id("Deals", [record_id], ["Contact_Name"])
        contact = deals[0].values.get("Contact_Name") if deals else None
        if not isinstance(contact, dict) or not contact.get("id"):
            raise SystemExit(f"Deals/{record_id} has no primary contact")
        module, record_id = "Contacts", str(contact["id"])
    found = await crm.records_by_id(module, [record_id], ["Email"])
    email = normalise_email(found[0].values.get("Email")) if found else ""
    if not email:
        raise SystemExit(f"{module}/{record_id} has no email address")
    return email


async def send_mail(
    name: str, namespace: str, record: str, subject: str, body: str, cc: list[str]
) -> dict[str, Any]:
    module, _, record_id = record.partition("/")
    if module not in ("Leads", "Contacts", "Deals") or not record_id:
        raise SystemExit("--to-record takes Leads/<id>, Contacts/<id> or Deals/<id>")
    kube = _kube()
    try:
        sync = MailboxSync.model_validate(await kube.get_custom("mailboxsyncs", namespace, name))
        account = await mailbox_connection(kube, namespace, sync.spec.mailbox_ref.name)
        crm_conn = await ready_connection(
            kube, namespace, sync.spec.crm.name, (Provider.ZOHO_CRM,), "CRM"
        )
        async with open_crm(crm_conn.endpoint, CallStats()) as crm:
            to = await record_email(crm, module, record_id)
    finally:
        await kube.aclose()
    sender = account.username if "@" in account.username else sync.spec.owner
    message = build_message(
        Outgoing(sender=sender, to=(to,), subject=subject, body=body, cc=tuple(cc)),
        domain=sender.rpartition("@")[2] or account.host,
    )
    folder = await asyncio.to_thread(send_and_file, account, message)
    return {"messageId": str(message["Message-ID"]), "to": to, "sentFolder": folder}


def main_send_mail(
    name: str, namespace: str, record: str, subject: str, body: str, cc: list[str]
) -> int:
    result = asyncio.run(send_mail(name, namespace, record, subject, body, cc))
    print(json.dumps(result))
    return 0
