"""Who owns a campaign member when several syncs share one audience or list.

A member belongs to every sync that currently wants it. Each sync records its claim —
on Mailchimp as a tag on the member (``crmsync:<namespace>/<name>``, visible in the
audience, one segment call per 500 members), on Zoho Campaigns in its record index (the
list listing returns no tags) — and a sync only ever removes, unsubscribes or archives a
member that no *other* sync claims. When it stops wanting a member that another sync
still wants, it only drops its own claim (action ``release``) and the member stays.

Members nobody claims (added by hand, or by a version before ownership) keep the rule
that came before: the sync whose CRM record the member is linked to decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

OWNER_TAG_PREFIX = "crmsync:"
MAX_TAG_LENGTH = 100
"""Mailchimp refuses longer tag names."""


def owner_id(namespace: str, name: str) -> str:
    """The claim of the ContactSync ``namespace/name``; names too long for a tag keep a
    readable start and a hash of the whole."""
    whole = f"{OWNER_TAG_PREFIX}{namespace}/{name}"
    if len(whole) <= MAX_TAG_LENGTH:
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:12]
    return f"{whole[: MAX_TAG_LENGTH - len(digest) - 1]}~{digest}"


def owners_in_tags(tags: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in tags if t.startswith(OWNER_TAG_PREFIX))
