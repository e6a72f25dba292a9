"""Abandoned carts → CRM Deals (M5): the opt-in on a ContactSync's Mailchimp target and
what status reports about the carts turned into Deals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from crmsync.api.v1alpha1._base import CrdModel
from crmsync.api.v1alpha1._types import Duration, DurationRange
from crmsync.api.v1alpha1.status import Count

MAX_TRACKED_CARTS = 500
"""Carts status remembers as turned into Deals; older ones are found again by a search of
Deals by name."""


class AbandonedCartsSpec(CrdModel):
    """Turn the abandoned carts of one Mailchimp e-commerce store into CRM Deals, one per
    cart, linked to the CRM Contact with the cart customer's email."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.enabled || has(self.storeId)",
                    "message": "abandonedCarts needs storeId when enabled",
                    "fieldPath": ".storeId",
                    "reason": "FieldValueRequired",
                },
            ]
        }
    )

    enabled: bool = False
    """Opt in: off unless true."""
    store_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """The Mailchimp e-commerce store whose carts are read."""
    abandoned_after: Annotated[Duration, DurationRange("1m", "720h")] = "1h"
    """A cart not updated for this long (its updated_at, else created_at) is abandoned.
    Carts that became orders are gone from the store."""
    deal_stage: Annotated[str, Field(min_length=1, max_length=120)] = "Qualification"
    """The Stage of new Deals (a value of the CRM's Stage picklist)."""
    pipeline: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    """The Pipeline of new Deals; absent: the CRM's default."""
    closing_after: Annotated[Duration, DurationRange("1h", "8760h")] = "720h"
    """Closing_Date of new Deals: this long after the pass that creates them (30 days)."""
    interval: Annotated[Duration, DurationRange("1m", "720h")] = "15m"
    """Least time between two passes after poll, notification and scheduled runs; a
    manual run (crmsync.dev/sync-now), the first run and a spec change always run one."""


class CartDeal(CrdModel):
    """One cart turned into a Deal."""

    cart_id: Annotated[str, Field(max_length=128)]
    """The Mailchimp cart id."""
    deal_id: Annotated[str, Field(max_length=64)] = ""
    """The id of its CRM Deal."""


class AbandonedCartsStatus(CrdModel):
    """What the abandoned-cart passes did."""

    last_pass_time: datetime | None = None
    """When the last pass ended (successful or not)."""
    outcome: Annotated[str, Field(max_length=32)] = ""
    """Succeeded or Failed."""
    message: Annotated[str, Field(max_length=4000)] = ""
    """What the last pass did, or why it failed (the sync run itself is not failed)."""
    deals_created: Count = 0
    """Deals created since the opt-in."""
    abandoned: Count = 0
    """Abandoned carts in the store at the last pass."""
    skipped: dict[str, Count] = Field(default_factory=dict)
    """Abandoned carts of the last pass with no Deal, by reason (no_contact, no_email,
    empty_cart, or the CRM's refusal); they are looked at again next pass."""
    carts: Annotated[list[CartDeal], Field(max_length=MAX_TRACKED_CARTS)] = Field(
        default_factory=list
    )
    """Carts still in the store that have a Deal, newest first (at most 500)."""
