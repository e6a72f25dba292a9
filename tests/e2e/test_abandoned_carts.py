"""Abandoned carts → CRM Deals, end to end (issue 13 point 4; M5): a store, customers and
carts made through the local Mailchimp's e-commerce API; a ContactSync with
``target.abandonedCarts``; the Deals read back straight from the CRM's API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import FAST_TRIGGER, Syncs, create_people, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

DEAL_FIELDS = "Deal_Name,Amount,Stage,Contact_Name,Closing_Date,Description"
TWO_HOURS_AGO = "2020-01-01T10:00:00+00:00"


def new_store(mailchimp: MailchimpReader, list_id: str) -> str:
    store_id = unique("shop")
    body = {"id": store_id, "list_id": list_id, "name": "e2e shop", "currency_code": "EUR"}
    response = mailchimp.http.post("/ecommerce/stores", json=body)
    assert response.status_code == 200, response.text
    return store_id


def add_cart(
    mailchimp: MailchimpReader, store_id: str, cart_id: str, email: str, total: float
) -> None:
    customer = {"id": f"cust-{email}", "email_address": email, "opt_in_status": False}
    body = {
        "id": cart_id,
        "customer": customer,
        "currency_code": "EUR",
        "order_total": total,
        "checkout_url": f"https://shop.example.com/cart/{cart_id}",
        "lines": [
            {"id": "1", "product_id": "boots", "product_variant_id": "boots-42", "quantity": 1,
             "price": total},
        ],
    }  # fmt: skip
    response = mailchimp.http.post(f"/ecommerce/stores/{store_id}/carts", json=body)
    assert response.status_code == 200, response.text


def age(mailchimp: MailchimpReader, store_id: str, cart_id: str) -> None:
    """Make the cart untouched since long ago (the local server's admin hook)."""
    path = f"/_admin/mailchimp/stores/{store_id}/carts/{cart_id}/times"
    response = mailchimp.http.put(
        str(mailchimp.http.base_url.join(path)),
        json={"created_at": TWO_HOURS_AGO, "updated_at": TWO_HOURS_AGO},
    )
    assert response.status_code == 200, response.text


def deals_named(crm: CrmReader, name: str) -> list[dict[str, Any]]:
    response = crm.http.get(
        "/Deals/search", params={"criteria": f"(Deal_Name:equals:{name})", "fields": DEAL_FIELDS}
    )
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def cart_pass(syncs: Syncs, name: str, before: str | None) -> dict[str, Any]:
    """The abandonedCarts status once a pass after ``before`` ended, successfully."""

    def passed() -> dict[str, Any] | None:
        status = (syncs.get(name).get("status") or {}).get("abandonedCarts") or {}
        return status if status.get("lastPassTime") not in (None, before) else None

    status = wait_for(passed, timeout=90, what=f"an abandoned-cart pass of {name}")
    assert status["outcome"] == "Succeeded", status
    return status


def next_pass(syncs: Syncs, name: str) -> dict[str, Any]:
    before = syncs.get(name)["status"]["abandonedCarts"]["lastPassTime"]
    syncs.sync_now(name)
    return cart_pass(syncs, name, before)


def test_one_deal_per_abandoned_cart_linked_to_its_contact_without_duplicates(
    stack: Stack, syncs: Syncs
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker, name = unique("cart"), unique("carts")
    people = create_people(crm, "Contacts", marker, 3)
    list_id = mailchimp.new_audience(name)
    store_id = new_store(mailchimp, list_id)
    carts = {
        f"{marker}-a": (people[0], 25.5),
        f"{marker}-b": (people[1], 99.0),
        f"{marker}-fresh": (people[2], 12.0),
    }
    for cart_id, (person, total) in carts.items():
        add_cart(mailchimp, store_id, cart_id, person.email, total)
    stranger = f"{marker}-stranger"
    add_cart(mailchimp, store_id, stranger, f"{marker}.nobody@example.com", 5.0)
    for cart_id in (f"{marker}-a", f"{marker}-b", stranger):
        age(mailchimp, store_id, cart_id)

    syncs.apply(
        name,
        {
            "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts",
                    "criteria": marked(marker)},
            "target": {
                "connectionRef": {"name": "mailchimp"}, "listId": list_id,
                "abandonedCarts": {"enabled": True, "storeId": store_id,
                                   "dealStage": "Needs Analysis"},
            },
            "trigger": FAST_TRIGGER,
        },
    )  # fmt: skip
    status = cart_pass(syncs, name, None)
    assert status["dealsCreated"] == 2, status
    assert status["abandoned"] == 3
    assert status["skipped"] == {"no_contact": 1}
    assert {c["cartId"] for c in status["carts"]} == {f"{marker}-a", f"{marker}-b"}

    for cart_id in (f"{marker}-a", f"{marker}-b"):
        person, total = carts[cart_id]
        [deal] = deals_named(crm, f"Abandoned cart {cart_id}")
        assert deal["Contact_Name"]["id"] == person.id
        assert deal["Amount"] == total and deal["Stage"] == "Needs Analysis"
        assert deal["Closing_Date"]
        head = deal["Description"].splitlines()[0]
        assert head == f"Mailchimp abandoned cart {cart_id} (store {store_id})"
        assert {"cartId": cart_id, "dealId": deal["id"]} in status["carts"]
    assert deals_named(crm, f"Abandoned cart {marker}-fresh") == []
    assert deals_named(crm, f"Abandoned cart {stranger}") == []

    # A second run: nothing new, no duplicate; the fresh cart, now old, gets its Deal.
    again = next_pass(syncs, name)
    assert again["dealsCreated"] == 2 and again["abandoned"] == 3
    age(mailchimp, store_id, f"{marker}-fresh")
    third = next_pass(syncs, name)
    assert third["dealsCreated"] == 3 and third["abandoned"] == 4
    [fresh] = deals_named(crm, f"Abandoned cart {marker}-fresh")
    assert fresh["Contact_Name"]["id"] == people[2].id

    # Status lost its list of carts: the Deals are found by name, not created again.
    stack.kube.kubectl(
        "patch", "contactsync", name, "-n", stack.namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"abandonedCarts": {"carts": None}}}),
    )  # fmt: skip
    found = next_pass(syncs, name)
    assert found["dealsCreated"] == 3
    assert len(found["carts"]) == 3
    assert "3 found in the CRM" in found["message"], found["message"]
    for cart_id in carts:
        assert len(deals_named(crm, f"Abandoned cart {cart_id}")) == 1

    # A cart that became an order leaves the store, and status lets go of it.
    response = mailchimp.http.delete(f"/ecommerce/stores/{store_id}/carts/{marker}-a")
    assert response.status_code == 204, response.text
    after_order = next_pass(syncs, name)
    assert {c["cartId"] for c in after_order["carts"]} == {f"{marker}-b", f"{marker}-fresh"}
    assert after_order["abandoned"] == 3
