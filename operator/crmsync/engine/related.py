"""Where a synced record's related Account and Deal are (Z3), and which of their changes
reach its members.

A record names its Account in a lookup field (``Account_Name``). A Contact names no Deal:
each Deal names its Contact (``Deals.Contact_Name``), and a Contact may have several; the
values a Contact's members carry are those of its most recently modified Deal. Other
modules (custom ones) may name a Deal in a ``Deal_Name`` lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crmsync.api.v1alpha1.fieldmapping import RelatedRecord

CONTACTS = "Contacts"


@dataclass(frozen=True)
class RelatedSource:
    """How one kind of related record is found from the synced record."""

    module: str
    """The related record's module: Accounts, Deals."""
    lookup_field: str | None = None
    """The synced record's lookup naming it, or None when the related record names the
    synced one instead (``back_link``)."""
    back_link: str | None = None
    """The related record's lookup naming the synced record (the newest such record wins)."""
    changes: tuple[str, ...] = ()
    """The related module's notification operations that change what members carry; empty:
    its changes are not routed (a full comparison carries them)."""

    @property
    def events(self) -> list[str]:
        return [f"{self.module}.{operation}" for operation in self.changes]


def related_source(module: str, related: RelatedRecord) -> RelatedSource | None:
    """Where ``module`` records find their ``related`` record; None for the record itself."""
    if related == RelatedRecord.ACCOUNT:
        # An Account edit changes no Contact: it is subscribed to and resolved to its
        # Contacts through the Account's related list. Leads link to no Account.
        changes = ("edit",) if module == CONTACTS else ()
        return RelatedSource("Accounts", lookup_field="Account_Name", changes=changes)
    if related == RelatedRecord.DEAL:
        if module == CONTACTS:
            # A new Deal can become the Contact's newest one, as can an edited one.
            return RelatedSource("Deals", back_link="Contact_Name", changes=("create", "edit"))
        return RelatedSource("Deals", lookup_field="Deal_Name")
    return None


def routed_sources(module: str, related: Iterable[RelatedRecord]) -> list[RelatedSource]:
    """The related sources whose changes are delivered on the module's channel, in a
    stable order."""
    found = [related_source(module, r) for r in sorted(set(related))]
    return [source for source in found if source is not None and source.changes]


def parent_source(module: str, parent_module: str) -> RelatedSource | None:
    """The routed source of ``module`` records whose changes arrive as ``parent_module``."""
    for related in RelatedRecord:
        source = related_source(module, related)
        if source is not None and source.changes and source.module == parent_module:
            return source
    return None


def unlinked(
    module: str,
    related: Iterable[RelatedRecord],
    module_fields: Iterable[str],
    related_fields: Mapping[RelatedRecord, Iterable[str]],
) -> list[str]:
    """Why the mapped related records cannot be found from ``module`` records (none: all
    can): the lookup naming them, or naming the record from them, does not exist."""
    problems: list[str] = []
    names = set(module_fields)
    for kind in sorted(set(related) - {RelatedRecord.RECORD}):
        source = related_source(module, kind)
        if source is None:
            continue
        if source.lookup_field is not None and source.lookup_field not in names:
            problems.append(
                f"{kind} fields are mapped, but {module} records name no {kind} "
                f"(no {source.lookup_field} lookup)"
            )
        elif source.back_link is not None and source.back_link not in set(
            related_fields.get(kind, ())
        ):
            problems.append(
                f"{kind} fields are mapped, but no {source.module} field "
                f"{source.back_link} names the {module} record"
            )
    return problems
