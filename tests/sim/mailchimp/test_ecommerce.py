"""E-commerce stores, customers and carts: requests and responses checked against the spec."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sim.mailchimp.conftest import NEW_LIST, email
from tests.sim.mailchimp.contract import CheckedClient, Contract
from tests.sim.mailchimp.localserver import LocalMailchimp


@pytest.fixture
def checked(mailchimp: LocalMailchimp, contract: Contract) -> Iterator[CheckedClient]:
    with mailchimp.client() as client:
        yield CheckedClient(client, contract)


@pytest.fixture
def store(checked: CheckedClient) -> str:
    list_id = checked.request("POST", "/lists", json_body=NEW_LIST).json()["id"]
    store_id = f"store-{uuid.uuid4().hex[:8]}"
    body = {"id": store_id, "list_id": list_id, "name": "Shop", "currency_code": "EUR"}
    created = checked.request("POST", "/ecommerce/stores", json_body=body)
    assert created.status_code == 200, created.text
    return store_id


def cart_body(cart_id: str, customer: dict[str, Any], total: float = 42.5) -> dict[str, Any]:
    return {
        "id": cart_id,
        "customer": customer,
        "currency_code": "EUR",
        "order_total": total,
        "tax_total": 7.5,
        "checkout_url": f"https://shop.example.com/cart/{cart_id}",
        "lines": [
            {"id": "l1", "product_id": "p1", "product_variant_id": "p1-red", "quantity": 2,
             "price": 10.0},
            {"id": "l2", "product_id": "p2", "product_variant_id": "p2", "quantity": 1,
             "price": 22.5},
        ],
    }  # fmt: skip


def test_stores(checked: CheckedClient) -> None:
    call = checked.request
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    store_id = f"s-{uuid.uuid4().hex[:8]}"
    domain = f"{store_id}.example.com"
    created = call(
        "POST",
        "/ecommerce/stores",
        json_body={
            "id": store_id, "list_id": list_id, "name": "Shop", "currency_code": "USD",
            "domain": domain, "platform": "custom",
            "address": {"address1": "1 Main St", "city": "Kraków", "country_code": "PL"},
        },
    ).json()  # fmt: skip
    assert created["id"] == store_id and created["list_id"] == list_id
    assert created["list_is_active"] is True and created["created_at"]
    listed = call("GET", "/ecommerce/stores", params={"count": 1000}).json()
    assert store_id in {s["id"] for s in listed["stores"]}
    assert listed["total_items"] >= 1
    got = call("GET", f"/ecommerce/stores/{store_id}", params={"fields": "id,name"}).json()
    assert got == {"id": store_id, "name": "Shop"}
    patched = call("PATCH", f"/ecommerce/stores/{store_id}", json_body={"name": "Shop 2"}).json()
    assert patched["name"] == "Shop 2" and patched["currency_code"] == "USD"

    again = call(
        "POST", "/ecommerce/stores",
        json_body={"id": store_id, "list_id": list_id, "name": "x", "currency_code": "USD"},
    )  # fmt: skip
    assert again.status_code == 400
    same_domain = call(
        "POST", "/ecommerce/stores",
        json_body={"id": f"{store_id}-b", "list_id": list_id, "name": "x",
                   "currency_code": "USD", "domain": domain},
    )  # fmt: skip
    assert same_domain.status_code == 400
    no_list = call(
        "POST", "/ecommerce/stores",
        json_body={"id": f"{store_id}-c", "list_id": "0000000000", "name": "x",
                   "currency_code": "USD"},
    )  # fmt: skip
    assert no_list.status_code == 404
    missing = call("POST", "/ecommerce/stores", json_body={"id": "x"}, valid=False)
    assert missing.status_code == 400
    assert "list_id" in missing.json()["errors"][0]["message"]

    assert call("DELETE", f"/ecommerce/stores/{store_id}").status_code == 204
    assert call("GET", f"/ecommerce/stores/{store_id}").status_code == 404


def test_customers(checked: CheckedClient, store: str) -> None:
    call = checked.request
    base = f"/ecommerce/stores/{store}/customers"
    address = email("buyer")
    created = call(
        "POST", base,
        json_body={"id": "c1", "email_address": address, "opt_in_status": False,
                   "first_name": "Ann", "address": {"city": "Madrid"}},
    ).json()  # fmt: skip
    assert created["email_address"] == address and created["first_name"] == "Ann"
    assert created["orders_count"] == 0 and created["address"] == {"city": "Madrid"}
    call("POST", base, json_body={"id": "c2", "email_address": email(), "opt_in_status": True})
    assert call("GET", base).json()["total_items"] == 2
    by_email = call("GET", base, params={"email_address": address.upper()}).json()
    assert [c["id"] for c in by_email["customers"]] == ["c1"]
    assert by_email["store_id"] == store
    page = call("GET", base, params={"count": 1, "offset": 1}).json()
    assert [c["id"] for c in page["customers"]] == ["c2"]
    assert call("GET", f"{base}/c1").json()["id"] == "c1"
    patched = call("PATCH", f"{base}/c1", json_body={"last_name": "Lee"}).json()
    assert (patched["first_name"], patched["last_name"]) == ("Ann", "Lee")
    put = call(
        "PUT", f"{base}/c3", json_body={"id": "c3", "email_address": email(), "opt_in_status": True}
    ).json()
    assert put["id"] == "c3" and put["opt_in_status"] is True
    new_address = email("moved")
    moved = call(
        "PUT", f"{base}/c3",
        json_body={"id": "c3", "email_address": new_address, "opt_in_status": True},
    ).json()  # fmt: skip
    assert moved["email_address"] == new_address

    duplicate = call("POST", base, json_body={"id": "c1", "email_address": email(),
                                              "opt_in_status": False})  # fmt: skip
    assert duplicate.status_code == 400
    bad = call(
        "POST", base, json_body={"id": "c9", "email_address": "nope", "opt_in_status": False}
    )
    assert bad.status_code == 400 and bad.json()["title"] == "Invalid Resource"
    assert call("GET", f"{base}/unknown").status_code == 404
    assert call("GET", "/ecommerce/stores/no-such-store/customers").status_code == 404
    assert call("DELETE", f"{base}/c2").status_code == 204
    assert call("GET", f"{base}/c2").status_code == 404


def test_carts(checked: CheckedClient, store: str, mailchimp: LocalMailchimp) -> None:
    call = checked.request
    base = f"/ecommerce/stores/{store}/carts"
    address = email("shopper")
    new_customer = {"id": "cust-1", "email_address": address, "opt_in_status": True}
    created = call("POST", base, json_body=cart_body("cart-1", new_customer)).json()
    assert created["customer"]["id"] == "cust-1"
    assert created["customer"]["email_address"] == address  # created with the cart
    assert created["order_total"] == 42.5 and created["currency_code"] == "EUR"
    assert [line["id"] for line in created["lines"]] == ["l1", "l2"]
    assert created["created_at"] == created["updated_at"] != ""
    customer = call("GET", f"/ecommerce/stores/{store}/customers/cust-1").json()
    assert customer["email_address"] == address

    second = call("POST", base, json_body=cart_body("cart-2", {"id": "cust-1"}, 10)).json()
    assert second["customer"]["email_address"] == address  # existing customer, by id

    listed = call("GET", base).json()
    assert listed["store_id"] == store and listed["total_items"] == 2
    assert [c["id"] for c in listed["carts"]] == ["cart-1", "cart-2"]
    only = call("GET", base, params={"fields": "carts.id,carts.customer.email_address"}).json()
    assert only == {
        "carts": [
            {"id": "cart-1", "customer": {"email_address": address}},
            {"id": "cart-2", "customer": {"email_address": address}},
        ]
    }
    trimmed = call("GET", f"{base}/cart-1", params={"exclude_fields": "lines,customer"}).json()
    assert "lines" not in trimmed and "customer" not in trimmed and trimmed["id"] == "cart-1"
    lines = call("GET", f"{base}/cart-1/lines", params={"count": 1, "offset": 1}).json()
    assert lines["total_items"] == 2 and [x["id"] for x in lines["lines"]] == ["l2"]

    old = "2020-01-02T03:04:05+00:00"
    aged = mailchimp.admin(
        "PUT",
        f"/_admin/mailchimp/stores/{store}/carts/cart-1/times",
        json={"created_at": old, "updated_at": "2020-01-02T04:04:05Z"},
    )
    assert aged.status_code == 200, aged.text
    got = call("GET", f"{base}/cart-1").json()
    assert (got["created_at"], got["updated_at"]) == (old, "2020-01-02T04:04:05+00:00")

    patched = call(
        "PATCH", f"{base}/cart-1",
        json_body={"order_total": 99.0, "lines": [
            {"product_id": "p3", "product_variant_id": "p3", "quantity": 3, "price": 33.0}
        ]},
    ).json()  # fmt: skip
    assert patched["order_total"] == 99.0 and patched["updated_at"] > got["updated_at"]
    assert patched["created_at"] == old
    assert [(x["id"], x["quantity"]) for x in patched["lines"]] == [("line-1", 3)]

    duplicate = call("POST", base, json_body=cart_body("cart-2", {"id": "cust-1"}))
    assert duplicate.status_code == 400
    no_email = call("POST", base, json_body=cart_body("cart-3", {"id": "stranger"}))
    assert no_email.status_code == 400
    no_lines = {k: v for k, v in cart_body("cart-4", {"id": "cust-1"}).items() if k != "lines"}
    refused = call("POST", base, json_body=no_lines, valid=False)
    assert refused.status_code == 400 and "lines" in refused.json()["errors"][0]["message"]
    assert call("GET", f"{base}/cart-3").status_code == 404

    assert call("DELETE", f"{base}/cart-2").status_code == 204
    assert call("GET", f"{base}/cart-2").status_code == 404
    assert call("GET", base).json()["total_items"] == 1


def test_ecommerce_persists_across_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("mailchimp-ecommerce")
    server = LocalMailchimp(data).start()
    with server.client() as client:
        list_id = client.post("/lists", json=NEW_LIST).json()["id"]
        client.post(
            "/ecommerce/stores",
            json={"id": "s1", "list_id": list_id, "name": "Shop", "currency_code": "EUR"},
        ).raise_for_status()
        client.post(
            "/ecommerce/stores/s1/carts",
            json=cart_body("c1", {"id": "u1", "email_address": email(), "opt_in_status": False}),
        ).raise_for_status()
    server.stop()
    server = LocalMailchimp(data).start()
    with server.client() as client:
        assert client.get("/ecommerce/stores/s1/carts/c1").json()["order_total"] == 42.5
    server.stop()
