"""SQLite persistence of the local Zoho Campaigns server: schema, settings and tokens.

One database file per server (``<data_dir>/campaigns.sqlite3``). Contacts are org-wide
("all contacts") and keyed by the normalised email; list membership and topic
subscription are separate tables keyed by (list key | topic id, normalised email), so a
million contacts stay fast to look up and to page through.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crmsync_testbed.sim.common import open_db

DB_FILE = "campaigns.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS tokens (access_token TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
    listkey TEXT PRIMARY KEY,
    listunino INTEGER NOT NULL UNIQUE,
    listname TEXT NOT NULL UNIQUE,
    listdesc TEXT NOT NULL DEFAULT '',
    is_public INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fields (
    field_id INTEGER PRIMARY KEY,
    field_name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    field_type TEXT NOT NULL,
    field_length INTEGER NOT NULL,
    is_custom INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    email_norm TEXT PRIMARY KEY,
    contact_id INTEGER NOT NULL UNIQUE,
    email TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    subscription_type TEXT NOT NULL,
    legal_basis TEXT,
    consent_status TEXT,
    source TEXT,
    do_not_mail INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_marketing ON contacts (subscription_type);
CREATE TABLE IF NOT EXISTS list_members (
    listkey TEXT NOT NULL REFERENCES lists (listkey) ON DELETE CASCADE,
    email_norm TEXT NOT NULL REFERENCES contacts (email_norm) ON DELETE CASCADE,
    status TEXT NOT NULL,
    added_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (listkey, email_norm)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS list_members_by_status ON list_members (listkey, status, added_ms);
CREATE INDEX IF NOT EXISTS list_members_by_email ON list_members (email_norm);
CREATE TABLE IF NOT EXISTS topics (
    topic_id TEXT PRIMARY KEY,
    topic_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    topic_desc TEXT NOT NULL,
    primary_list TEXT
);
CREATE TABLE IF NOT EXISTS topic_members (
    topic_id TEXT NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    email_norm TEXT NOT NULL REFERENCES contacts (email_norm) ON DELETE CASCADE,
    status TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (topic_id, email_norm)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS topic_members_by_email ON topic_members (email_norm);
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_key TEXT PRIMARY KEY,
    campaign_id INTEGER NOT NULL UNIQUE,
    campaign_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    from_email TEXT NOT NULL,
    from_name TEXT NOT NULL DEFAULT '',
    content_url TEXT NOT NULL DEFAULT '',
    list_details TEXT NOT NULL,
    topic_id TEXT,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    sent_ms INTEGER
);
CREATE TABLE IF NOT EXISTS campaign_recipients (
    campaign_key TEXT NOT NULL REFERENCES campaigns (campaign_key) ON DELETE CASCADE,
    email_norm TEXT NOT NULL,
    contact_id INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL,
    delivery TEXT NOT NULL DEFAULT 'sent',
    opened INTEGER NOT NULL DEFAULT 0,
    clicked INTEGER NOT NULL DEFAULT 0,
    unsubscribed INTEGER NOT NULL DEFAULT 0,
    complained INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_key, email_norm)
) WITHOUT ROWID;
"""

ID_BASE = 169443000000000000
"""Zoho-looking numeric ids (17-18 digits) for contacts, lists, fields, topics, campaigns."""


def now_ms() -> int:
    return int(time.time() * 1000)


def stable_key(*parts: str) -> str:
    """A 32-hex-digit key like Zoho's list and campaign keys, stable for the same input."""
    return hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()


class CampaignsStore:
    """The connection plus the few helpers every module needs (ids, settings, tokens)."""

    def __init__(self, data_dir: Path) -> None:
        self.conn = open_db(data_dir / DB_FILE)
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, args).fetchall())

    def scalar(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

    # settings -----------------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM settings WHERE key = ?", key)
        return None if value is None else str(value)

    def set_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def next_id(self, sequence: str) -> int:
        """The next Zoho-looking numeric id of a sequence (persisted, so restart-safe)."""
        key = f"seq:{sequence}"
        current = int(self.setting(key) or "0") + 1
        self.set_setting(key, str(current))
        return ID_BASE + current * 1000 + 1

    def reserve_ids(self, sequence: str, count: int) -> int:
        """Reserve ``count`` ids at once (bulk seeding); returns the first sequence number."""
        key = f"seq:{sequence}"
        first = int(self.setting(key) or "0") + 1
        self.set_setting(key, str(first + count - 1))
        return first

    @property
    def contact_limit(self) -> int | None:
        value = self.setting("plan:contact_limit")
        return None if value is None else int(value)

    @contact_limit.setter
    def contact_limit(self, limit: int | None) -> None:
        self.set_setting("plan:contact_limit", None if limit is None else str(limit))

    # OAuth access tokens ------------------------------------------------------------
    def issue_token(self, lifetime_seconds: int) -> str:
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.conn.execute(
            "INSERT INTO tokens (access_token, expires_ms) VALUES (?, ?)",
            (token, now_ms() + lifetime_seconds * 1000),
        )
        self.conn.execute("DELETE FROM tokens WHERE expires_ms < ?", (now_ms() - 86_400_000,))
        return token

    def token_valid(self, token: str) -> bool:
        expires = self.scalar("SELECT expires_ms FROM tokens WHERE access_token = ?", token)
        return expires is not None and int(expires) > now_ms()

    def expire_tokens(self) -> int:
        return self.conn.execute("UPDATE tokens SET expires_ms = 0").rowcount
