"""How a stored member reads over the API (the spec's ``List Members`` object)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crmsync_testbed.sim.mailchimp import mergefields, tagging
from crmsync_testbed.sim.mailchimp.store import load

EMPTY_LOCATION = {
    "latitude": 0,
    "longitude": 0,
    "gmtoff": 0,
    "dstoff": 0,
    "country_code": "",
    "timezone": "",
    "region": "",
}


def interest_ids(db: sqlite3.Connection, list_id: str) -> list[str]:
    rows = db.execute("SELECT id FROM interests WHERE list_id = ? ORDER BY rowid", (list_id,))
    return [row["id"] for row in rows]


@dataclass
class ListContext:
    """What rendering any member of one list needs, loaded once per request."""

    list_id: str
    merge_fields: list[dict[str, Any]]
    interest_ids: list[str]

    @classmethod
    def load(cls, db: sqlite3.Connection, list_id: str) -> ListContext:
        return cls(list_id, mergefields.definitions(db, list_id), interest_ids(db, list_id))


def render_members(
    db: sqlite3.Connection, context: ListContext, rows: Sequence[sqlite3.Row]
) -> list[dict[str, Any]]:
    tags = tagging.tags_by_member(db, context.list_id, [row["hash"] for row in rows])
    return [_render(context, row, tags[row["hash"]]) for row in rows]


def render_member(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    return render_members(db, ListContext.load(db, row["list_id"]), [row])[0]


def _render(context: ListContext, row: sqlite3.Row, tags: list[dict[str, Any]]) -> dict[str, Any]:
    doc = load(row["doc"])
    merge_values = doc.get("merge_fields", {})
    first, last = merge_values.get("FNAME", ""), merge_values.get("LNAME", "")
    member: dict[str, Any] = {
        "id": row["hash"],
        "email_address": row["email"],
        "unique_email_id": row["unique_email_id"],
        "contact_id": doc.get("contact_id", row["hash"]),
        "full_name": f"{first} {last}".strip(),
        "web_id": row["web_id"],
        "email_type": doc.get("email_type", "html"),
        "status": row["status"],
        "consents_to_one_to_one_messaging": True,
        "merge_fields": {
            field["tag"]: merge_values.get(field["tag"], "") for field in context.merge_fields
        },
        "interests": {
            interest: bool(doc.get("interests", {}).get(interest, False))
            for interest in context.interest_ids
        },
        "stats": doc.get("stats", {"avg_open_rate": 0, "avg_click_rate": 0}),
        "ip_signup": doc.get("ip_signup", ""),
        "timestamp_signup": row["timestamp_signup"],
        "ip_opt": doc.get("ip_opt", ""),
        "timestamp_opt": row["timestamp_opt"],
        "member_rating": doc.get("member_rating", 2),
        "last_changed": row["last_changed"],
        "language": doc.get("language", ""),
        "vip": bool(doc.get("vip", False)),
        "email_client": "",
        "location": {**EMPTY_LOCATION, **doc.get("location", {})},
        "marketing_permissions": doc.get("marketing_permissions", []),
        "source": doc.get("source", "API - Generic"),
        "tags_count": len(tags),
        "tags": [{"id": tag["id"], "name": tag["name"]} for tag in tags],
        "list_id": row["list_id"],
        "_links": [],
    }
    if row["status"] == "unsubscribed":
        member["unsubscribe_reason"] = doc.get("unsubscribe_reason", "")
    return member


def webhook_data(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """The ``data[...]`` part of subscribe/profile/unsubscribe/cleaned callbacks."""
    doc = load(row["doc"])
    merges = {"EMAIL": row["email"], **doc.get("merge_fields", {})}
    chosen = [key for key, on in doc.get("interests", {}).items() if on]
    if chosen:
        marks = ",".join("?" * len(chosen))
        names = db.execute(
            f"SELECT json_extract(doc, '$.name') FROM interests WHERE id IN ({marks})", chosen
        ).fetchall()
        merges["INTERESTS"] = ",".join(str(name[0]) for name in names)
    return {
        "id": row["unique_email_id"],
        "web_id": row["web_id"],
        "list_id": row["list_id"],
        "email": row["email"],
        "email_type": doc.get("email_type", "html"),
        "ip_opt": doc.get("ip_opt", ""),
        "ip_signup": doc.get("ip_signup", ""),
        "merges": merges,
    }
