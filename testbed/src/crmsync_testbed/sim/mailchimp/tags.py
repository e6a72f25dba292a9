"""Member tags, segments (static ones are tags) and tag search."""

from __future__ import annotations

import sqlite3
from typing import Any

from crmsync_testbed.sim.mailchimp import errors, rest, tagging
from crmsync_testbed.sim.mailchimp.lookups import (
    find_member,
    member_hash,
    require_list,
    require_member,
    require_row,
)
from crmsync_testbed.sim.mailchimp.member_view import ListContext, render_members
from crmsync_testbed.sim.mailchimp.store import dump, load, now_iso
from crmsync_testbed.sim.mailchimp.timefilters import TimeFilter, time_clauses

MAX_SEGMENT_BATCH = 500


# --- member tags --------------------------------------------------------------------------


def get_member_tags(call: rest.Call) -> rest.Reply:
    row = require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
    tags = tagging.tags_by_member(call.db, row["list_id"], [row["hash"]])[row["hash"]]
    page = rest.Page.of(call)
    return rest.Reply(
        rest.collection("tags", tags[page.offset : page.offset + page.count], len(tags))
    )


def post_member_tags(call: rest.Call) -> rest.Reply:
    row = require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
    body = call.object_body()
    tags = body.get("tags")
    if not isinstance(tags, list):
        raise errors.missing_fields("tags")
    for tag in tags:
        if not isinstance(tag, dict) or not tag.get("name"):
            raise errors.missing_fields("tags.name")
        rest.require(tag, "status")
        rest.require_enum(tag, "status", ("active", "inactive"))
    tagging.set_member_tags(
        call.db,
        row["list_id"],
        row["hash"],
        [str(t["name"]) for t in tags if t["status"] == "active"],
        [str(t["name"]) for t in tags if t["status"] == "inactive"],
    )
    return rest.no_content()


def search_tags(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    pattern = f"%{call.query.get('name', '')}%"
    rows = call.db.execute(
        "SELECT id, name FROM segments WHERE list_id = ? AND type = 'static' AND name LIKE ?"
        " ORDER BY name",
        (list_id, pattern),
    ).fetchall()
    tags = [{"id": row["id"], "name": row["name"]} for row in rows]
    return rest.Reply({"tags": tags, "total_items": len(tags)})


# --- segments -------------------------------------------------------------------------------


def _segment(call: rest.Call) -> sqlite3.Row:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    return require_row(
        call.db,
        "SELECT * FROM segments WHERE id = ? AND list_id = ?",
        (call.params["segment_id"], list_id),
    )


def _render_segment(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    count = db.execute(
        "SELECT COUNT(*) FROM segment_members sm JOIN members m"
        " ON m.list_id = sm.list_id AND m.hash = sm.hash"
        " WHERE sm.segment_id = ? AND m.status != 'archived'",
        (row["id"],),
    ).fetchone()[0]
    segment = {
        "id": row["id"],
        "name": row["name"],
        "member_count": count,
        "type": row["type"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "list_id": row["list_id"],
        "_links": [],
    }
    options = load(row["options"])
    if options:
        segment["options"] = options
    return segment


def _members_by_email(
    db: sqlite3.Connection, list_id: str, emails: Any
) -> tuple[list[str], list[str]]:
    """Split addresses into (hashes of list members, addresses that are not members)."""
    if not isinstance(emails, list):
        return [], []
    if len(emails) > MAX_SEGMENT_BATCH:
        raise errors.field_errors(
            [
                {
                    "field": "members_to_add",
                    "message": f"Array must contain at most {MAX_SEGMENT_BATCH} items",
                }
            ]
        )
    found, missing = [], []
    for email in map(str, emails):
        row = find_member(db, list_id, member_hash(email))
        if row is None or row["status"] == "archived":
            missing.append(email)
        else:
            found.append(row["hash"])
    return found, missing


SEGMENT_TIME_FILTERS: tuple[TimeFilter, ...] = (
    ("since_created_at", "created_at >= ?"),
    ("before_created_at", "created_at <= ?"),
    ("since_updated_at", "updated_at >= ?"),
    ("before_updated_at", "updated_at <= ?"),
)


def list_segments(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    page = rest.Page.of(call)
    clauses, time_args = time_clauses(call, SEGMENT_TIME_FILTERS)
    args: list[str] = [list_id, *time_args]
    if call.query.get("type"):
        clauses.append("type = ?")
        args.append(call.query["type"])
    where = " AND ".join(["list_id = ?", *clauses])
    rows = call.db.execute(
        f"SELECT * FROM segments WHERE {where} ORDER BY id{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*) FROM segments WHERE {where}", args).fetchone()[0]
    items = [_render_segment(call.db, row) for row in rows]
    return rest.Reply(rest.collection("segments", items, total, list_id=list_id))


def create_segment(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    body = call.object_body()
    rest.require(body, "name")
    if "options" in body:
        segment_id = tagging.create_segment(
            call.db, list_id, str(body["name"]), "saved", dump(body["options"])
        )
    else:
        segment_id = tagging.create_segment(call.db, list_id, str(body["name"]), "static")
        hashes, _ = _members_by_email(call.db, list_id, body.get("static_segment", []))
        tagging.add_members(call.db, segment_id, list_id, hashes)
    row = require_row(call.db, "SELECT * FROM segments WHERE id = ?", (segment_id,))
    return rest.Reply(_render_segment(call.db, row))


def get_segment(call: rest.Call) -> rest.Reply:
    return rest.Reply(_render_segment(call.db, _segment(call)))


def update_segment(call: rest.Call) -> rest.Reply:
    row = _segment(call)
    body = call.object_body()
    name = str(body.get("name") or row["name"])
    options = dump(body["options"]) if "options" in body else row["options"]
    call.db.execute(
        "UPDATE segments SET name = ?, options = ?, updated_at = ? WHERE id = ?",
        (name, options, now_iso(), row["id"]),
    )
    if row["type"] == "static" and "static_segment" in body:
        hashes, _ = _members_by_email(call.db, row["list_id"], body["static_segment"])
        call.db.execute("DELETE FROM segment_members WHERE segment_id = ?", (row["id"],))
        tagging.add_members(call.db, row["id"], row["list_id"], hashes)
    return rest.Reply(_render_segment(call.db, _segment(call)))


def delete_segment(call: rest.Call) -> rest.Reply:
    row = _segment(call)
    call.db.execute("DELETE FROM segment_members WHERE segment_id = ?", (row["id"],))
    call.db.execute("DELETE FROM segments WHERE id = ?", (row["id"],))
    return rest.no_content()


def batch_segment_members(call: rest.Call) -> rest.Reply:
    row = _segment(call)
    body = call.object_body()
    list_id = row["list_id"]
    to_add, add_missing = _members_by_email(call.db, list_id, body.get("members_to_add", []))
    to_remove, remove_missing = _members_by_email(
        call.db, list_id, body.get("members_to_remove", [])
    )
    tagging.add_members(call.db, row["id"], list_id, to_add)
    tagging.remove_members(call.db, row["id"], to_remove)
    failures = []
    if add_missing or remove_missing:
        failures.append(
            {
                "email_addresses": add_missing + remove_missing,
                "error": "Email addresses do not belong to list",
            }
        )
    context = ListContext.load(call.db, list_id)
    return rest.Reply(
        {
            "members_added": render_members(call.db, context, _rows(call.db, list_id, to_add)),
            "members_removed": render_members(call.db, context, _rows(call.db, list_id, to_remove)),
            "errors": failures,
            "total_added": len(to_add),
            "total_removed": len(to_remove),
            "error_count": len(add_missing) + len(remove_missing),
            "_links": [],
        }
    )


def _rows(db: sqlite3.Connection, list_id: str, hashes: list[str]) -> list[sqlite3.Row]:
    return [row for row in (find_member(db, list_id, h) for h in hashes) if row is not None]


def list_segment_members(call: rest.Call) -> rest.Reply:
    row = _segment(call)
    page = rest.Page.of(call)
    hidden = ["archived"]
    hidden += [] if call.flag("include_unsubscribed") else ["unsubscribed"]
    hidden += [] if call.flag("include_cleaned") else ["cleaned"]
    query = (
        " FROM members m JOIN segment_members sm ON m.list_id = sm.list_id AND m.hash = sm.hash"
        f" WHERE sm.segment_id = ? AND m.status NOT IN ({', '.join('?' for _ in hidden)})"
    )
    args = (row["id"], *hidden)
    rows = call.db.execute(f"SELECT m.*{query} ORDER BY m.rowid{page.sql}", args).fetchall()
    total = call.db.execute(f"SELECT COUNT(*){query}", args).fetchone()[0]
    items = render_members(call.db, ListContext.load(call.db, row["list_id"]), rows)
    return rest.Reply(rest.collection("members", items, total))


def add_segment_member(call: rest.Call) -> rest.Reply:
    row = _segment(call)
    body = call.object_body()
    rest.require(body, "email_address")
    member = require_member(call.db, row["list_id"], str(body["email_address"]))
    tagging.add_members(call.db, row["id"], row["list_id"], [member["hash"]])
    context = ListContext.load(call.db, row["list_id"])
    return rest.Reply(render_members(call.db, context, [member])[0])


def remove_segment_member(call: rest.Call) -> rest.Reply:
    row = _segment(call)
    member = require_member(call.db, row["list_id"], call.params["subscriber_hash"])
    tagging.remove_members(call.db, row["id"], [member["hash"]])
    return rest.no_content()


SEGMENT = "/lists/{list_id}/segments/{segment_id}"
ROUTES = [
    rest.get("/lists/{list_id}/members/{subscriber_hash}/tags", get_member_tags),
    rest.post("/lists/{list_id}/members/{subscriber_hash}/tags", post_member_tags),
    rest.get("/lists/{list_id}/tag-search", search_tags),
    rest.get("/lists/{list_id}/segments", list_segments),
    rest.post("/lists/{list_id}/segments", create_segment),
    rest.get(SEGMENT, get_segment),
    rest.patch(SEGMENT, update_segment),
    rest.delete(SEGMENT, delete_segment),
    rest.post(SEGMENT, batch_segment_members),
    rest.get(f"{SEGMENT}/members", list_segment_members),
    rest.post(f"{SEGMENT}/members", add_segment_member),
    rest.delete(f"{SEGMENT}/members/{{subscriber_hash}}", remove_segment_member),
]
