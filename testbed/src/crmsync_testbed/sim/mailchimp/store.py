"""SQLite storage of the local Mailchimp: schema, ids, timestamps, and the DB thread.

All database work runs on one dedicated thread (``Store.run``), one transaction per API
operation, so the event loop stays free to accept requests while SQLite works. That is
also what makes the 10-connection limit observable: requests really are in flight at once.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import secrets
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from crmsync_testbed.sim.common import json_column, open_db

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    id TEXT PRIMARY KEY,
    web_id INTEGER NOT NULL,
    date_created TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS merge_fields (
    list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    merge_id INTEGER NOT NULL,
    tag TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (list_id, merge_id),
    UNIQUE (list_id, tag)
);
CREATE TABLE IF NOT EXISTS members (
    list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL,
    unique_email_id TEXT NOT NULL,
    web_id INTEGER NOT NULL,
    timestamp_signup TEXT NOT NULL DEFAULT '',
    timestamp_opt TEXT NOT NULL DEFAULT '',
    last_changed TEXT NOT NULL,
    compliance_locked INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL,
    UNIQUE (list_id, hash)
);
-- Each member index costs every batch subscribe a write per member: only the ones a query
-- uses (list_id alone is served by the UNIQUE index; web_id is never searched).
DROP INDEX IF EXISTS members_by_list;
DROP INDEX IF EXISTS members_by_web_id;
CREATE INDEX IF NOT EXISTS members_by_status ON members (list_id, status);
CREATE INDEX IF NOT EXISTS members_by_change ON members (list_id, last_changed);
CREATE INDEX IF NOT EXISTS members_by_unique_id ON members (unique_email_id);
CREATE TABLE IF NOT EXISTS forgotten_emails (
    list_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (list_id, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS segments_by_name ON segments (list_id, name);
CREATE TABLE IF NOT EXISTS segment_members (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    list_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    date_added TEXT NOT NULL,
    PRIMARY KEY (segment_id, hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS segment_members_by_member ON segment_members (list_id, hash);
CREATE TABLE IF NOT EXISTS interest_categories (
    id TEXT PRIMARY KEY,
    list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS interests (
    id TEXT PRIMARY KEY,
    category_id TEXT NOT NULL REFERENCES interest_categories(id) ON DELETE CASCADE,
    list_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    submitted_at TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    operations TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY,
    web_id INTEGER NOT NULL,
    create_time TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS campaign_activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    list_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    action TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_by_campaign ON campaign_activity (campaign_id, hash);
CREATE INDEX IF NOT EXISTS activity_by_member ON campaign_activity (list_id, hash);
CREATE TABLE IF NOT EXISTS stores (
    id TEXT PRIMARY KEY,
    list_id TEXT NOT NULL,
    domain TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store_customers (
    store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (store_id, id)
);
CREATE INDEX IF NOT EXISTS store_customers_by_email ON store_customers (store_id, email);
CREATE TABLE IF NOT EXISTS carts (
    store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (store_id, id)
);
"""


@functools.lru_cache(maxsize=4)
def _stamp(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat()


def now_iso() -> str:
    """Mailchimp's timestamp shape: ``2024-05-01T12:00:00+00:00`` (UTC, whole seconds),
    formatted once a second (a batch of 500 members stamps each)."""
    return _stamp(int(datetime.now(UTC).timestamp()))


def normalise_timestamp(text: str) -> str:
    """Any ISO 8601 input → the stored shape, so string comparison orders correctly."""
    parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0).isoformat()


_ids = random.Random(secrets.randbits(128))
"""Ids are drawn from a seeded generator, not the OS: they only have to be unique-looking,
and a system call per id was a tenth of a batch subscribe's time."""


def new_hex_id(digits: int = 10) -> str:
    """A random hex id; 10 digits is the shape of Mailchimp list, campaign, webhook and
    ``unique_email_id`` ids, 32 that of a member's ``contact_id``."""
    return f"{_ids.getrandbits(digits * 4):0{digits}x}"


def new_web_id() -> int:
    return _ids.randrange(100_000_000, 1_000_000_000)


def subscriber_hash(email: str) -> str:
    """MD5 of the lower-cased address (the spec's member ``id``)."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def load(doc: str) -> Any:
    return json.loads(doc)


dump = json_column


def connect(path: Path) -> sqlite3.Connection:
    conn = open_db(path)
    conn.executescript(SCHEMA)
    return conn


class Store:
    """One SQLite file and the single thread that may touch it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailchimp-db")
        self.db = self._executor.submit(connect, path).result()

    async def run(self, work: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run ``work(db)`` on the DB thread inside one transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.transaction, work, write)

    def transaction(self, work: Callable[[sqlite3.Connection], T], write: bool = True) -> T:
        self.db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = work(self.db)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return result

    def close(self) -> None:
        self._executor.submit(self.db.close).result()
        self._executor.shutdown()
