"""The values the engine reasons about: CRM records, campaign members, write results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


def normalise_email(raw: object) -> str:
    """The identity key on both sides: trimmed and lower-cased."""
    return str(raw).strip().lower() if raw is not None else ""


@dataclass(frozen=True)
class CrmField:
    """A field of a CRM module, from the module's field metadata."""

    api_name: str
    data_type: str
    label: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class CrmRecord:
    """One CRM record with the field values read (by API name) and its related records."""

    id: str
    modified_time: datetime
    values: Mapping[str, Any]
    related: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """"Account" / "Deal" → that related record's values (Z3)."""
    converted: bool = False


@dataclass(frozen=True)
class DeletedRecord:
    id: str
    deleted_time: datetime


class MemberStatus(StrEnum):
    """The campaign-side subscription state, normalised across vendors."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    CLEANED = "cleaned"
    PENDING = "pending"
    ARCHIVED = "archived"
    NON_MARKETING = "non_marketing"
    """Zoho Campaigns contact without marketing consent / Mailchimp transactional."""


ACTIVE_STATUSES = frozenset({MemberStatus.SUBSCRIBED, MemberStatus.PENDING})
"""Statuses of a member that receives mail (on the list)."""


@dataclass(frozen=True)
class Member:
    """One campaign-side member as the target holds it."""

    email: str
    status: MemberStatus
    values: Mapping[str, str]
    """Campaign field → value, as text."""
    tags: frozenset[str] = frozenset()
    in_list: bool = True
    """Zoho Campaigns: on the mailing list (False: only in all contacts)."""
    last_changed: datetime | None = None
    opted_in_at: datetime | None = None
    """When the person last opted in (Mailchimp ``timestamp_opt``); None when unknown."""
    removed_by_sync: bool = False
    """The operator itself took this member off the list (Zoho Campaigns, from its record
    index): its list-unsubscribed status is not the person's doing."""
    owners: frozenset[str] = frozenset()
    """Syncs that claim this member besides what its tags say (Zoho Campaigns: from the
    record indexes of the syncs on the same list; :mod:`crmsync.engine.ownership`)."""


@dataclass(frozen=True)
class MemberWrite:
    """Create or update one member. Status is never a mapped field: it is only set here
    for new members (``status_if_new``) or explicitly by the opt-out policy (``status``)."""

    email: str
    values: Mapping[str, str]
    status_if_new: MemberStatus
    status: MemberStatus | None = None
    tags: frozenset[str] = frozenset()
    consent: bool | None = None
    legal_basis: str | None = None
    topics: frozenset[str] = frozenset()
    """Zoho Campaigns topics a new member joins (Z4); never sent for existing members, so a
    topic someone unsubscribed from is not re-subscribed."""


class WriteOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class WriteResult:
    """The target's answer for one member of a batch (batches fail partly inside a 200)."""

    email: str
    outcome: WriteOutcome
    reason: str = ""
    """For rejected: a low-cardinality reason code (invalid_email, forgotten_email, …)."""
    detail: str = ""
    record_id: str = ""
    """CRM write-backs (``update_records``): the record the result belongs to."""
    claims_left: frozenset[str] | None = None
    """A release: the claims the member still carries, when the target's answer says."""
