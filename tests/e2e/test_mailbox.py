"""Mailbox capture end to end (issue 8, G1–G7): the operator on the real control plane,
Dovecot as the mailbox, the local Zoho CRM as the CRM, aiosmtpd as the SMTP server."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, condition, wait_for
from tests.e2e.mailserver import Dovecot, SmtpSink, make_message
from tests.e2e.vendors import CrmReader

pytestmark = pytest.mark.e2e


@dataclass
class Crm:
    reader: CrmReader
    base_url: str

    def user(self, email: str, status: str = "active") -> str:
        existing = self.reader.http.get("/users", params={"type": "AllUsers"}).json()["users"]
        body: dict[str, Any] = {
            "email": email,
            "first_name": email.split("@", maxsplit=1)[0],
            "last_name": "Test",
            "status": status,
        }
        for u in existing:
            if u["email"] == email:
                body["id"] = u["id"]
        response = httpx.post(f"{self.base_url}/_admin/zoho_crm/users", json=body)
        response.raise_for_status()
        return str(response.json()["users"][0]["id"])

    def as_user(self, user_id: str) -> httpx.Client:
        token = httpx.post(f"{self.base_url}/_admin/zoho_crm/users/{user_id}/token").json()[
            "access_token"
        ]
        return httpx.Client(
            base_url=f"{self.base_url}/crm/v8",
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
            timeout=30,
        )

    def notes(
        self, module: str, record_id: str, client: httpx.Client | None = None
    ) -> list[dict[str, Any]]:
        http = client or self.reader.http
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            response = http.get(
                f"/{module}/{record_id}/Notes", params={"per_page": 200, "page": page}
            )
            if response.status_code == 204:
                return out
            body = response.json()
            out += body["data"]
            if not body["info"]["more_records"]:
                return out
            page += 1

    def newest_note(self, module: str, record_id: str) -> dict[str, Any] | None:
        response = self.reader.http.get(f"/{module}/{record_id}/Notes", params={"per_page": 1})
        return None if response.status_code == 204 else dict(response.json()["data"][0])


@dataclass
class Mailboxes:
    stack: Stack
    dovecot: Dovecot
    crm: Crm

    def mailbox(
        self,
        name: str,
        user: str,
        password: str = "secret-1",
        *,
        visibility: str = "Private",
        folders: tuple[str, ...] = ("INBOX", "Sent"),
        poll: str = "30s",
        smtp_port: int = 0,
        owner: str | None = None,
    ) -> None:
        """A Dovecot user, its CRM user, a Secret, an imap Connection and a MailboxSync."""
        self.dovecot.add_user(user, password)
        self.crm.user(owner or user)
        self.secret(name, user, password)
        smtp = f", smtpHost: 127.0.0.1, smtpPort: {smtp_port}" if smtp_port else ""
        self.stack.apply(f"""
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: {name}}}
spec: {{provider: imap, credentialsSecretRef: {{name: {name}}}, imap: {{host: 127.0.0.1, port: {self.dovecot.port}, tls: false{smtp}}}}}
---
apiVersion: crmsync.dev/v1alpha1
kind: MailboxSync
metadata: {{name: {name}}}
spec:
  mailboxRef: {{name: {name}}}
  crm: {{name: crm}}
  owner: {owner or user}
  visibility: {visibility}
  folders: [{", ".join(f'"{f}"' for f in folders)}]
  pollInterval: {poll}
""")

    def secret(self, name: str, user: str, password: str) -> None:
        data = {
            k: base64.b64encode(v.encode()).decode()
            for k, v in (("username", user), ("password", password))
        }
        self.stack.apply(f"""
apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
data: {{username: {data["username"]}, password: {data["password"]}}}
""")

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.stack.get("mailboxsync", name).get("status") or {})

    def counts(self, name: str) -> dict[str, int]:
        return dict(self.status(name).get("counts") or {})

    def wait_counts(self, name: str, timeout: float = 60, **wanted: int) -> dict[str, int]:
        def check() -> dict[str, int] | None:
            counts = self.counts(name)
            return counts if all(counts.get(k, 0) >= v for k, v in wanted.items()) else None

        return wait_for(check, timeout=timeout, what=f"{name} counts {wanted}", interval=0.2)

    def wait_ready(
        self, name: str, value: str = "True", reason: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            body = self.stack.get("mailboxsync", name)
            for c in (body.get("status") or {}).get("conditions") or []:
                if (
                    c["type"] == "Ready"
                    and c["status"] == value
                    and (reason is None or c["reason"] == reason)
                ):
                    return body
            return None

        return wait_for(check, timeout=timeout, what=f"{name} Ready={value} {reason or ''}")


@pytest.fixture(scope="module")
def mail(stack: Stack, dovecot: Dovecot) -> Iterator[Mailboxes]:
    info = stack.sim.info["zoho_crm"]
    yield Mailboxes(stack, dovecot, Crm(CrmReader(stack.sim), str(info["base_url"])))
    stack.kube.kubectl("delete", "mailboxsync", "--all", "-n", stack.namespace, "--wait=false")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def contact(crm: Crm, email: str, last: str = "Mail") -> str:
    return crm.reader.create("Contacts", {"Last_Name": last, "Email": email})


# --- G1 + scale + IDLE ------------------------------------------------------------------


def test_captures_10000_messages_then_a_new_one_within_5s_with_idle(mail: Mailboxes) -> None:
    tag = unique("bulk")
    user = f"{tag}@mailbox.test"
    customer, lead_addr, buyer = (f"{k}-{tag}@customer.test" for k in ("customer", "lead", "buyer"))
    contact_id = contact(mail.crm, customer)
    lead_id = mail.crm.reader.create(
        "Leads", {"Last_Name": "Lead", "Company": "Acme", "Email": lead_addr}
    )
    buyer_id = contact(mail.crm, buyer)
    deal_id = mail.crm.reader.create(
        "Deals",
        {"Deal_Name": f"Deal {tag}", "Stage": "Qualification", "Contact_Name": {"id": buyer_id}},
    )

    def messages() -> Iterator[bytes]:
        for i in range(10_000):
            kind = i % 10
            if kind == 0:
                msg = make_message(
                    sender=f"Customer <{customer}>",
                    to=[user],
                    subject=f"Order {i}",
                    body=f"Body of {i}",
                )
            elif kind == 1:
                msg = make_message(
                    sender=user, to=[lead_addr.upper()], subject=f"Offer {i}", body="Our offer"
                )
            elif kind == 2:
                msg = make_message(
                    sender=f"someone-{i}@else.test", to=[user], cc=[buyer], subject=f"Deal talk {i}"
                )
            else:
                msg = make_message(
                    sender=f"stranger-{i}@else.test", to=[user], subject=f"Newsletter {i}"
                )
            yield msg.as_bytes()

    mail.dovecot.add_user(user, "secret-1")
    delivered = mail.dovecot.bulk_deliver(user, messages())
    assert delivered == 10_000
    started = time.monotonic()
    mail.mailbox(tag, user, folders=("INBOX",))
    counts = mail.wait_counts(tag, timeout=240, scanned=10_000)
    elapsed = time.monotonic() - started
    print(f"captured 10,000 messages in {elapsed:.1f}s")
    assert counts["captured"] == 3_000
    assert counts["unmatched"] == 7_000
    status = mail.status(tag)
    assert status["folders"][0]["name"] == "INBOX"
    assert status["folders"][0]["lastUid"] == 10_000
    assert status["folders"][0]["uidValidity"] > 0
    assert status["mailboxIdentity"].startswith(f"{user}@127.0.0.1:")
    assert status["idle"] is True
    notes = mail.crm.notes("Contacts", contact_id)
    assert len(notes) == 1_000
    sample = next(n for n in notes if n["Note_Title"] == "Order 10")
    assert "From: " + customer in sample["Note_Content"]
    assert "Body of 10" in sample["Note_Content"]
    assert sample["$capture"]["direction"] == "received"
    assert sample["$capture"]["visibility"] == "private"
    assert len(mail.crm.notes("Leads", lead_id)) == 1_000
    assert mail.crm.notes("Leads", lead_id)[0]["$capture"]["direction"] == "sent"
    assert len(mail.crm.notes("Contacts", buyer_id)) == 1_000
    deal_notes = mail.crm.notes("Deals", deal_id)  # a deal shows its primary contact's mail
    assert len(deal_notes) == 1_000
    assert deal_notes[0]["$capture"]["address"] == buyer

    # A new message arrives: IDLE wakes the loop; it is on the record within 5 s.
    time.sleep(1.5)  # let the post-scan status settle so the next scan is the new mail's
    subject = f"Urgent {tag}"
    sent = time.monotonic()
    mail.dovecot.append(
        user,
        make_message(
            sender=customer, to=[user], subject=subject, body="Please call me",
            attachments={"quote.pdf": b"%PDF-1.4", "photo.png": b"\x89PNG"},
        ),
    )  # fmt: skip
    note = wait_for(
        lambda: (n := mail.crm.newest_note("Contacts", contact_id)) and n["Note_Title"] == subject and n,
        timeout=10, interval=0.05, what="the new message on the contact",
    )  # fmt: skip
    latency = time.monotonic() - sent
    print(f"new message on the CRM record {latency:.2f}s after delivery (IDLE)")
    assert latency < 5.0
    assert "Attachments: quote.pdf, photo.png" in note["Note_Content"]
    assert note["$capture"]["attachments"] == ["quote.pdf", "photo.png"]


# --- G3 threads, dedup across folders, UIDVALIDITY reset --------------------------------


def test_threads_dedup_across_folders_and_uidvalidity_reset(mail: Mailboxes) -> None:
    tag = unique("thread")
    user, customer = f"{tag}@mailbox.test", f"{tag}@customer.test"
    record = contact(mail.crm, customer)
    mail.dovecot.add_user(user, "secret-1")
    box = mail.dovecot.imap(user)
    assert box.create("Archive")[0] == "OK"
    box.logout()
    root = make_message(
        sender=customer, to=[user], subject="Question", message_id=f"<root-{tag}@customer.test>"
    )
    reply = make_message(
        sender=user, to=[customer], subject="Re: Question", message_id=f"<reply-{tag}@mailbox.test>",
        in_reply_to=root["Message-ID"], references=[root["Message-ID"]],
    )  # fmt: skip
    again = make_message(
        sender=customer, to=[user], subject="Re: Re: Question",
        in_reply_to=reply["Message-ID"], references=[root["Message-ID"], reply["Message-ID"]],
    )  # fmt: skip
    mail.dovecot.append(user, root)
    mail.dovecot.append(user, reply, "Sent")
    mail.dovecot.append(user, again)
    mail.dovecot.append(user, root, "Archive")  # the same message in another folder
    mail.mailbox(tag, user, folders=("INBOX", "Sent", "Archive"))
    counts = mail.wait_counts(tag, scanned=4, captured=3, duplicates=1)
    assert counts["unmatched"] == 0
    notes = mail.crm.notes("Contacts", record)
    assert len(notes) == 3
    assert {n["$capture"]["thread_id"] for n in notes} == {root["Message-ID"]}
    assert {n["Note_Title"] for n in notes} == {"Question", "Re: Question", "Re: Re: Question"}
    archive = next(f for f in mail.status(tag)["folders"] if f["name"] == "Archive")

    # The Archive folder is deleted and made again: new UIDVALIDITY, a full re-scan, no
    # duplicate on the CRM record.
    box = mail.dovecot.imap(user)
    assert box.delete("Archive")[0] == "OK"
    assert box.create("Archive")[0] == "OK"
    box.logout()
    mail.dovecot.append(user, root, "Archive")
    mail.dovecot.append(user, again, "Archive")
    counts = mail.wait_counts(tag, scanned=6, duplicates=3)
    assert counts["captured"] == 3
    reset = next(f for f in mail.status(tag)["folders"] if f["name"] == "Archive")
    assert reset["uidValidity"] != archive["uidValidity"]
    assert len(mail.crm.notes("Contacts", record)) == 3


# --- G2 visibility ----------------------------------------------------------------------


def test_private_captures_only_for_their_owner_shared_for_all(mail: Mailboxes) -> None:
    tag = unique("vis")
    customer = f"{tag}@customer.test"
    record = contact(mail.crm, customer)
    private_user, shared_user = f"priv-{tag}@mailbox.test", f"shared-{tag}@mailbox.test"
    for user in (private_user, shared_user):
        mail.dovecot.add_user(user, "secret-1")
        mail.dovecot.append(user, make_message(sender=customer, to=[user], subject=f"to {user}"))
    mail.mailbox(f"{tag}-p", private_user, visibility="Private", folders=("INBOX",))
    mail.mailbox(f"{tag}-s", shared_user, visibility="Shared", folders=("INBOX",))
    mail.wait_counts(f"{tag}-p", captured=1)
    mail.wait_counts(f"{tag}-s", captured=1)
    other = mail.crm.user(f"other-{tag}@crm.test")
    private_id = mail.status(f"{tag}-p")["ownerUserId"]

    def titles(client: httpx.Client) -> list[str]:
        return sorted(n["Note_Title"] for n in mail.crm.notes("Contacts", record, client))

    assert titles(mail.crm.as_user(other)) == [f"to {shared_user}"]
    assert titles(mail.crm.as_user(private_id)) == [f"to {private_user}", f"to {shared_user}"]
    notes = mail.crm.notes("Contacts", record)
    assert {n["Owner"]["id"] for n in notes} == {private_id, mail.status(f"{tag}-s")["ownerUserId"]}


# --- G7 wrong password, rotation ---------------------------------------------------------


def test_wrong_password_is_a_condition_and_a_rotated_secret_is_picked_up(mail: Mailboxes) -> None:
    tag = unique("auth")
    user, customer = f"{tag}@mailbox.test", f"{tag}@customer.test"
    record = contact(mail.crm, customer)
    mail.mailbox(tag, user, "secret-1", folders=("INBOX",))
    mail.wait_ready(tag)
    mail.secret(tag, user, "not-the-password")
    body = mail.wait_ready(tag, "False", "AuthenticationFailed")
    assert "rejected" in body["status"]["lastError"]
    # the mailbox's password changes, and so does the Secret: capture resumes
    mail.dovecot.set_password(user, "secret-2")
    mail.dovecot.append(user, make_message(sender=customer, to=[user], subject="after rotation"))
    mail.secret(tag, user, "secret-2")
    mail.wait_ready(tag, "True", "Capturing")
    mail.wait_counts(tag, captured=1)
    assert [n["Note_Title"] for n in mail.crm.notes("Contacts", record)] == ["after rotation"]
    assert mail.status(tag)["lastError"] == ""


# --- G4 sending ---------------------------------------------------------------------------


def test_mail_sent_through_crmsync_goes_out_lands_in_sent_and_is_captured_once(
    mail: Mailboxes, smtp_sink: SmtpSink, own_processes: None
) -> None:
    tag = unique("send")
    user, customer = f"{tag}@mailbox.test", f"{tag}@customer.test"
    record = contact(mail.crm, customer)
    mail.mailbox(tag, user, smtp_port=smtp_sink.port)
    mail.wait_ready(tag)
    out = subprocess.run(
        [sys.executable, "-m", "crmsync", "send-mail", tag, "-n", "e2e",
         "--to-record", f"Contacts/{record}", "--subject", f"Proposal {tag}", "--body", "Here it is."],
        env=mail.stack.kube.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = __import__("json").loads(out.stdout)
    assert result["to"] == customer and result["sentFolder"] == "Sent"
    delivered = [m for m in smtp_sink.received if customer in m[1]]
    assert len(delivered) == 1 and f"Proposal {tag}".encode() in delivered[0][2]
    box = mail.dovecot.imap(user)
    box.select("Sent")
    assert box.search(None, "HEADER", "Message-ID", result["messageId"])[1][0]  # the copy
    box.logout()
    mail.wait_counts(tag, captured=1)
    time.sleep(32)  # another poll (30 s, the shortest allowed): still once
    notes = mail.crm.notes("Contacts", record)
    assert len(notes) == 1
    assert notes[0]["$capture"]["direction"] == "sent"
    assert notes[0]["$capture"]["folder"] == "Sent"
    assert notes[0]["$capture"]["message_id"] == result["messageId"]


# --- G6 address change, deactivated owner, mailbox change -------------------------------


def test_address_change_deactivated_owner_and_mailbox_change(mail: Mailboxes) -> None:
    tag = unique("g6")
    user, old, new = f"{tag}@mailbox.test", f"old-{tag}@customer.test", f"new-{tag}@customer.test"
    record = contact(mail.crm, old)
    mail.dovecot.add_user(user, "secret-1")
    mail.dovecot.append(user, make_message(sender=old, to=[user], subject="from the old address"))
    mail.mailbox(tag, user, folders=("INBOX",))
    mail.wait_counts(tag, captured=1)

    # The contact's address changes: only mail of the new address is captured, and what
    # was captured for the old one is no longer shown.
    mail.crm.reader.update("Contacts", record, {"Email": new})
    time.sleep(3)  # a pass refreshes the address index
    mail.dovecot.append(user, make_message(sender=old, to=[user], subject="old address, later"))
    mail.dovecot.append(user, make_message(sender=new, to=[user], subject="from the new address"))
    counts = mail.wait_counts(tag, scanned=3, captured=2)
    assert counts["unmatched"] == 1
    assert [n["Note_Title"] for n in mail.crm.notes("Contacts", record)] == ["from the new address"]

    # The owner is deactivated in the CRM: nothing more is captured, captures are hidden.
    owner = mail.crm.user(user, status="disabled")
    mail.wait_ready(tag, "False", "OwnerDeactivated")
    assert mail.crm.notes("Contacts", record) == []
    mail.crm.user(user, status="active")
    mail.wait_ready(tag, "True")
    assert len(mail.crm.notes("Contacts", record)) == 1
    assert owner == mail.status(tag)["ownerUserId"]

    # The mailbox changes (another account in the Secret): its mail is captured, the old
    # mailbox's is not imported any more.
    other = f"other-{tag}@mailbox.test"
    mail.dovecot.add_user(other, "secret-9")
    mail.dovecot.append(other, make_message(sender=new, to=[other], subject="in the new mailbox"))
    mail.secret(tag, other, "secret-9")
    wait_for(
        lambda: mail.status(tag).get("mailboxIdentity", "").startswith(other),
        timeout=75, what="the new mailbox",
    )  # fmt: skip
    mail.dovecot.append(
        user, make_message(sender=new, to=[user], subject="left in the old mailbox")
    )
    wait_for(
        lambda: "in the new mailbox" in [n["Note_Title"] for n in mail.crm.notes("Contacts", record)],
        timeout=75, what="the new mailbox's mail",
    )  # fmt: skip
    time.sleep(4)
    titles = [n["Note_Title"] for n in mail.crm.notes("Contacts", record)]
    assert "left in the old mailbox" not in titles
    events = mail.stack.kube.kubectl(
        "get", "events", "-n", "e2e", "--field-selector", f"involvedObject.name={tag}",
        "-o", "jsonpath={.items[*].reason}",
    ).stdout  # fmt: skip
    assert "MailboxChanged" in events
    assert condition(mail.stack.get("mailboxsync", tag), "Ready") == "True"
