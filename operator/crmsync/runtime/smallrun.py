"""Incremental runs that concern few records read only those records' members.

A quiet poll used to list the whole audience (19 calls for 19,000 members) to plan
nothing. An incremental run now reads the CRM first: with nothing changed it reads no
member at all; with a page or less of changed records it reads just their members, one
call each (plus, for Z17, the members changed since the checkpoint). It lists the whole
audience as before when that is what the plan needs: deletions (their member is found
by its record link), records to retry, a plan limit to count against, a target without a
per-member read (Zoho Campaigns), or a record that may have changed its email (its old
member is found by its link, so only records created since the checkpoint may lack one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime

from crmsync.engine.emails import email_problem
from crmsync.engine.records import CrmRecord, Member, normalise_email
from crmsync.engine.settings import SyncSettings
from crmsync.providers.base import AudienceTarget

SMALL_RUN_RECORDS = 200
"""One CRM page: beyond it, listing the audience costs less than reading members one by one."""
CREATED_FIELD = "Created_Time"


@dataclass
class Incremental:
    observed: Mapping[str, Member]
    pages: list[list[CrmRecord]]
    """Changed records already read (the rest, if any, follows from the CRM iterator)."""
    listed: bool
    """The whole audience was read (its size is known)."""


async def prefetch(
    pages: AsyncIterator[list[CrmRecord]], limit: int
) -> tuple[list[list[CrmRecord]], bool]:
    """Up to ``limit`` records; True when that was all of them."""
    read: list[list[CrmRecord]] = []
    count = 0
    async for page in pages:
        read.append(page)
        count += len(page)
        if count > limit:
            return read, False
    return read, True


def _created(record: CrmRecord) -> datetime | None:
    raw = record.values.get(CREATED_FIELD)
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


async def observe_incremental(
    target: AudienceTarget,
    audience: str,
    settings: SyncSettings,
    pages: list[list[CrmRecord]],
    *,
    complete: bool,
    since: datetime,
    needs_listing: bool,
    list_all: Callable[[], Awaitable[MutableMapping[str, Member]]],
) -> Incremental:
    """The members an incremental run needs to plan ``pages`` (``complete``: every changed
    record is in them)."""
    records = [r for page in pages for r in page]
    by_email = getattr(target, "reads_by_email", False)
    if needs_listing or not complete or (records and (settings.contact_limit or not by_email)):
        return Incremental(await list_all(), pages, listed=True)
    observed: dict[str, Member] = {}
    if by_email and settings.mirror_campaign_unsubscribes:
        async for changed in target.members(audience, changed_since=since):
            observed.update((m.email, m) for m in changed)
    if not records:
        return Incremental(observed, pages, listed=False)
    emails = {
        email
        for r in records
        if (email := normalise_email(r.values.get(settings.email_field)))
        and email_problem(email, settings.address_rules) is None
    }
    for member in await target.members_by_email(audience, sorted(emails)):
        observed[member.email] = member
    for record in records:
        email = normalise_email(record.values.get(settings.email_field))
        created = _created(record)
        if email not in observed and (created is None or created < since):
            # Maybe an email change: its old member is only found by the record link.
            return Incremental(await list_all(), pages, listed=True)
    return Incremental(observed, pages, listed=False)
