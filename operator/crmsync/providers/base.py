"""The two roles a vendor plays: a CRM source, or a campaign audience target."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from crmsync.api.v1alpha1.contactsync import Criterion
from crmsync.engine.records import (
    CrmField,
    CrmRecord,
    DeletedRecord,
    Member,
    MemberStatus,
    MemberWrite,
    WriteResult,
)


@dataclass
class CriteriaRead:
    """A full read that may leave out records outside ``criteria`` (push-down, issue
    14.3): the source reads what it can narrow by them and says so in ``narrowed``; the
    caller still filters every record itself."""

    criteria: Sequence[Criterion]
    narrowed: bool = False
    """Set by the source when records outside the criteria may be missing from the read."""


class CrmSource(Protocol):
    """Zoho CRM (and later other CRMs)."""

    async def verify(self) -> dict[str, Any]:
        """Check the credentials; return account facts (org id, name, credits left)."""
        ...

    async def fields(self, module: str) -> list[CrmField]:
        """The module's field metadata."""
        ...

    def records(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime | None = None,
        criteria: CriteriaRead | None = None,
    ) -> AsyncIterator[list[CrmRecord]]:
        """Pages of records (oldest modification first when modified_since is given); a
        full read given ``criteria`` may skip records outside them (and then says so)."""
        ...

    async def records_by_id(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        """The given records (missing ones are left out)."""
        ...

    async def related_values(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, Mapping[str, Any]]:
        """Values of related records (Accounts, Deals) by id, for Z3 mappings."""
        ...

    async def newest_linked(
        self, module: str, link_field: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, Mapping[str, Any]]:
        """For each id, the values of the most recently modified ``module`` record whose
        lookup ``link_field`` names it (a Contact's Deal, Z3); ids without one are left out."""
        ...

    async def records_by_email(
        self, module: str, email_field: str, emails: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        """Records whose email field equals one of the (normalised) emails."""
        ...

    async def deleted_since(self, module: str, since: datetime | None) -> list[DeletedRecord]:
        """Records deleted after since (all known deletions when None)."""
        ...

    async def update_records(
        self, module: str, updates: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """Write field values back (each update has an ``id``); per-record results."""
        ...

    async def create_records(
        self, module: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """Create records; per-record results carry the new ``record_id``."""
        ...


class AudienceTarget(Protocol):
    """Mailchimp audience or Zoho Campaigns list."""

    max_batch: int
    """The vendor's largest write batch (Mailchimp 500, Zoho Campaigns 10)."""

    async def verify(self) -> dict[str, Any]:
        """Check the credentials; return account facts (account id/name, contact limit…)."""
        ...

    async def field_names(self, audience: str) -> set[str]:
        """Campaign fields (merge tags / contact field names) the audience knows."""
        ...

    async def ensure_text_field(self, audience: str, name: str, label: str) -> None:
        """Create a hidden text field (merge tag / custom field) unless it exists."""
        ...

    def members(
        self, audience: str, *, changed_since: datetime | None = None
    ) -> AsyncIterator[list[Member]]:
        """Pages of the audience's members (all statuses, archived excluded)."""
        ...

    async def members_by_email(self, audience: str, emails: Sequence[str]) -> list[Member]:
        """The members with these addresses (archived and unknown ones left out); targets
        without a per-member read (Zoho Campaigns API v1.1) raise NotImplementedError."""
        ...

    async def upsert(self, audience: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        """Create or update members in one vendor batch (≤ max_batch); per-member results."""
        ...

    async def set_status(
        self, audience: str, emails: Sequence[str], status: MemberStatus
    ) -> list[WriteResult]:
        """Unsubscribe (or otherwise change the status of) existing members."""
        ...

    async def remove(
        self, audience: str, emails: Sequence[str], *, permanent: bool
    ) -> list[WriteResult]:
        """Archive (default) or permanently delete members."""
        ...

    async def release(self, audience: str, emails: Sequence[str], owner: str) -> list[WriteResult]:
        """Drop one sync's claim on members another sync still wants; the members stay
        (:mod:`crmsync.engine.ownership`)."""
        ...

    async def drop_owner(self, audience: str, owner: str) -> None:
        """A sync was deleted: its claim goes from every member (members stay)."""
        ...
