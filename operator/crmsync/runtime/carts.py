"""One abandoned-cart pass (M5): read the store's carts, find the Deals and Contacts they
need, create the missing Deals, and work out the new status (decisions in
:mod:`crmsync.engine.carts`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from crmsync.api.v1alpha1.carts import AbandonedCartsSpec, AbandonedCartsStatus, CartDeal
from crmsync.engine import carts as engine
from crmsync.engine.records import WriteOutcome
from crmsync.engine.schedule import parse_duration
from crmsync.providers.mailchimp import Mailchimp
from crmsync.providers.zoho_crm import DEALS, ZohoCrm

CONTACTS = "Contacts"
CONTACT_EMAIL = "Email"


@dataclass(frozen=True)
class CartsResult:
    status: AbandonedCartsStatus
    created: int
    adopted: int
    skipped: dict[str, int]


def summary(abandoned: int, created: int, adopted: int, skipped: Mapping[str, int]) -> str:
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items()))
    return (
        f"{abandoned} abandoned carts; {created} deals created, {adopted} found in the CRM; "
        f"skipped: {reasons or 'none'}"
    )


async def run_cart_pass(
    crm: ZohoCrm,
    mailchimp: Mailchimp,
    spec: AbandonedCartsSpec,
    previous: AbandonedCartsStatus | None,
    now: datetime,
) -> CartsResult:
    assert spec.store_id is not None
    store_id = spec.store_id
    carts = await mailchimp.store_carts(store_id)
    tracked = {deal.cart_id: deal.deal_id for deal in previous.carts} if previous else {}
    abandoned, unknown = engine.pending(carts, tracked, now, parse_duration(spec.abandoned_after))
    existing: dict[str, str] = {}
    if unknown:
        named = await crm.deals_named(
            [engine.deal_name(cart.id) for cart in unknown], engine.DEAL_FIELDS
        )
        existing = engine.match_deals(
            ((r.id, r.values) for r in named), store_id, (cart.id for cart in unknown)
        )
    emails = sorted({c.email for c in unknown if c.email and c.id not in existing})
    contacts: dict[str, str] = {}
    if emails:
        found = await crm.records_by_email(CONTACTS, CONTACT_EMAIL, emails, (CONTACT_EMAIL,))
        contacts = engine.contacts_by_email((r.id, r.values.get(CONTACT_EMAIL)) for r in found)
    actions = engine.plan(unknown, contacts, existing)

    skipped: Counter[str] = Counter(
        a.reason.value for a in actions if a.reason in engine.SKIP_REASONS
    )
    new_deals = [
        CartDeal(cart_id=a.cart.id, deal_id=a.deal_id)
        for a in actions
        if a.reason is engine.CartReason.DEAL_EXISTS
    ]
    creates = [a for a in actions if a.reason is engine.CartReason.CREATE]
    created = 0
    if creates:
        results = await crm.create_records(
            DEALS, [engine.deal_values(a, store_id, spec, now) for a in creates]
        )
        for action, result in zip(creates, results, strict=True):
            if result.outcome is WriteOutcome.REJECTED:
                skipped[result.reason or "rejected"] += 1
                continue
            created += 1
            new_deals.insert(0, CartDeal(cart_id=action.cart.id, deal_id=result.record_id))
    adopted = len(new_deals) - created
    status = engine.next_status(
        previous,
        in_store=(cart.id for cart in carts),
        new_deals=new_deals,
        created=created,
        abandoned=len(abandoned),
        skipped=skipped,
        now=now,
        message=summary(len(abandoned), created, adopted, skipped),
    )
    return CartsResult(status=status, created=created, adopted=adopted, skipped=dict(skipped))
