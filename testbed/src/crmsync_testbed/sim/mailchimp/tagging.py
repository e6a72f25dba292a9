"""Tags are static segments in Mailchimp: one table serves both (storage helpers only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from crmsync_testbed.sim.mailchimp.store import now_iso


def find_tag(db: sqlite3.Connection, list_id: str, name: str) -> int | None:
    row = db.execute(
        "SELECT id FROM segments WHERE list_id = ? AND name = ? AND type = 'static'",
        (list_id, name),
    ).fetchone()
    return None if row is None else int(row["id"])


def create_segment(
    db: sqlite3.Connection, list_id: str, name: str, segment_type: str, options: str = "{}"
) -> int:
    stamp = now_iso()
    cursor = db.execute(
        "INSERT INTO segments (list_id, name, type, created_at, updated_at, options)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (list_id, name, segment_type, stamp, stamp, options),
    )
    return int(cursor.lastrowid or 0)


def ensure_tag(db: sqlite3.Connection, list_id: str, name: str) -> int:
    found = find_tag(db, list_id, name)
    return found if found is not None else create_segment(db, list_id, name, "static")


def add_members(
    db: sqlite3.Connection, segment_id: int, list_id: str, hashes: Iterable[str]
) -> int:
    stamp = now_iso()
    db.execute("UPDATE segments SET updated_at = ? WHERE id = ?", (stamp, segment_id))
    before = db.total_changes
    db.executemany(
        "INSERT OR IGNORE INTO segment_members (segment_id, list_id, hash, date_added)"
        " VALUES (?, ?, ?, ?)",
        [(segment_id, list_id, h, stamp) for h in hashes],
    )
    return db.total_changes - before


def remove_members(db: sqlite3.Connection, segment_id: int, hashes: Iterable[str]) -> int:
    before = db.total_changes
    db.executemany(
        "DELETE FROM segment_members WHERE segment_id = ? AND hash = ?",
        [(segment_id, h) for h in hashes],
    )
    return db.total_changes - before


def set_member_tags(
    db: sqlite3.Connection, list_id: str, hash_: str, active: Iterable[str], inactive: Iterable[str]
) -> None:
    for name in active:
        add_members(db, ensure_tag(db, list_id, name), list_id, [hash_])
    for name in inactive:
        tag_id = find_tag(db, list_id, name)
        if tag_id is not None:
            remove_members(db, tag_id, [hash_])


def tags_by_member(
    db: sqlite3.Connection, list_id: str, hashes: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """``{hash: [{"id", "name", "date_added"}]}`` for the given members, in one query."""
    found: dict[str, list[dict[str, Any]]] = {h: [] for h in hashes}
    if not hashes:
        return found
    marks = ",".join("?" * len(hashes))
    rows = db.execute(
        "SELECT sm.hash, s.id, s.name, sm.date_added FROM segment_members sm"
        " JOIN segments s ON s.id = sm.segment_id"
        f" WHERE sm.list_id = ? AND s.type = 'static' AND sm.hash IN ({marks})"
        " ORDER BY s.id",
        [list_id, *hashes],
    ).fetchall()
    for row in rows:
        found[row["hash"]].append(
            {"id": row["id"], "name": row["name"], "date_added": row["date_added"]}
        )
    return found


def forget_member(db: sqlite3.Connection, list_id: str, hash_: str) -> None:
    db.execute("DELETE FROM segment_members WHERE list_id = ? AND hash = ?", (list_id, hash_))
