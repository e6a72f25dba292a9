"""Seeding: the defaults every server has, and an existing audience for demos.

:func:`ensure_defaults` runs whenever the app starts and on seed: the standard contact
fields, the list "crmsync demo" and the topic "Newsletter" — so the ids that
``VENDOR.credentials`` hands out are always valid. :func:`seed` adds ``options.contacts``
people (generated apart from the CRM's, so they are an audience that already existed in
Campaigns) to that list in one transaction, opted-out ones as unsubscribed.
"""

from __future__ import annotations

from pathlib import Path

from crmsync_testbed.sim.common import json_column
from crmsync_testbed.sim.fakedata import FakeData, Messiness, normalise_email
from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_campaigns.fields import ensure_standard_fields
from crmsync_testbed.sim.zoho_campaigns.lists import ensure_default_list
from crmsync_testbed.sim.zoho_campaigns.store import ID_BASE, CampaignsStore, now_ms
from crmsync_testbed.sim.zoho_campaigns.topics import ensure_default_topic

AUDIENCE_SEED_OFFSET = 7919
"""Keeps the seeded Campaigns audience distinct from the CRM people of the same seed."""


def ensure_defaults(store: CampaignsStore) -> dict[str, int]:
    with store.transaction():
        fields = ensure_standard_fields(store)
        ensure_default_list(store)
        ensure_default_topic(store)
    return {"fields": fields, "lists": 1, "topics": 1}


def seed(data_dir: Path, options: SeedOptions) -> dict[str, int]:
    store = CampaignsStore(data_dir)
    try:
        counts = ensure_defaults(store)
        counts["contacts"] = _seed_audience(store, options)
        return counts
    finally:
        store.close()


def _seed_audience(store: CampaignsStore, options: SeedOptions) -> int:
    people = FakeData(options.random_seed + AUDIENCE_SEED_OFFSET).people(
        options.contacts,
        Messiness(
            invalid_email_rate=options.invalid_email_rate,
            duplicate_email_rate=options.duplicate_email_rate,
            opted_out_rate=options.opted_out_rate,
        ),
    )
    existing = {row[0] for row in store.conn.execute("SELECT email_norm FROM contacts")}
    stamp = now_ms()
    contact_rows, member_rows = [], []
    first = store.reserve_ids("contact", len(people))
    for offset, person in enumerate(people):
        key = normalise_email(person.email)
        if not person.email_valid or key is None or key in existing:
            continue
        existing.add(key)
        fields = {
            "firstname": person.first_name,
            "lastname": person.last_name,
            "phone": person.phone,
            "mobile": person.mobile,
            "city": person.city,
            "country": person.country,
            "jobtitle": person.title,
        }
        contact_id = ID_BASE + (first + offset) * 1000 + 1
        contact_rows.append(
            (
                key,
                contact_id,
                person.email.strip(),
                json_column(fields),
                "marketing",
                "seed",
                stamp,
                stamp,
            )
        )
        member_rows.append((key, "unsub" if person.opted_out else "active", stamp, stamp))
    listkey = ensure_default_list(store)
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO contacts (email_norm, contact_id, email, fields, subscription_type,"
            " source, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            contact_rows,
        )
        conn.executemany(
            "INSERT INTO list_members (listkey, email_norm, status, added_ms, updated_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            [(listkey, *row) for row in member_rows],
        )
    return len(contact_rows)
