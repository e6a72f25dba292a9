"""E-commerce stores and their customers (``/ecommerce/stores``, ``…/customers``).

A store is tied to one audience (``list_id``, which never changes). Customers belong to a
store and are keyed by the id the store gives them; carts (``carts.py``) name one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from crmsync_testbed.sim.addresses import mailchimp_accepts
from crmsync_testbed.sim.mailchimp import errors, rest
from crmsync_testbed.sim.mailchimp.lookups import require_list, require_row
from crmsync_testbed.sim.mailchimp.store import dump, load, now_iso

STORE_TEXT = (
    "name",
    "platform",
    "domain",
    "email_address",
    "currency_code",
    "money_format",
    "primary_locale",
    "timezone",
    "phone",
)
CUSTOMER_TEXT = ("company", "first_name", "last_name")
MAX_CUSTOMER_ID = 50


def require_store(db: sqlite3.Connection, store_id: str) -> sqlite3.Row:
    return require_row(db, "SELECT * FROM stores WHERE id = ?", (store_id,))


def _text_fields(body: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        if name in body:
            if not isinstance(body[name], str):
                raise errors.field_errors(
                    [{"field": name, "message": "Schema describes string, other type found"}]
                )
            out[name] = body[name]
    return out


def _address(body: Mapping[str, Any]) -> dict[str, Any] | None:
    given = body.get("address")
    if given is None:
        return None
    if not isinstance(given, dict):
        raise errors.field_errors(
            [{"field": "address", "message": "Schema describes object, other type found"}]
        )
    return dict(given)


# --- stores ---------------------------------------------------------------------------


def render_store(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    doc = load(row["doc"])
    active = db.execute("SELECT 1 FROM lists WHERE id = ?", (row["list_id"],)).fetchone()
    store: dict[str, Any] = {
        "id": row["id"],
        "list_id": row["list_id"],
        **{name: doc.get(name, "") for name in STORE_TEXT},
        "is_syncing": bool(doc.get("is_syncing", False)),
        "address": doc.get("address") or {},
        "list_is_active": active is not None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "_links": [],
    }
    return store


def _check_domain(db: sqlite3.Connection, domain: str, store_id: str) -> None:
    if (
        domain
        and db.execute(
            "SELECT 1 FROM stores WHERE domain = ? AND id != ?", (domain, store_id)
        ).fetchone()
    ):
        raise errors.bad_request("A store with this domain already exists in this account.")


def _store_doc(body: Mapping[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    doc.update(_text_fields(body, STORE_TEXT))
    if "is_syncing" in body:
        doc["is_syncing"] = bool(body["is_syncing"])
    address = _address(body)
    if address is not None:
        doc["address"] = address
    return doc


def list_stores(call: rest.Call) -> rest.Reply:
    page = rest.Page.of(call)
    rows = call.db.execute(f"SELECT * FROM stores ORDER BY rowid{page.sql}").fetchall()
    total = call.db.execute("SELECT COUNT(*) FROM stores").fetchone()[0]
    return rest.Reply(rest.collection("stores", [render_store(call.db, r) for r in rows], total))


def create_store(call: rest.Call) -> rest.Reply:
    body = call.object_body()
    rest.require(body, "id", "list_id", "name", "currency_code")
    store_id, list_id = str(body["id"]), str(body["list_id"])
    require_list(call.db, list_id)
    if call.db.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone():
        raise errors.bad_request("A store with the provided ID already exists in this account.")
    doc = _store_doc(body, {})
    _check_domain(call.db, doc.get("domain", ""), store_id)
    stamp = now_iso()
    call.db.execute(
        "INSERT INTO stores (id, list_id, domain, created_at, updated_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (store_id, list_id, doc.get("domain", ""), stamp, stamp, dump(doc)),
    )
    return rest.Reply(render_store(call.db, require_store(call.db, store_id)))


def get_store(call: rest.Call) -> rest.Reply:
    return rest.Reply(render_store(call.db, require_store(call.db, call.params["store_id"])))


def update_store(call: rest.Call) -> rest.Reply:
    row = require_store(call.db, call.params["store_id"])
    doc = _store_doc(call.object_body(), load(row["doc"]))
    _check_domain(call.db, doc.get("domain", ""), row["id"])
    call.db.execute(
        "UPDATE stores SET doc = ?, domain = ?, updated_at = ? WHERE id = ?",
        (dump(doc), doc.get("domain", ""), now_iso(), row["id"]),
    )
    return rest.Reply(render_store(call.db, require_store(call.db, row["id"])))


def delete_store(call: rest.Call) -> rest.Reply:
    row = require_store(call.db, call.params["store_id"])
    call.db.execute("DELETE FROM stores WHERE id = ?", (row["id"],))
    return rest.no_content()


# --- customers ------------------------------------------------------------------------


def find_customer(db: sqlite3.Connection, store_id: str, customer_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM store_customers WHERE store_id = ? AND id = ?", (store_id, customer_id)
    ).fetchone()
    return row


def render_customer(row: sqlite3.Row) -> dict[str, Any]:
    doc = load(row["doc"])
    return {
        "id": row["id"],
        "email_address": row["email"],
        "opt_in_status": bool(doc.get("opt_in_status", False)),
        **{name: doc.get(name, "") for name in CUSTOMER_TEXT},
        "orders_count": 0,
        "total_spent": 0,
        "address": doc.get("address") or {},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "_links": [],
    }


def _customer_doc(body: Mapping[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    doc.update(_text_fields(body, CUSTOMER_TEXT))
    if "opt_in_status" in body:
        if not isinstance(body["opt_in_status"], bool):
            raise errors.field_errors(
                [{"field": "opt_in_status", "message": "Schema describes boolean"}]
            )
        doc["opt_in_status"] = body["opt_in_status"]
    address = _address(body)
    if address is not None:
        doc["address"] = address
    return doc


def _customer_email(body: Mapping[str, Any]) -> str:
    email = body.get("email_address")
    if not isinstance(email, str) or not mailchimp_accepts(email.strip()):
        raise errors.invalid_email()
    return email.strip()


def _customer_id(value: Any) -> str:
    customer_id = str(value)
    if len(customer_id) > MAX_CUSTOMER_ID:
        raise errors.field_errors(
            [{"field": "id", "message": "The customer id is limited to 50 characters."}]
        )
    return customer_id


def insert_customer(
    db: sqlite3.Connection, store_id: str, customer_id: str, body: Mapping[str, Any]
) -> sqlite3.Row:
    """A new customer from ``body`` (``email_address`` required, a valid address)."""
    email = _customer_email(body)
    doc = _customer_doc(body, {"opt_in_status": False})
    stamp = now_iso()
    db.execute(
        "INSERT INTO store_customers (store_id, id, email, created_at, updated_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (store_id, customer_id, email, stamp, stamp, dump(doc)),
    )
    row = find_customer(db, store_id, customer_id)
    assert row is not None
    return row


def update_customer(
    db: sqlite3.Connection, row: sqlite3.Row, body: Mapping[str, Any], email: str | None = None
) -> sqlite3.Row:
    doc = _customer_doc(body, load(row["doc"]))
    db.execute(
        "UPDATE store_customers SET doc = ?, email = ?, updated_at = ?"
        " WHERE store_id = ? AND id = ?",
        (dump(doc), email or row["email"], now_iso(), row["store_id"], row["id"]),
    )
    found = find_customer(db, row["store_id"], row["id"])
    assert found is not None
    return found


def list_customers(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    page = rest.Page.of(call)
    where, args = "store_id = ?", [store["id"]]
    if call.query.get("email_address"):
        where += " AND lower(email) = ?"
        args.append(call.query["email_address"].strip().lower())
    rows = call.db.execute(
        f"SELECT * FROM store_customers WHERE {where} ORDER BY rowid{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*) FROM store_customers WHERE {where}", args).fetchone()
    return rest.Reply(
        rest.collection(
            "customers", [render_customer(r) for r in rows], total[0], store_id=store["id"]
        )
    )


def create_customer(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    body = call.object_body()
    rest.require(body, "id", "email_address")
    if "opt_in_status" not in body:
        raise errors.missing_fields("opt_in_status")
    customer_id = _customer_id(body["id"])
    if find_customer(call.db, store["id"], customer_id) is not None:
        raise errors.bad_request("A customer with the provided ID already exists in this store.")
    return rest.Reply(render_customer(insert_customer(call.db, store["id"], customer_id, body)))


def get_customer(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    row = find_customer(call.db, store["id"], call.params["customer_id"])
    if row is None:
        raise errors.not_found()
    return rest.Reply(render_customer(row))


def put_customer(call: rest.Call) -> rest.Reply:
    """Add or update: the path's id wins; ``email_address`` and ``opt_in_status`` required."""
    store = require_store(call.db, call.params["store_id"])
    body = call.object_body()
    rest.require(body, "id", "email_address")
    if "opt_in_status" not in body:
        raise errors.missing_fields("opt_in_status")
    customer_id = _customer_id(call.params["customer_id"])
    row = find_customer(call.db, store["id"], customer_id)
    if row is None:
        return rest.Reply(render_customer(insert_customer(call.db, store["id"], customer_id, body)))
    return rest.Reply(render_customer(update_customer(call.db, row, body, _customer_email(body))))


def patch_customer(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    row = find_customer(call.db, store["id"], call.params["customer_id"])
    if row is None:
        raise errors.not_found()
    return rest.Reply(render_customer(update_customer(call.db, row, call.object_body())))


def delete_customer(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    row = find_customer(call.db, store["id"], call.params["customer_id"])
    if row is None:
        raise errors.not_found()
    key = (store["id"], row["id"])
    call.db.execute("DELETE FROM carts WHERE store_id = ? AND customer_id = ?", key)
    call.db.execute("DELETE FROM store_customers WHERE store_id = ? AND id = ?", key)
    return rest.no_content()


STORE = "/ecommerce/stores/{store_id}"
CUSTOMER = f"{STORE}/customers/{{customer_id}}"
ROUTES = [
    rest.get("/ecommerce/stores", list_stores),
    rest.post("/ecommerce/stores", create_store),
    rest.get(STORE, get_store),
    rest.patch(STORE, update_store),
    rest.delete(STORE, delete_store),
    rest.get(f"{STORE}/customers", list_customers),
    rest.post(f"{STORE}/customers", create_customer),
    rest.get(CUSTOMER, get_customer),
    rest.put(CUSTOMER, put_customer),
    rest.patch(CUSTOMER, patch_customer),
    rest.delete(CUSTOMER, delete_customer),
]
