"""Abandoned carts → CRM Deals (M5), the decisions: which carts are abandoned, which need a
Deal, which are skipped and why, what the Deal holds, and what status remembers.

Mailchimp has no cart status. A cart still in the store is open (store integrations delete
a cart once its checkout became an order); it is *abandoned* once it has not changed for
``abandonedAfter`` (its ``updated_at``, else ``created_at``). A cart gets one Deal, ever:
status remembers the carts turned into Deals, and a Deal named after the cart whose
Description names the same store and cart is adopted rather than duplicated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from crmsync.api.v1alpha1.carts import (
    MAX_TRACKED_CARTS,
    AbandonedCartsSpec,
    AbandonedCartsStatus,
    CartDeal,
)
from crmsync.api.v1alpha1.status import RunTrigger
from crmsync.engine.schedule import parse_duration

DEAL_NAME_PREFIX = "Abandoned cart "
DEAL_NAME_MAX = 120
DEAL_FIELDS = ("Deal_Name", "Description")
ALWAYS_TRIGGERS = frozenset({RunTrigger.MANUAL, RunTrigger.INITIAL, RunTrigger.SPEC_CHANGE})


@dataclass(frozen=True)
class CartLine:
    product_id: str
    title: str
    quantity: int
    price: float


@dataclass(frozen=True)
class Cart:
    id: str
    email: str
    """The customer's address, trimmed and lower-cased; empty when the cart has none."""
    currency: str = ""
    order_total: float = 0.0
    tax_total: float = 0.0
    checkout_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    lines: tuple[CartLine, ...] = ()

    @property
    def last_change(self) -> datetime | None:
        return self.updated_at or self.created_at


class CartReason(StrEnum):
    CREATE = "create"
    DEAL_EXISTS = "deal_exists"
    """A Deal for the cart is in the CRM though status lost it: adopted, not duplicated."""
    NO_EMAIL = "no_email"
    NO_CONTACT = "no_contact"
    EMPTY_CART = "empty_cart"


SKIP_REASONS = frozenset({CartReason.NO_EMAIL, CartReason.NO_CONTACT, CartReason.EMPTY_CART})


@dataclass(frozen=True)
class CartAction:
    cart: Cart
    reason: CartReason
    contact_id: str = ""
    deal_id: str = ""


def pass_due(
    spec: AbandonedCartsSpec | None, trigger: str, last_pass: datetime | None, now: datetime
) -> bool:
    """Whether a completed run of ``trigger`` is followed by a cart pass."""
    if spec is None or not spec.enabled or not spec.store_id:
        return False
    if trigger in ALWAYS_TRIGGERS or last_pass is None:
        return True
    return now - last_pass >= parse_duration(spec.interval)


def is_abandoned(cart: Cart, now: datetime, after: timedelta) -> bool:
    changed = cart.last_change
    return changed is not None and now - changed >= after


def deal_name(cart_id: str) -> str:
    return f"{DEAL_NAME_PREFIX}{cart_id}"[:DEAL_NAME_MAX]


def description_head(store_id: str, cart_id: str) -> str:
    """The Description's first line: what finds a cart's Deal when status lost it."""
    return f"Mailchimp abandoned cart {cart_id} (store {store_id})"


def pending(
    carts: Iterable[Cart], tracked: Mapping[str, str], now: datetime, after: timedelta
) -> tuple[list[Cart], list[Cart]]:
    """(abandoned carts, those of them status does not know a Deal for)."""
    abandoned = [cart for cart in carts if is_abandoned(cart, now, after)]
    return abandoned, [cart for cart in abandoned if cart.id not in tracked]


def match_deals(
    deals: Iterable[tuple[str, Mapping[str, object]]], store_id: str, cart_ids: Iterable[str]
) -> dict[str, str]:
    """cart id → the id of its existing Deal (named after the cart, Description naming this
    store and cart; the lowest id when several)."""
    heads = {description_head(store_id, cid): cid for cid in cart_ids}
    found: dict[str, str] = {}
    for deal_id, values in sorted(deals, key=lambda d: (len(d[0]), d[0])):
        head = str(values.get("Description") or "").split("\n", 1)[0].strip()
        cart_id = heads.get(head)
        if cart_id is not None and values.get("Deal_Name") == deal_name(cart_id):
            found.setdefault(cart_id, deal_id)
    return found


def contacts_by_email(contacts: Iterable[tuple[str, object]]) -> dict[str, str]:
    """Normalised email → Contact id (the lowest id when several share the address)."""
    found: dict[str, str] = {}
    for contact_id, email in sorted(contacts, key=lambda c: (len(c[0]), c[0])):
        key = str(email or "").strip().lower()
        if key:
            found.setdefault(key, contact_id)
    return found


def plan(
    carts: Sequence[Cart], contacts: Mapping[str, str], existing: Mapping[str, str]
) -> list[CartAction]:
    """One action per cart without a known Deal, with its reason."""
    actions: list[CartAction] = []
    for cart in carts:
        if cart.id in existing:
            actions.append(CartAction(cart, CartReason.DEAL_EXISTS, deal_id=existing[cart.id]))
        elif not cart.lines:
            actions.append(CartAction(cart, CartReason.EMPTY_CART))
        elif not cart.email:
            actions.append(CartAction(cart, CartReason.NO_EMAIL))
        elif cart.email not in contacts:
            actions.append(CartAction(cart, CartReason.NO_CONTACT))
        else:
            actions.append(CartAction(cart, CartReason.CREATE, contact_id=contacts[cart.email]))
    return actions


def _money(value: float) -> str:
    return f"{value:.2f}"


def description(cart: Cart, store_id: str) -> str:
    text = [
        description_head(store_id, cart.id),
        f"Customer: {cart.email}",
        f"Total: {_money(cart.order_total)} {cart.currency} (tax {_money(cart.tax_total)})".strip(),
    ]
    if cart.last_change is not None:
        text.append(f"Last changed: {cart.last_change.isoformat()}")
    if cart.checkout_url:
        text.append(f"Checkout: {cart.checkout_url}")
    text.append("Lines:")
    text += [
        f"- {line.quantity} × {line.title or line.product_id} at {_money(line.price)}"
        for line in cart.lines
    ]
    return "\n".join(text)


def deal_values(
    action: CartAction, store_id: str, spec: AbandonedCartsSpec, now: datetime
) -> dict[str, object]:
    """The Deal of a cart: name, amount, stage, pipeline, contact, closing date, what was in
    the cart."""
    cart = action.cart
    values: dict[str, object] = {
        "Deal_Name": deal_name(cart.id),
        "Amount": round(cart.order_total, 2),
        "Stage": spec.deal_stage,
        "Contact_Name": {"id": action.contact_id},
        "Closing_Date": (now + parse_duration(spec.closing_after)).date().isoformat(),
        "Description": description(cart, store_id),
    }
    if spec.pipeline:
        values["Pipeline"] = spec.pipeline
    return values


def next_status(
    previous: AbandonedCartsStatus | None,
    *,
    in_store: Iterable[str],
    new_deals: Sequence[CartDeal],
    created: int,
    abandoned: int,
    skipped: Mapping[str, int],
    now: datetime,
    message: str,
) -> AbandonedCartsStatus:
    """Status after a pass: new Deals first, then the known ones whose cart is still in the
    store (a cart gone from the store never comes back), at most :data:`MAX_TRACKED_CARTS`."""
    present = set(in_store)
    kept = list(new_deals)
    seen = {d.cart_id for d in kept}
    for deal in previous.carts if previous is not None else []:
        if deal.cart_id in present and deal.cart_id not in seen:
            kept.append(deal)
            seen.add(deal.cart_id)
    return AbandonedCartsStatus(
        last_pass_time=now,
        outcome="Succeeded",
        message=message[:4000],
        deals_created=(previous.deals_created if previous is not None else 0) + created,
        abandoned=abandoned,
        skipped={reason: n for reason, n in sorted(skipped.items()) if n},
        carts=kept[:MAX_TRACKED_CARTS],
    )
