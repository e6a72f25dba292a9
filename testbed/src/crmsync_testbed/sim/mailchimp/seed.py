"""The default audience, and pre-existing members for ``crmsync sim seed``.

The default audience ("crmsync demo") has a fixed id so that ``VENDOR.credentials`` can
name it without reading the data. Seeded members are the first people of the shared fake
data generator, so part of them overlaps the CRM's contacts, as in a real account; some
of them have unsubscribed or bounced (cleaned), which a sync must never undo.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crmsync_testbed.sim.fakedata import FakeData, Person
from crmsync_testbed.sim.mailchimp import lists, mergefields
from crmsync_testbed.sim.mailchimp.store import Store, dump, new_hex_id, new_web_id, subscriber_hash
from crmsync_testbed.sim.vendor import SeedOptions

DEFAULT_LIST_ID = "cc5d0e6f1a"
DEFAULT_LIST_NAME = "crmsync demo"
SEED_MERGE_FIELDS = (("PHONE", "Phone Number", "phone"), ("COMPANY", "Company", "text"))
EXISTING_MEMBER_SHARE = 10
"""One seeded member per this many CRM contacts."""
UNSUBSCRIBED_SHARE = 0.10
CLEANED_SHARE = 0.03
DEFAULT_LIST_BODY = {
    "name": DEFAULT_LIST_NAME,
    "contact": {
        "company": "crmsync demo",
        "address1": "1 Demo Street",
        "city": "Atlanta",
        "state": "GA",
        "zip": "30308",
        "country": "US",
    },
    "permission_reminder": "You signed up for updates from crmsync demo.",
    "campaign_defaults": {
        "from_name": "crmsync demo",
        "from_email": "news@crmsync.example.com",
        "subject": "News from crmsync demo",
        "language": "en",
    },
    "email_type_option": False,
}


def ensure_default_audience(db: sqlite3.Connection) -> int:
    """Create the default audience and its merge fields if missing; returns fields added."""
    if db.execute("SELECT 1 FROM lists WHERE id = ?", (DEFAULT_LIST_ID,)).fetchone() is None:
        lists.insert_list(db, DEFAULT_LIST_ID, DEFAULT_LIST_BODY)
    existing = {field["tag"] for field in mergefields.definitions(db, DEFAULT_LIST_ID)}
    added = 0
    for tag, name, field_type in SEED_MERGE_FIELDS:
        if tag not in existing:
            mergefields.add_field(
                db, DEFAULT_LIST_ID, {"tag": tag, "name": name, "type": field_type}
            )
            added += 1
    return added


def _member_row(person: Person, status: str, stamp: str) -> tuple[object, ...]:
    email = person.email.strip()
    doc = {
        "email_type": "html",
        "merge_fields": {
            "FNAME": person.first_name,
            "LNAME": person.last_name,
            "PHONE": person.phone,
            "COMPANY": person.company.name if person.company else "",
        },
        "source": "Import",
        "contact_id": new_hex_id(32),
    }
    if status == "unsubscribed":
        doc["unsubscribe_reason"] = "I no longer want to receive these emails"
    return (
        DEFAULT_LIST_ID,
        subscriber_hash(email),
        email,
        status,
        new_hex_id(),
        new_web_id(),
        stamp if status == "subscribed" else "",
        stamp,
        int(status in ("unsubscribed", "cleaned")),
        dump(doc),
    )


def seed(data_dir: Path, options: SeedOptions) -> dict[str, int]:
    store = Store(data_dir / "mailchimp.sqlite3")
    try:
        fields_added = store.transaction(ensure_default_audience)
        people = FakeData(options.random_seed).people(options.contacts // EXISTING_MEMBER_SHARE)
        stamp = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0).isoformat()
        rows = []
        for index, person in enumerate(p for p in people if p.email_valid):
            share = (index * 0.6180339887) % 1  # spread statuses evenly, deterministically
            status = (
                "cleaned"
                if share < CLEANED_SHARE
                else "unsubscribed"
                if share < CLEANED_SHARE + UNSUBSCRIBED_SHARE
                else "subscribed"
            )
            rows.append(_member_row(person, status, stamp))

        def insert(db: sqlite3.Connection) -> int:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO members (list_id, hash, email, status, unique_email_id, web_id,"
                " timestamp_opt, last_changed, compliance_locked, doc) VALUES (?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            return db.total_changes - before

        inserted = store.transaction(insert)
        statuses = [row[3] for row in rows]
        return {
            "lists": 1,
            "merge_fields_added": fields_added,
            "members": inserted,
            "unsubscribed": statuses.count("unsubscribed"),
            "cleaned": statuses.count("cleaned"),
        }
    finally:
        store.close()
