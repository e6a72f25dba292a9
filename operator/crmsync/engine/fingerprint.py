"""Fingerprints of synced values: how a two-way sync tells its own writes from real changes,
and which side changed which field.

Every write the operator makes to a member of a two-way sync also stores, in a hidden
campaign field, a short hash of the member's email and of each mapped value *as they are
after that write* (the last synced values, the "base"). A person or app editing the member
in the campaign tool changes values but not the fingerprint, so those fields read as
changed on the campaign side; a member the operator just wrote reads as clean, so its own
change never bounces back into the CRM. Comparing a CRM value with the base tells whether
the CRM changed that field too: a three-way merge without storing any values.

Layout: 4 hex digits naming the field layout (so a mapping change invalidates old
fingerprints), then 6 hex digits for the email and 6 for each mapped field in name order.
At most 40 mapped fields fit Mailchimp's 255-character text field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from crmsync.engine.records import Member
from crmsync.engine.settings import SyncSettings

LAYOUT_DIGITS = 4
VALUE_DIGITS = 6
EMAIL = "\x00email"
"""The email's slot in a parsed fingerprint (no campaign field can have this name)."""


def _hash(text: str, digits: int = VALUE_DIGITS) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


def _fields(settings: SyncSettings) -> list[str]:
    return sorted({p.campaign_field for p in settings.mapping})


def fingerprint(settings: SyncSettings, email: str, values: Mapping[str, str]) -> str:
    """The fingerprint of a member holding ``email`` and ``values``."""
    fields = _fields(settings)
    parts = [_hash("\x1f".join(fields), LAYOUT_DIGITS), _hash(email)]
    parts += [_hash(values.get(f, "")) for f in fields]
    return "".join(parts)


def _base(settings: SyncSettings, member: Member) -> dict[str, str] | None:
    """Slot → hash of the last synced value, or None when the member has no usable
    fingerprint (never synced two-way, or synced under another mapping)."""
    stored = member.values.get(settings.fingerprint_field, "")
    fields = _fields(settings)
    if len(stored) != LAYOUT_DIGITS + VALUE_DIGITS * (len(fields) + 1):
        return None
    if stored[:LAYOUT_DIGITS] != _hash("\x1f".join(fields), LAYOUT_DIGITS):
        return None
    hashes = [stored[i : i + VALUE_DIGITS] for i in range(LAYOUT_DIGITS, len(stored), VALUE_DIGITS)]
    return dict(zip([EMAIL, *fields], hashes, strict=True))


def campaign_changes(settings: SyncSettings, member: Member) -> set[str] | None:
    """Campaign fields (and :data:`EMAIL`) changed on the campaign side since the last sync;
    None when unknown (then every differing field counts as changed on both sides)."""
    base = _base(settings, member)
    if base is None:
        return None
    changed = {f for f in _fields(settings) if _hash(member.values.get(f, "")) != base[f]}
    if _hash(member.email) != base[EMAIL]:
        changed.add(EMAIL)
    return changed


def equals_last_synced(settings: SyncSettings, member: Member, field: str, value: str) -> bool:
    """``value`` is what the last sync left in ``field`` (the other side did not change it)."""
    base = _base(settings, member)
    return base is not None and base.get(field) == _hash(value)


def changed_on_campaign_side(settings: SyncSettings, member: Member) -> bool:
    """The member differs from what the last sync left there (two-way syncs only)."""
    if not settings.fingerprint_field:
        return False
    changes = campaign_changes(settings, member)
    return changes is None or bool(changes)
