"""Interest categories and interests ("groups") of an audience."""

from __future__ import annotations

import sqlite3
from typing import Any

from crmsync_testbed.sim.mailchimp import rest
from crmsync_testbed.sim.mailchimp.lookups import require_list, require_row
from crmsync_testbed.sim.mailchimp.store import dump, load, new_hex_id

CATEGORY_TYPES = ("checkboxes", "dropdown", "radio", "hidden")
CATEGORY = "/lists/{list_id}/interest-categories/{interest_category_id}"
INTEREST = f"{CATEGORY}/interests/{{interest_id}}"


def _category(call: rest.Call) -> sqlite3.Row:
    require_list(call.db, call.params["list_id"])
    return require_row(
        call.db,
        "SELECT * FROM interest_categories WHERE id = ? AND list_id = ?",
        (call.params["interest_category_id"], call.params["list_id"]),
    )


def _interest(call: rest.Call) -> sqlite3.Row:
    category = _category(call)
    return require_row(
        call.db,
        "SELECT * FROM interests WHERE id = ? AND category_id = ?",
        (call.params["interest_id"], category["id"]),
    )


def _render_category(row: sqlite3.Row) -> dict[str, Any]:
    return {"list_id": row["list_id"], "id": row["id"], **load(row["doc"]), "_links": []}


def _render_interest(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    subscribers = db.execute(
        "SELECT COUNT(*) FROM members WHERE list_id = ? AND status = 'subscribed'"
        " AND json_extract(doc, '$.interests.\"' || ? || '\"') = 1",
        (row["list_id"], row["id"]),
    ).fetchone()[0]
    return {
        "category_id": row["category_id"],
        "list_id": row["list_id"],
        "id": row["id"],
        **load(row["doc"]),
        "subscriber_count": str(subscribers),
        "_links": [],
    }


def _paged(
    call: rest.Call, table: str, where: str, args: list[Any]
) -> tuple[list[sqlite3.Row], int]:
    page = rest.Page.of(call)
    rows = call.db.execute(
        f"SELECT * FROM {table} WHERE {where} ORDER BY rowid{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args).fetchone()[0]
    return rows, total


def list_categories(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    rows, total = _paged(call, "interest_categories", "list_id = ?", [list_id])
    items = [_render_category(row) for row in rows]
    return rest.Reply(rest.collection("categories", items, total, list_id=list_id))


def create_category(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    body = call.object_body()
    rest.require(body, "title", "type")
    rest.require_enum(body, "type", CATEGORY_TYPES)
    doc = {
        "title": body["title"],
        "display_order": int(body.get("display_order", 0)),
        "type": body["type"],
    }
    category_id = new_hex_id()
    call.db.execute(
        "INSERT INTO interest_categories (id, list_id, doc) VALUES (?, ?, ?)",
        (category_id, list_id, dump(doc)),
    )
    call.params = {**call.params, "interest_category_id": category_id}
    return rest.Reply(_render_category(_category(call)))


def get_category(call: rest.Call) -> rest.Reply:
    return rest.Reply(_render_category(_category(call)))


def update_category(call: rest.Call) -> rest.Reply:
    row = _category(call)
    body = call.object_body()
    rest.require(body, "title", "type")  # required on PATCH too, per the spec
    rest.require_enum(body, "type", CATEGORY_TYPES)
    doc = {
        **load(row["doc"]),
        **{k: body[k] for k in ("title", "display_order", "type") if k in body},
    }
    call.db.execute("UPDATE interest_categories SET doc = ? WHERE id = ?", (dump(doc), row["id"]))
    return rest.Reply(_render_category(_category(call)))


def delete_category(call: rest.Call) -> rest.Reply:
    row = _category(call)
    call.db.execute("DELETE FROM interest_categories WHERE id = ?", (row["id"],))
    return rest.no_content()


def list_interests(call: rest.Call) -> rest.Reply:
    category = _category(call)
    rows, total = _paged(call, "interests", "category_id = ?", [category["id"]])
    items = [_render_interest(call.db, row) for row in rows]
    return rest.Reply(
        rest.collection(
            "interests", items, total, list_id=category["list_id"], category_id=category["id"]
        )
    )


def create_interest(call: rest.Call) -> rest.Reply:
    category = _category(call)
    body = call.object_body()
    rest.require(body, "name")
    interest_id = new_hex_id()
    doc = {"name": body["name"], "display_order": int(body.get("display_order", 0))}
    call.db.execute(
        "INSERT INTO interests (id, category_id, list_id, doc) VALUES (?, ?, ?, ?)",
        (interest_id, category["id"], category["list_id"], dump(doc)),
    )
    call.params = {**call.params, "interest_id": interest_id}
    return rest.Reply(_render_interest(call.db, _interest(call)))


def get_interest(call: rest.Call) -> rest.Reply:
    return rest.Reply(_render_interest(call.db, _interest(call)))


def update_interest(call: rest.Call) -> rest.Reply:
    row = _interest(call)
    body = call.object_body()
    doc = {**load(row["doc"]), **{k: body[k] for k in ("name", "display_order") if k in body}}
    call.db.execute("UPDATE interests SET doc = ? WHERE id = ?", (dump(doc), row["id"]))
    return rest.Reply(_render_interest(call.db, _interest(call)))


def delete_interest(call: rest.Call) -> rest.Reply:
    row = _interest(call)
    call.db.execute("DELETE FROM interests WHERE id = ?", (row["id"],))
    return rest.no_content()


ROUTES = [
    rest.get("/lists/{list_id}/interest-categories", list_categories),
    rest.post("/lists/{list_id}/interest-categories", create_category),
    rest.get(CATEGORY, get_category),
    rest.patch(CATEGORY, update_category),
    rest.delete(CATEGORY, delete_category),
    rest.get(f"{CATEGORY}/interests", list_interests),
    rest.post(f"{CATEGORY}/interests", create_interest),
    rest.get(INTEREST, get_interest),
    rest.patch(INTEREST, update_interest),
    rest.delete(INTEREST, delete_interest),
]
