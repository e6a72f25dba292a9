"""A store's carts with their lines (``/ecommerce/stores/{store_id}/carts``).

A cart names its customer by id: an existing customer of the store, or a new one created
from the cart's ``customer`` object (then ``email_address`` is required, as on
``POST …/customers``). Every write sets ``updated_at``; the admin hook
``PUT /_admin/mailchimp/stores/{store_id}/carts/{cart_id}/times`` sets ``created_at`` and
``updated_at`` to given instants, so tests can make a cart old without waiting.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from crmsync_testbed.sim.mailchimp import errors, rest
from crmsync_testbed.sim.mailchimp.store import dump, load, normalise_timestamp, now_iso
from crmsync_testbed.sim.mailchimp.stores import (
    find_customer,
    insert_customer,
    render_customer,
    require_store,
    update_customer,
)

CART_TEXT = ("campaign_id", "checkout_url", "currency_code")
LINE_REQUIRED = ("id", "product_id", "product_variant_id", "quantity", "price")


def _find(db: sqlite3.Connection, store_id: str, cart_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM carts WHERE store_id = ? AND id = ?", (store_id, cart_id)
    ).fetchone()
    return row


def _require(db: sqlite3.Connection, store_id: str, cart_id: str) -> sqlite3.Row:
    row = _find(db, store_id, cart_id)
    if row is None:
        raise errors.not_found()
    return row


def _number(value: Any, field: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.field_errors([{"field": field, "message": "Schema describes number"}])
    return value


def _line(given: Any, index: int, *, need_id: bool) -> dict[str, Any]:
    where = f"lines.{index}"
    if not isinstance(given, dict):
        raise errors.field_errors([{"field": where, "message": "Schema describes object"}])
    missing = [n for n in LINE_REQUIRED if given.get(n) in (None, "") and (need_id or n != "id")]
    if missing:
        raise errors.missing_fields(*(f"{where}.{n}" for n in missing))
    quantity = given["quantity"]
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise errors.field_errors(
            [{"field": f"{where}.quantity", "message": "Schema describes integer"}]
        )
    return {
        "id": str(given.get("id") or f"line-{index + 1}"),
        "product_id": str(given["product_id"]),
        "product_variant_id": str(given["product_variant_id"]),
        "quantity": quantity,
        "price": _number(given["price"], f"{where}.price"),
    }


def _lines(given: Any, *, need_id: bool) -> list[dict[str, Any]]:
    if not isinstance(given, list):
        raise errors.field_errors([{"field": "lines", "message": "Schema describes array"}])
    lines = [_line(item, i, need_id=need_id) for i, item in enumerate(given)]
    ids = [line["id"] for line in lines]
    if len(set(ids)) != len(ids):
        raise errors.field_errors([{"field": "lines", "message": "Line ids must be unique."}])
    return lines


def _cart_fields(body: Mapping[str, Any], doc: dict[str, Any], *, need_line_ids: bool) -> None:
    for name in CART_TEXT:
        if name in body:
            if not isinstance(body[name], str):
                raise errors.field_errors([{"field": name, "message": "Schema describes string"}])
            doc[name] = body[name]
    for name in ("order_total", "tax_total"):
        if name in body:
            doc[name] = _number(body[name], name)
    if "lines" in body:
        doc["lines"] = _lines(body["lines"], need_id=need_line_ids)


def _customer(db: sqlite3.Connection, store_id: str, given: Any) -> str:
    """The id of the cart's customer: an existing one, or one created from ``given``."""
    if not isinstance(given, dict) or not given.get("id"):
        raise errors.missing_fields("customer.id")
    customer_id = str(given["id"])
    if find_customer(db, store_id, customer_id) is None:
        insert_customer(db, store_id, customer_id, given)
    return customer_id


def render_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """Products are not implemented: their titles are empty (Mailchimp fills them from the
    store's product)."""
    return {**line, "product_title": "", "product_variant_title": "", "_links": []}


def render(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    doc = load(row["doc"])
    customer = find_customer(db, row["store_id"], row["customer_id"])
    cart: dict[str, Any] = {
        "id": row["id"],
        "customer": render_customer(customer) if customer is not None else {"id": ""},
        **{name: doc.get(name, "") for name in CART_TEXT},
        "order_total": doc.get("order_total", 0),
        "tax_total": doc.get("tax_total", 0),
        "lines": [render_line(line) for line in doc.get("lines", [])],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "_links": [],
    }
    return cart


def list_carts(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    page = rest.Page.of(call)
    rows = call.db.execute(
        f"SELECT * FROM carts WHERE store_id = ? ORDER BY rowid{page.sql}", (store["id"],)
    ).fetchall()
    total = call.db.execute(
        "SELECT COUNT(*) FROM carts WHERE store_id = ?", (store["id"],)
    ).fetchone()[0]
    return rest.Reply(
        rest.collection("carts", [render(call.db, r) for r in rows], total, store_id=store["id"])
    )


def create_cart(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    body = call.object_body()
    rest.require(body, "id", "currency_code")
    for name in ("customer", "order_total", "lines"):
        if name not in body:
            raise errors.missing_fields(name)
    cart_id = str(body["id"])
    if _find(call.db, store["id"], cart_id) is not None:
        raise errors.bad_request("A cart with the provided ID already exists in this store.")
    doc: dict[str, Any] = {}
    _cart_fields(body, doc, need_line_ids=True)
    customer_id = _customer(call.db, store["id"], body["customer"])
    stamp = now_iso()
    call.db.execute(
        "INSERT INTO carts (store_id, id, customer_id, created_at, updated_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (store["id"], cart_id, customer_id, stamp, stamp, dump(doc)),
    )
    return rest.Reply(render(call.db, _require(call.db, store["id"], cart_id)))


def get_cart(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    return rest.Reply(render(call.db, _require(call.db, store["id"], call.params["cart_id"])))


def update_cart(call: rest.Call) -> rest.Reply:
    """PATCH: the given fields; ``lines`` replaces the lines (ids optional, kept when given);
    ``customer`` updates the cart's customer's details."""
    store = require_store(call.db, call.params["store_id"])
    row = _require(call.db, store["id"], call.params["cart_id"])
    body = call.object_body()
    doc = load(row["doc"])
    _cart_fields(body, doc, need_line_ids=False)
    if isinstance(body.get("customer"), dict):
        customer = find_customer(call.db, store["id"], row["customer_id"])
        if customer is not None:
            update_customer(call.db, customer, body["customer"])
    call.db.execute(
        "UPDATE carts SET doc = ?, updated_at = ? WHERE store_id = ? AND id = ?",
        (dump(doc), now_iso(), store["id"], row["id"]),
    )
    return rest.Reply(render(call.db, _require(call.db, store["id"], row["id"])))


def delete_cart(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    row = _require(call.db, store["id"], call.params["cart_id"])
    call.db.execute("DELETE FROM carts WHERE store_id = ? AND id = ?", (store["id"], row["id"]))
    return rest.no_content()


def list_lines(call: rest.Call) -> rest.Reply:
    store = require_store(call.db, call.params["store_id"])
    row = _require(call.db, store["id"], call.params["cart_id"])
    page = rest.Page.of(call)
    lines = load(row["doc"]).get("lines", [])
    shown = [render_line(line) for line in lines[page.offset : page.offset + page.count]]
    return rest.Reply(
        rest.collection("lines", shown, len(lines), store_id=store["id"], cart_id=row["id"])
    )


def set_times(call: rest.Call) -> rest.Reply:
    """Admin: set ``created_at`` / ``updated_at`` (ISO 8601) of one cart."""
    store = require_store(call.db, call.params["store_id"])
    row = _require(call.db, store["id"], call.params["cart_id"])
    body = call.object_body()
    try:
        created = normalise_timestamp(str(body.get("created_at", row["created_at"])))
        updated = normalise_timestamp(str(body.get("updated_at", row["updated_at"])))
    except ValueError as exc:
        raise errors.bad_request(f"not an ISO 8601 time: {exc}") from exc
    call.db.execute(
        "UPDATE carts SET created_at = ?, updated_at = ? WHERE store_id = ? AND id = ?",
        (created, updated, store["id"], row["id"]),
    )
    return rest.Reply(render(call.db, _require(call.db, store["id"], row["id"])))


CARTS = "/ecommerce/stores/{store_id}/carts"
CART = f"{CARTS}/{{cart_id}}"
ROUTES = [
    rest.get(CARTS, list_carts),
    rest.post(CARTS, create_cart),
    rest.get(CART, get_cart),
    rest.patch(CART, update_cart),
    rest.delete(CART, delete_cart),
    rest.get(f"{CART}/lines", list_lines),
]
ADMIN_TIMES = "/stores/{store_id}/carts/{cart_id}/times"
