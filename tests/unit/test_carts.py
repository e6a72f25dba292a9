"""Abandoned carts → Deals (M5): the pure decisions of engine/carts.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmsync.api.v1alpha1.carts import (
    MAX_TRACKED_CARTS,
    AbandonedCartsSpec,
    AbandonedCartsStatus,
    CartDeal,
)
from crmsync.engine import carts as engine
from crmsync.engine.carts import Cart, CartLine, CartReason

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LINE = CartLine(product_id="p1", title="Red shoes", quantity=2, price=10.0)
SPEC = AbandonedCartsSpec(enabled=True, store_id="shop", deal_stage="Needs Analysis")


def cart(cart_id: str, *, email: str = "ann@example.com", age: timedelta = timedelta(hours=2),
         lines: tuple[CartLine, ...] = (LINE,), updated: bool = True) -> Cart:  # fmt: skip
    changed = NOW - age
    return Cart(
        id=cart_id, email=email, currency="EUR", order_total=20.0, tax_total=3.5,
        checkout_url=f"https://shop.example.com/{cart_id}", created_at=changed - timedelta(days=1),
        updated_at=changed if updated else None, lines=lines,
    )  # fmt: skip


def test_abandoned_means_unchanged_for_abandoned_after() -> None:
    hour = timedelta(hours=1)
    assert engine.is_abandoned(cart("a", age=hour), NOW, hour)  # the boundary counts
    assert not engine.is_abandoned(cart("b", age=timedelta(minutes=59)), NOW, hour)
    # No updated_at: created_at (a day older here) decides.
    assert engine.is_abandoned(cart("c", age=timedelta(minutes=1), updated=False), NOW, hour)
    assert not engine.is_abandoned(Cart(id="d", email="x@example.com"), NOW, hour)


def test_pending_leaves_out_fresh_and_known_carts() -> None:
    carts = [cart("old"), cart("fresh", age=timedelta(minutes=5)), cart("known")]
    abandoned, unknown = engine.pending(carts, {"known": "d1"}, NOW, timedelta(hours=1))
    assert [c.id for c in abandoned] == ["old", "known"]
    assert [c.id for c in unknown] == ["old"]


def test_plan_gives_each_cart_one_action_with_its_reason() -> None:
    carts = [
        cart("has-deal"),
        cart("empty", lines=()),
        cart("anonymous", email=""),
        cart("stranger", email="nobody@example.com"),
        cart("new"),
    ]
    actions = engine.plan(carts, {"ann@example.com": "c1"}, {"has-deal": "d9"})
    assert [(a.cart.id, a.reason, a.contact_id, a.deal_id) for a in actions] == [
        ("has-deal", CartReason.DEAL_EXISTS, "", "d9"),
        ("empty", CartReason.EMPTY_CART, "", ""),
        ("anonymous", CartReason.NO_EMAIL, "", ""),
        ("stranger", CartReason.NO_CONTACT, "", ""),
        ("new", CartReason.CREATE, "c1", ""),
    ]
    assert {CartReason.EMPTY_CART, CartReason.NO_EMAIL, CartReason.NO_CONTACT} == (
        engine.SKIP_REASONS
    )


def test_deal_values_link_the_contact_and_name_the_cart() -> None:
    action = engine.CartAction(cart("c-42"), CartReason.CREATE, contact_id="777")
    values = engine.deal_values(action, "shop", SPEC.model_copy(update={"pipeline": "Web"}), NOW)
    assert values["Deal_Name"] == "Abandoned cart c-42"
    assert values["Amount"] == 20.0
    assert values["Stage"] == "Needs Analysis"
    assert values["Pipeline"] == "Web"
    assert values["Contact_Name"] == {"id": "777"}
    assert values["Closing_Date"] == "2026-05-31"  # 720h after the pass
    text = str(values["Description"])
    assert text.splitlines()[0] == "Mailchimp abandoned cart c-42 (store shop)"
    assert "Total: 20.00 EUR (tax 3.50)" in text
    assert "- 2 × Red shoes at 10.00" in text
    assert "Pipeline" not in engine.deal_values(action, "shop", SPEC, NOW)
    assert len(engine.deal_name("x" * 300)) == 120


def test_existing_deals_match_by_name_and_description_of_this_store() -> None:
    head = engine.description_head
    deals = [
        ("30", {"Deal_Name": "Abandoned cart a", "Description": head("shop", "a") + "\nmore"}),
        ("4", {"Deal_Name": "Abandoned cart a", "Description": head("shop", "a")}),
        ("5", {"Deal_Name": "Abandoned cart b", "Description": head("other", "b")}),
        ("6", {"Deal_Name": "renamed", "Description": head("shop", "c")}),
    ]
    assert engine.match_deals(deals, "shop", ["a", "b", "c"]) == {"a": "4"}


def test_contacts_by_email_normalises_and_prefers_the_lowest_id() -> None:
    found = engine.contacts_by_email([("20", " Ann@Example.com"), ("3", "ann@example.com"),
                                      ("4", None)])  # fmt: skip
    assert found == {"ann@example.com": "3"}


def test_next_status_keeps_deals_of_carts_still_in_the_store_bounded() -> None:
    previous = AbandonedCartsStatus(
        deals_created=5,
        skipped={"no_contact": 2},
        carts=[CartDeal(cart_id="old", deal_id="1"), CartDeal(cart_id="gone", deal_id="2")],
    )
    status = engine.next_status(
        previous, in_store=["old", "new"], new_deals=[CartDeal(cart_id="new", deal_id="3")],
        created=1, abandoned=4, skipped={"no_email": 1, "no_contact": 0}, now=NOW, message="m",
    )  # fmt: skip
    assert [c.cart_id for c in status.carts] == ["new", "old"]
    assert status.deals_created == 6 and status.abandoned == 4
    assert status.skipped == {"no_email": 1}
    assert status.last_pass_time == NOW and status.outcome == "Succeeded"
    many = [CartDeal(cart_id=str(i), deal_id=str(i)) for i in range(MAX_TRACKED_CARTS + 5)]
    bounded = engine.next_status(
        None, in_store=[d.cart_id for d in many], new_deals=many, created=len(many),
        abandoned=len(many), skipped={}, now=NOW, message="",
    )  # fmt: skip
    assert len(bounded.carts) == MAX_TRACKED_CARTS


def test_pass_due_needs_the_opt_in_and_respects_the_interval() -> None:
    assert not engine.pass_due(None, "Poll", None, NOW)
    assert not engine.pass_due(AbandonedCartsSpec(enabled=False, store_id="s"), "Manual", None, NOW)
    assert engine.pass_due(SPEC, "Poll", None, NOW)
    recent = NOW - timedelta(minutes=5)
    assert not engine.pass_due(SPEC, "Poll", recent, NOW)
    assert engine.pass_due(SPEC, "Manual", recent, NOW)
    assert engine.pass_due(SPEC, "Poll", NOW - timedelta(minutes=15), NOW)
