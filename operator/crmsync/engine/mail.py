"""Mailbox capture, the pure parts: parse a message, find its CRM participants, thread it,
decide what is new, and render it as a CRM Note (G1, G3).

Nothing here does I/O. :mod:`crmsync.providers.imap` reads the messages,
:mod:`crmsync.reconcile.mailbox` writes the Notes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from crmsync.engine.records import normalise_email

TITLE_LENGTH = 120
CONTENT_LENGTH = 30000
MESSAGE_ID_LINE = re.compile(r"^Message-ID: (<[^>\s]+>)\s*$", re.MULTILINE)
MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class MailFacts:
    """What the CRM keeps of one message."""

    message_id: str
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    thread_id: str
    excerpt: str
    attachments: tuple[str, ...]
    sender_name: str = ""

    @property
    def participants(self) -> tuple[str, ...]:
        """Every address on the message, normalised, in order, once."""
        return tuple(dict.fromkeys(a for a in (self.sender, *self.to, *self.cc) if a))


@dataclass(frozen=True)
class RecordRef:
    """A CRM record a message belongs to, and the address that tied them."""

    module: str
    record_id: str
    address: str


# --- parsing ----------------------------------------------------------------------------


def _addresses(message: Message, header: str) -> tuple[str, ...]:
    values = [str(v) for v in message.get_all(header, [])]
    found = (normalise_email(addr) for _, addr in getaddresses(values))
    return tuple(dict.fromkeys(a for a in found if "@" in a))


def _message_ids(raw: str | None) -> list[str]:
    return MSGID.findall(raw or "")


def fallback_message_id(message: Message) -> str:
    """A stable id for a message without Message-ID: a digest of its identifying headers."""
    parts = [str(message.get(h, "")) for h in ("From", "To", "Cc", "Date", "Subject")]
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()[:32]
    return f"<{digest}@crmsync.invalid>"


def thread_key(
    message_id: str, references: Sequence[str], in_reply_to: Sequence[str], gm_thrid: str = ""
) -> str:
    """The conversation a message belongs to (G3).

    Gmail's X-GM-THRID when the server offers it; otherwise the root of the References
    chain (RFC 5322 §3.6.4: its first id is the thread's first message), else the
    message replied to, else the message itself (it starts a thread).
    """
    if gm_thrid:
        return f"gm:{gm_thrid}"
    if references:
        return references[0]
    if in_reply_to:
        return in_reply_to[0]
    return message_id


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def _squash(text: str) -> str:
    return re.sub(r"[ \t\r\f\v]+", " ", re.sub(r"\n\s*\n+", "\n\n", text)).strip()


def _body_text(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError):
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    text = str(content)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return _squash(text)


def excerpt_of(text: str, length: int) -> str:
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0] if " " in text[:length] else text[:length]
    return cut.rstrip() + "…"


def attachment_names(message: EmailMessage) -> tuple[str, ...]:
    names: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename and (part.get_content_disposition() in ("attachment", "inline", None)):
            names.append(str(filename))
    return tuple(names)


def parse_message(raw: bytes, *, excerpt_length: int = 500, gm_thrid: str = "") -> MailFacts:
    """The facts of one RFC 5322 message (headers are decoded; bad ones are tolerated)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    ids = _message_ids(str(message.get("Message-ID", "")))
    message_id = ids[0] if ids else fallback_message_id(message)
    senders = _addresses(message, "From")
    from_values = [str(v) for v in message.get_all("From", [])]
    name = getaddresses(from_values)[0][0] if from_values else ""
    try:
        date = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError, IndexError):
        date = None
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    thread = thread_key(
        message_id,
        _message_ids(str(message.get("References", ""))),
        _message_ids(str(message.get("In-Reply-To", ""))),
        gm_thrid,
    )
    return MailFacts(
        message_id=message_id,
        subject=str(message.get("Subject", "") or "").strip(),
        sender=senders[0] if senders else "",
        sender_name=name,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        date=date,
        thread_id=thread,
        excerpt=excerpt_of(_body_text(message), excerpt_length) if excerpt_length else "",
        attachments=attachment_names(message),
    )


# --- matching ---------------------------------------------------------------------------


@dataclass
class AddressIndex:
    """CRM records by normalised email: Leads and Contacts by their own address, Deals by
    their primary contact's (G1). Kept up to date incrementally; an address change moves
    the record, so mail of the old address stops matching (G6)."""

    emails: dict[tuple[str, str], str] = field(default_factory=dict)
    """(module, record id) → its current address."""
    by_email: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    deal_contact: dict[str, str] = field(default_factory=dict)
    """deal id → primary contact id."""
    deals_of_contact: dict[str, set[str]] = field(default_factory=dict)

    def set_email(self, module: str, record_id: str, email: object) -> None:
        key = (module, record_id)
        old = self.emails.pop(key, None)
        if old is not None:
            self.by_email.get(old, set()).discard(key)
        address = normalise_email(email) if email else ""
        if address and "@" in address:
            self.emails[key] = address
            self.by_email.setdefault(address, set()).add(key)

    def set_deal(self, deal_id: str, contact_id: str | None) -> None:
        old = self.deal_contact.pop(deal_id, None)
        if old is not None:
            self.deals_of_contact.get(old, set()).discard(deal_id)
        if contact_id:
            self.deal_contact[deal_id] = contact_id
            self.deals_of_contact.setdefault(contact_id, set()).add(deal_id)

    def remove(self, module: str, record_id: str) -> None:
        if module == "Deals":
            self.set_deal(record_id, None)
        else:
            self.set_email(module, record_id, None)

    def match(
        self, addresses: Iterable[str], modules: Iterable[str], ignore: Iterable[str] = ()
    ) -> list[RecordRef]:
        """The records of ``modules`` that ``addresses`` belong to (``ignore``: the
        mailbox's own addresses, which are on every message)."""
        wanted = set(modules)
        skip = {normalise_email(a) for a in ignore}
        found: dict[tuple[str, str], RecordRef] = {}
        for address in addresses:
            if address in skip:
                continue
            for module, record_id in sorted(self.by_email.get(address, ())):
                if module in wanted:
                    found.setdefault((module, record_id), RecordRef(module, record_id, address))
                if module == "Contacts" and "Deals" in wanted:
                    for deal in sorted(self.deals_of_contact.get(record_id, ())):
                        found.setdefault(("Deals", deal), RecordRef("Deals", deal, address))
        return list(found.values())


# --- dedup ------------------------------------------------------------------------------


def captured_ids(notes: Iterable[Mapping[str, object]]) -> set[str]:
    """Message-IDs already captured on a record, from its Notes (``$capture`` when the CRM
    keeps it, else the ``Message-ID:`` line every capture note carries)."""
    found: set[str] = set()
    for note in notes:
        capture = note.get("$capture")
        if isinstance(capture, Mapping) and capture.get("message_id"):
            found.add(str(capture["message_id"]))
            continue
        for match in MESSAGE_ID_LINE.finditer(str(note.get("Note_Content") or "")):
            found.add(match.group(1))
    return found


@dataclass(frozen=True)
class Decision:
    """What to do with one message: which records get a note; how to count it."""

    new: tuple[RecordRef, ...]
    outcome: str
    """captured, duplicate or unmatched."""


def decide(refs: Sequence[RecordRef], message_id: str, seen: Mapping[str, set[str]]) -> Decision:
    """``seen``: record id → Message-IDs already on it (across folders and mailboxes)."""
    if not refs:
        return Decision((), "unmatched")
    new = tuple(r for r in refs if message_id not in seen.get(r.record_id, set()))
    return Decision(new, "captured" if new else "duplicate")


# --- the Note ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureContext:
    mailbox: str
    """user@host of the mailbox."""
    owner_id: str
    """The CRM user who owns the mailbox (the Note's Owner)."""
    visibility: str
    """private or shared (G2)."""
    own_addresses: tuple[str, ...]
    folder: str = "INBOX"


def direction(facts: MailFacts, own: Iterable[str]) -> str:
    return "sent" if facts.sender in {normalise_email(a) for a in own} else "received"


def note_for(facts: MailFacts, ref: RecordRef, ctx: CaptureContext) -> dict[str, object]:
    """A Zoho CRM Note (``POST /Notes`` item) holding one captured message.

    ``Note_Title``/``Note_Content``/``Parent_Id``/``Owner`` are Zoho's public Notes
    fields; ``$capture`` carries the same facts structured, for a CRM that keeps them
    (the local server does, to thread and to enforce visibility; Zoho ignores unknown keys).
    """
    sent = direction(facts, ctx.own_addresses)
    when = facts.date.astimezone(UTC).isoformat() if facts.date else ""
    lines = [
        f"{'Sent' if sent == 'sent' else 'Received'} email ({ctx.folder}, {ctx.mailbox})",
        f"From: {facts.sender}",
        f"To: {', '.join(facts.to)}",
    ]
    if facts.cc:
        lines.append(f"Cc: {', '.join(facts.cc)}")
    if when:
        lines.append(f"Date: {when}")
    if facts.attachments:
        lines.append(f"Attachments: {', '.join(facts.attachments)}")
    lines += [f"Message-ID: {facts.message_id}", f"Thread: {facts.thread_id}", ""]
    content = "\n".join(lines) + "\n" + facts.excerpt
    title = (facts.subject or "(no subject)")[:TITLE_LENGTH]
    return {
        "Parent_Id": {"module": {"api_name": ref.module}, "id": ref.record_id},
        "Note_Title": title,
        "Note_Content": content[:CONTENT_LENGTH],
        "Owner": {"id": ctx.owner_id},
        "$capture": {
            "message_id": facts.message_id,
            "thread_id": facts.thread_id,
            "mailbox": ctx.mailbox,
            "folder": ctx.folder,
            "visibility": ctx.visibility,
            "address": ref.address,
            "direction": sent,
            "sent_time": when,
            "from": facts.sender,
            "to": list(facts.to),
            "cc": list(facts.cc),
            "attachments": list(facts.attachments),
        },
    }
