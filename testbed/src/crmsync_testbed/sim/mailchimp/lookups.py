"""Finding the records a path names, or answering 404 the way Mailchimp does."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from crmsync_testbed.sim.mailchimp import errors
from crmsync_testbed.sim.mailchimp.store import subscriber_hash

MD5_HEX = re.compile(r"^[0-9a-f]{32}$")


def require_row(db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> sqlite3.Row:
    """The first row ``sql`` selects, or Mailchimp's 404."""
    row: sqlite3.Row | None = db.execute(sql, args).fetchone()
    if row is None:
        raise errors.not_found()
    return row


def require_list(db: sqlite3.Connection, list_id: str) -> sqlite3.Row:
    return require_row(db, "SELECT * FROM lists WHERE id = ?", (list_id,))


def member_hash(path_value: str) -> str:
    """The path's ``subscriber_hash`` may also be the address itself (the spec allows it)."""
    value = path_value.strip().lower()
    return value if MD5_HEX.match(value) else subscriber_hash(value)


def find_member(db: sqlite3.Connection, list_id: str, hash_: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM members WHERE list_id = ? AND hash = ?", (list_id, hash_)
    ).fetchone()
    return row


def require_member(db: sqlite3.Connection, list_id: str, path_value: str) -> sqlite3.Row:
    """A member of the list (archived ones included: they read as ``status: archived``)."""
    require_list(db, list_id)
    row = find_member(db, list_id, member_hash(path_value))
    if row is None:
        raise errors.not_found()
    return row
