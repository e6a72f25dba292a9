"""The CRM side of mailbox capture: the address index, the capture ledger, the owner.

The ledger (Message-IDs already on each record) is per CRM organisation and per operator
process, so two MailboxSyncs capturing the same message onto the same record write it
once (issue 8: "deduplicated by Message-ID across folders and mailboxes"). It is filled
from the records' Notes on first use, so a restarted operator deduplicates too (B5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crmsync.engine.mail import AddressIndex, RecordRef, captured_ids
from crmsync.engine.records import normalise_email
from crmsync.providers.zoho_crm import ZohoCrm

EMAIL_MODULES = ("Leads", "Contacts")
OVERLAP = timedelta(seconds=2)
"""Re-read records modified this close to the cursor: If-Modified-Since has whole seconds."""


@dataclass
class Ledger:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    seen: dict[str, set[str]] = field(default_factory=dict)


LEDGERS: dict[str, Ledger] = {}


def ledger_for(organisation: str) -> Ledger:
    return LEDGERS.setdefault(organisation, Ledger())


@dataclass
class CrmUser:
    id: str
    email: str
    active: bool


async def find_user(crm: ZohoCrm, email: str) -> CrmUser | None:
    wanted = normalise_email(email)
    for user in await crm.users():
        if normalise_email(user.get("email")) == wanted:
            return CrmUser(str(user["id"]), wanted, user.get("status") == "active")
    return None


@dataclass
class IndexedCrm:
    """The :class:`AddressIndex` of the modules a mailbox matches, refreshed incrementally."""

    modules: tuple[str, ...]
    index: AddressIndex = field(default_factory=AddressIndex)
    cursors: dict[str, datetime | None] = field(default_factory=dict)

    def indexed_modules(self) -> list[str]:
        wanted = set(self.modules) | ({"Contacts"} if "Deals" in self.modules else set())
        return [m for m in ("Leads", "Contacts", "Deals") if m in wanted]

    async def refresh(self, crm: ZohoCrm) -> int:
        """Apply what changed since the last refresh; returns the records read."""
        read = 0
        for module in self.indexed_modules():
            since = self.cursors.get(module)
            fields = ["Contact_Name"] if module == "Deals" else ["Email"]
            newest = since
            async for page in crm.records(
                module, fields, modified_since=since - OVERLAP if since else None
            ):
                for record in page:
                    read += 1
                    if record.converted:
                        self.index.remove(module, record.id)
                    elif module == "Deals":
                        contact = record.values.get("Contact_Name")
                        contact_id = contact.get("id") if isinstance(contact, dict) else None
                        self.index.set_deal(record.id, str(contact_id) if contact_id else None)
                    else:
                        self.index.set_email(module, record.id, record.values.get("Email"))
                    if newest is None or record.modified_time > newest:
                        newest = record.modified_time
            if since is not None:
                for deleted in await crm.deleted_since(module, since - OVERLAP):
                    self.index.remove(module, deleted.id)
            self.cursors[module] = newest
        return read


async def load_seen(crm: ZohoCrm, ledger: Ledger, refs: Iterable[RecordRef]) -> None:
    """Fill the ledger for records not seen yet (caller holds ``ledger.lock``)."""
    for ref in {(r.module, r.record_id) for r in refs}:
        module, record_id = ref
        if record_id not in ledger.seen:
            ledger.seen[record_id] = captured_ids(await crm.notes(module, record_id))


async def write_notes(
    crm: ZohoCrm, ledger: Ledger, notes: Sequence[dict[str, Any]]
) -> tuple[int, list[str]]:
    """Create the Notes; the ledger learns each one that was stored. Returns the number
    stored and the per-note errors."""
    if not notes:
        return 0, []
    results = await crm.create_notes(notes)
    stored, errors = 0, []
    for note, result in zip(notes, results, strict=True):
        capture = note.get("$capture") or {}
        if result.get("status") == "success":
            stored += 1
            ledger.seen.setdefault(str(note["Parent_Id"]["id"]), set()).add(
                str(capture.get("message_id", ""))
            )
        else:
            errors.append(
                f"{note['Parent_Id']['module']['api_name']}/{note['Parent_Id']['id']}: "
                f"{result.get('code', '')} {result.get('message', '')}".strip()
            )
    return stored, errors
