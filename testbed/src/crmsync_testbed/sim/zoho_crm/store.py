"""SQLite persistence of the local Zoho CRM.

Records are JSON documents (``doc``) with the columns every query filters or sorts on
pulled out and indexed: module, normalised email, Modified_Time (ms), state (live /
recycle bin / permanently deleted), converted flag and parent record (Notes, Emails).
Nothing ever loads a whole module into memory; listings page with SQL.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from crmsync_testbed.sim.common import json_column, open_db

ID_BASE = 5725767000000000000
"""Zoho record ids are 19-digit numbers; ours count up from here."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    email_key TEXT,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    converted INTEGER NOT NULL DEFAULT 0,
    deleted_ms INTEGER,
    parent_id INTEGER,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_id ON records (module, state, converted, id);
CREATE INDEX IF NOT EXISTS records_by_modified
    ON records (module, state, converted, modified_ms, id);
CREATE INDEX IF NOT EXISTS records_by_email ON records (module, email_key);
CREATE INDEX IF NOT EXISTS records_by_deleted ON records (module, state, deleted_ms, id);
CREATE INDEX IF NOT EXISTS records_by_parent ON records (parent_id, module);
CREATE TABLE IF NOT EXISTS relations (
    record_id INTEGER NOT NULL,
    related_list TEXT NOT NULL,
    related_id INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (record_id, related_list, related_id)
);
CREATE INDEX IF NOT EXISTS relations_reverse ON relations (related_id, related_list);
CREATE TABLE IF NOT EXISTS oauth_tokens (
    access_token TEXT PRIMARY KEY,
    refresh_token TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    channel_id TEXT PRIMARY KEY,
    expiry_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credit_usage (
    minute INTEGER PRIMARY KEY,
    used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    doc TEXT NOT NULL
);
"""


class RecordState(IntEnum):
    LIVE = 0
    RECYCLE_BIN = 1
    PERMANENTLY_DELETED = 2


def now_ms() -> int:
    return int(time.time() * 1000)


def zoho_time(ms: int) -> str:
    """Zoho's ISO-8601 with offset and whole seconds: ``2025-01-31T09:15:02+00:00``."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).isoformat(timespec="seconds")


def parse_zoho_time(text: str) -> int:
    """ISO-8601 (with offset; naive means UTC) → epoch milliseconds. Raises ValueError."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@dataclass(frozen=True)
class StoredRecord:
    id: int
    module: str
    state: RecordState
    converted: bool
    created_ms: int
    modified_ms: int
    deleted_ms: int | None
    parent_id: int | None
    doc: dict[str, Any]

    def as_api(self) -> dict[str, Any]:
        """The record as the API shows it: every stored field plus ``id``."""
        return {"id": str(self.id), **self.doc}


def _to_record(row: sqlite3.Row) -> StoredRecord:
    return StoredRecord(
        id=row["id"],
        module=row["module"],
        state=RecordState(row["state"]),
        converted=bool(row["converted"]),
        created_ms=row["created_ms"],
        modified_ms=row["modified_ms"],
        deleted_ms=row["deleted_ms"],
        parent_id=row["parent_id"],
        doc=json.loads(row["doc"]),
    )


@dataclass(frozen=True)
class NewRecord:
    """One row for :meth:`CrmStore.insert_many` (the seed's bulk path)."""

    module: str
    doc: dict[str, Any]
    email_key: str | None
    at_ms: int
    converted: bool = False
    parent_id: int | None = None


def _unicode_lower(value: str | float | None) -> str | float | None:
    return value.lower() if isinstance(value, str) else value


class CrmStore:
    """All SQL of the local Zoho CRM. One instance per server (and one per seed run)."""

    def __init__(self, path: Path) -> None:
        self.conn = open_db(path)
        # Zoho compares text case-insensitively in every script; SQLite's lower() only
        # lower-cases ASCII.
        self.conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.executescript(SCHEMA)
        self.conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'records', ? "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'records')",
            (ID_BASE,),
        )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def meta_default(self, key: str, default: str) -> str:
        """The stored value, storing ``default`` first if there is none."""
        self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, default))
        value = self.get_meta(key)
        assert value is not None
        return value

    # --- records ------------------------------------------------------------
    def insert(
        self,
        module: str,
        doc: dict[str, Any],
        email_key: str | None,
        at_ms: int,
        parent_id: int | None = None,
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO records (module, email_key, created_ms, modified_ms, parent_id, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (module, email_key, at_ms, at_ms, parent_id, json_column(doc)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def next_ids(self, count: int) -> list[int]:
        """Reserve ``count`` ids (the seed links records before inserting them)."""
        with self.transaction():
            row = self.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
            ).fetchone()
            start = int(row["seq"]) + 1
            self.conn.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = 'records'", (start + count - 1,)
            )
        return list(range(start, start + count))

    def insert_many_with_ids(self, rows: Sequence[tuple[int, NewRecord]]) -> None:
        self.conn.executemany(
            "INSERT INTO records (id, module, email_key, created_ms, modified_ms, converted, "
            "parent_id, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    i,
                    r.module,
                    r.email_key,
                    r.at_ms,
                    r.at_ms,
                    int(r.converted),
                    r.parent_id,
                    json_column(r.doc),
                )
                for i, r in rows
            ),
        )

    def replace_doc(
        self, record_id: int, doc: dict[str, Any], email_key: str | None, at_ms: int
    ) -> None:
        self.conn.execute(
            "UPDATE records SET doc = ?, email_key = ?, modified_ms = ? WHERE id = ?",
            (json_column(doc), email_key, at_ms, record_id),
        )

    def mark_converted(self, record_id: int, doc: dict[str, Any], at_ms: int) -> None:
        self.conn.execute(
            "UPDATE records SET converted = 1, doc = ?, modified_ms = ? WHERE id = ?",
            (json_column(doc), at_ms, record_id),
        )

    def set_state(self, record_ids: Sequence[int], state: RecordState, at_ms: int) -> None:
        self.conn.executemany(
            "UPDATE records SET state = ?, deleted_ms = ? WHERE id = ?",
            ((int(state), at_ms, record_id) for record_id in record_ids),
        )

    def get(self, module: str, record_id: int) -> StoredRecord | None:
        row = self.conn.execute(
            "SELECT * FROM records WHERE id = ? AND module = ?", (record_id, module)
        ).fetchone()
        return None if row is None else _to_record(row)

    def ids_by_email(self, module: str, email_key: str, limit: int = 2) -> list[int]:
        rows = self.conn.execute(
            "SELECT id FROM records WHERE module = ? AND email_key = ? AND state = 0 "
            "AND converted = 0 ORDER BY id LIMIT ?",
            (module, email_key, limit),
        )
        return [int(r["id"]) for r in rows]

    def ids_by_field(self, module: str, api_name: str, value: Any, limit: int = 2) -> list[int]:
        rows = self.conn.execute(
            "SELECT id FROM records WHERE module = ? AND state = 0 AND converted = 0 "
            "AND json_extract(doc, ?) = ? ORDER BY id LIMIT ?",
            (module, f"$.{api_name}", value, limit),
        )
        return [int(r["id"]) for r in rows]

    def select(
        self, where: str, params: Sequence[Any], order_by: str, limit: int, offset: int = 0
    ) -> list[StoredRecord]:
        """Rows matching a WHERE clause built by the caller from trusted fragments."""
        sql = f"SELECT * FROM records WHERE {where} ORDER BY {order_by} LIMIT ? OFFSET ?"
        return [_to_record(r) for r in self.conn.execute(sql, (*params, limit, offset))]

    def exists(self, where: str, params: Sequence[Any]) -> bool:
        sql = f"SELECT 1 FROM records WHERE {where} LIMIT 1"
        return self.conn.execute(sql, tuple(params)).fetchone() is not None

    def count(self, where: str, params: Sequence[Any]) -> int:
        row = self.conn.execute(f"SELECT count(*) AS n FROM records WHERE {where}", tuple(params))
        return int(row.fetchone()["n"])

    # --- relations (related lists that link two records) ---------------------
    def relate(
        self, record_id: int, related_list: str, related_id: int, doc: dict[str, Any]
    ) -> None:
        self.conn.execute(
            "INSERT INTO relations (record_id, related_list, related_id, doc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (record_id, related_list, related_id) DO UPDATE SET doc = excluded.doc",
            (record_id, related_list, related_id, json_column(doc)),
        )

    def relate_many(self, rows: Iterable[tuple[int, str, int, dict[str, Any]]]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO relations (record_id, related_list, related_id, doc) "
            "VALUES (?, ?, ?, ?)",
            ((a, b, c, json_column(d)) for a, b, c, d in rows),
        )

    def unrelate(self, record_id: int, related_list: str, related_id: int) -> bool:
        cursor = self.conn.execute(
            "DELETE FROM relations WHERE record_id = ? AND related_list = ? AND related_id = ?",
            (record_id, related_list, related_id),
        )
        return cursor.rowcount > 0

    def relations(
        self, record_id: int, related_list: str, limit: int, offset: int
    ) -> list[tuple[int, dict[str, Any]]]:
        rows = self.conn.execute(
            "SELECT related_id, doc FROM relations WHERE record_id = ? AND related_list = ? "
            "ORDER BY related_id LIMIT ? OFFSET ?",
            (record_id, related_list, limit, offset),
        )
        return [(int(r["related_id"]), json.loads(r["doc"])) for r in rows]

    def members(
        self, related_id: int, related_list: str, module: str, limit: int, offset: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """The reverse of :meth:`relations`: records of ``module`` linked to ``related_id``."""
        rows = self.conn.execute(
            "SELECT l.record_id, l.doc FROM relations l JOIN records r ON r.id = l.record_id "
            "WHERE l.related_id = ? AND l.related_list = ? AND r.module = ? "
            "ORDER BY l.record_id LIMIT ? OFFSET ?",
            (related_id, related_list, module, limit, offset),
        )
        return [(int(r["record_id"]), json.loads(r["doc"])) for r in rows]

    # --- OAuth tokens ---------------------------------------------------------
    def save_access_token(self, access_token: str, refresh_token: str, expires_ms: int) -> None:
        self.conn.execute(
            "INSERT INTO oauth_tokens (access_token, refresh_token, expires_ms) VALUES (?, ?, ?)",
            (access_token, refresh_token, expires_ms),
        )

    def access_token_expiry(self, access_token: str) -> int | None:
        row = self.conn.execute(
            "SELECT expires_ms FROM oauth_tokens WHERE access_token = ?", (access_token,)
        ).fetchone()
        return None if row is None else int(row["expires_ms"])

    def expire_access_tokens(self) -> None:
        self.conn.execute("UPDATE oauth_tokens SET expires_ms = 0")

    # --- notification channels -------------------------------------------------
    def save_channel(self, channel_id: str, expiry_ms: int, doc: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO channels (channel_id, expiry_ms, doc) VALUES (?, ?, ?) "
            "ON CONFLICT (channel_id) DO UPDATE SET expiry_ms = excluded.expiry_ms, "
            "doc = excluded.doc",
            (channel_id, expiry_ms, json_column(doc)),
        )

    def channels(self, live_at_ms: int | None = None) -> list[dict[str, Any]]:
        if live_at_ms is None:
            rows = self.conn.execute("SELECT doc FROM channels ORDER BY channel_id")
        else:
            rows = self.conn.execute(
                "SELECT doc FROM channels WHERE expiry_ms > ? ORDER BY channel_id", (live_at_ms,)
            )
        return [json.loads(r["doc"]) for r in rows]

    def delete_channel(self, channel_id: str) -> bool:
        cursor = self.conn.execute("DELETE FROM channels WHERE channel_id = ?", (channel_id,))
        return cursor.rowcount > 0

    # --- API credits ---------------------------------------------------------
    def add_credits(self, minute: int, used: int) -> None:
        self.conn.execute(
            "INSERT INTO credit_usage (minute, used) VALUES (?, ?) "
            "ON CONFLICT (minute) DO UPDATE SET used = used + excluded.used",
            (minute, used),
        )

    def credits_used_since(self, minute: int) -> int:
        row = self.conn.execute(
            "SELECT coalesce(sum(used), 0) AS n FROM credit_usage WHERE minute >= ?", (minute,)
        ).fetchone()
        return int(row["n"])

    def reset_credits(self) -> None:
        self.conn.execute("DELETE FROM credit_usage")

    # --- users ---------------------------------------------------------------
    def save_user(self, user_id: int, doc: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO users (id, doc) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
            (user_id, json_column(doc)),
        )

    def users(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT doc FROM users ORDER BY id")
        return [json.loads(r["doc"]) for r in rows]
