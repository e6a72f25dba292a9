"""Audiences (``/lists``): create, read, update, delete, with live member statistics."""

from __future__ import annotations

import sqlite3
from typing import Any

from crmsync_testbed.sim.mailchimp import errors, mergefields, rest
from crmsync_testbed.sim.mailchimp.lookups import member_hash, require_list
from crmsync_testbed.sim.mailchimp.store import dump, load, new_hex_id, new_web_id, now_iso
from crmsync_testbed.sim.mailchimp.timefilters import TimeFilter, time_clauses

EDITABLE = (
    "name",
    "contact",
    "permission_reminder",
    "use_archive_bar",
    "campaign_defaults",
    "notify_on_subscribe",
    "notify_on_unsubscribe",
    "email_type_option",
    "double_optin",
    "marketing_permissions",
    "visibility",
)
MAX_LISTS = 100


def _check_list_body(body: dict[str, Any]) -> None:
    """The spec requires the whole audience on create and on PATCH alike."""
    rest.require(body, "name", "contact", "permission_reminder", "campaign_defaults")
    if "email_type_option" not in body:
        raise errors.missing_fields("email_type_option")
    for key, required in (
        ("contact", ("company", "address1", "city", "country")),
        ("campaign_defaults", ("from_name", "from_email", "subject", "language")),
    ):
        if key in body:
            if not isinstance(body[key], dict):
                raise errors.field_errors([{"field": key, "message": "Schema describes object"}])
            missing = [f"{key}.{name}" for name in required if not body[key].get(name)]
            if missing:
                raise errors.missing_fields(*missing)


def insert_list(db: sqlite3.Connection, list_id: str, body: dict[str, Any]) -> None:
    """Insert an audience with Mailchimp's default FNAME/LNAME merge fields."""
    _check_list_body(body)
    doc = {key: body[key] for key in EDITABLE if key in body}
    doc.setdefault("use_archive_bar", False)
    doc.setdefault("notify_on_subscribe", "")
    doc.setdefault("notify_on_unsubscribe", "")
    doc.setdefault("double_optin", False)
    doc.setdefault("marketing_permissions", False)
    doc.setdefault("visibility", "pub")
    db.execute(
        "INSERT INTO lists (id, web_id, date_created, doc) VALUES (?, ?, ?, ?)",
        (list_id, new_web_id(), now_iso(), dump(doc)),
    )
    for tag, name, field_type in mergefields.DEFAULT_FIELDS:
        mergefields.add_field(db, list_id, {"tag": tag, "name": name, "type": field_type})


def stats(db: sqlite3.Connection, list_id: str) -> dict[str, Any]:
    counts = dict(
        db.execute(
            "SELECT status, COUNT(*) FROM members WHERE list_id = ? GROUP BY status", (list_id,)
        ).fetchall()
    )
    merge_field_count = db.execute(
        "SELECT COUNT(*) FROM merge_fields WHERE list_id = ?", (list_id,)
    ).fetchone()[0]
    campaigns = db.execute(
        "SELECT COUNT(*), MAX(json_extract(doc, '$.send_time')) FROM campaigns"
        " WHERE json_extract(doc, '$.recipients.list_id') = ?"
        " AND json_extract(doc, '$.status') = 'sent'",
        (list_id,),
    ).fetchone()
    result: dict[str, Any] = {
        "member_count": counts.get("subscribed", 0),
        "total_contacts": sum(n for status, n in counts.items() if status != "archived"),
        "unsubscribe_count": counts.get("unsubscribed", 0),
        "cleaned_count": counts.get("cleaned", 0),
        "member_count_since_send": counts.get("subscribed", 0),
        "unsubscribe_count_since_send": counts.get("unsubscribed", 0),
        "cleaned_count_since_send": counts.get("cleaned", 0),
        "campaign_count": campaigns[0],
        "merge_field_count": merge_field_count,
        "avg_sub_rate": 0,
        "avg_unsub_rate": 0,
        "target_sub_rate": 0,
        "open_rate": 0,
        "click_rate": 0,
    }
    if campaigns[1]:
        result["campaign_last_sent"] = campaigns[1]
    return result


def render(db: sqlite3.Connection, row: sqlite3.Row, base_url: str) -> dict[str, Any]:
    doc = load(row["doc"])
    return {
        "id": row["id"],
        "web_id": row["web_id"],
        **doc,
        "date_created": row["date_created"],
        "list_rating": 0,
        "subscribe_url_short": f"{base_url}/eepurl/{row['id']}",
        "subscribe_url_long": f"{base_url}/subscribe?u=crmsync&id={row['id']}",
        "beamer_address": f"us1-{row['id']}@inbound.mailchimp.test",
        "has_welcome": False,
        "modules": [],
        "stats": stats(db, row["id"]),
        "_links": [],
    }


LAST_SENT = (
    "(SELECT MAX(json_extract(c.doc, '$.send_time')) FROM campaigns c"
    " WHERE json_extract(c.doc, '$.recipients.list_id') = lists.id"
    " AND json_extract(c.doc, '$.status') = 'sent')"
)
"""A list's ``stats.campaign_last_sent``."""
TIME_FILTERS: tuple[TimeFilter, ...] = (
    ("since_date_created", "date_created >= ?"),
    ("before_date_created", "date_created <= ?"),
    ("since_campaign_last_sent", f"{LAST_SENT} >= ?"),
    ("before_campaign_last_sent", f"{LAST_SENT} <= ?"),
)


def list_lists(call: rest.Call) -> rest.Reply:
    page = rest.Page.of(call)
    clauses, args = time_clauses(call, TIME_FILTERS)
    if "email" in call.query:
        clauses.append("id IN (SELECT list_id FROM members WHERE hash = ?)")
        args.append(member_hash(call.query["email"]))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    direction = "DESC" if call.query.get("sort_dir") == "DESC" else "ASC"
    rows = call.db.execute(
        f"SELECT * FROM lists{where} ORDER BY date_created {direction}, rowid{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*) FROM lists{where}", args).fetchone()[0]
    items = [render(call.db, row, call.base_url) for row in rows]
    body = rest.collection("lists", items, total)
    body["constraints"] = {
        "may_create": total < MAX_LISTS,
        "max_instances": MAX_LISTS,
        "current_total_instances": total,
    }
    return rest.Reply(body)


def create_list(call: rest.Call) -> rest.Reply:
    list_id = new_hex_id()
    insert_list(call.db, list_id, call.object_body())
    return rest.Reply(render(call.db, require_list(call.db, list_id), call.base_url))


def get_list(call: rest.Call) -> rest.Reply:
    return rest.Reply(render(call.db, require_list(call.db, call.params["list_id"]), call.base_url))


def update_list(call: rest.Call) -> rest.Reply:
    row = require_list(call.db, call.params["list_id"])
    body = call.object_body()
    _check_list_body(body)
    doc = load(row["doc"])
    doc.update({key: body[key] for key in EDITABLE if key in body})
    call.db.execute("UPDATE lists SET doc = ? WHERE id = ?", (dump(doc), row["id"]))
    return rest.Reply(render(call.db, require_list(call.db, row["id"]), call.base_url))


def delete_list(call: rest.Call) -> rest.Reply:
    row = require_list(call.db, call.params["list_id"])
    for table in ("members", "forgotten_emails", "segment_members", "campaign_activity"):
        call.db.execute(f"DELETE FROM {table} WHERE list_id = ?", (row["id"],))
    call.db.execute("DELETE FROM lists WHERE id = ?", (row["id"],))
    return rest.no_content()


ROUTES = [
    rest.get("/lists", list_lists),
    rest.post("/lists", create_list),
    rest.get("/lists/{list_id}", get_list),
    rest.patch("/lists/{list_id}", update_list),
    rest.delete("/lists/{list_id}", delete_list),
]
