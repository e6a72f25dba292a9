"""Where one run keeps what grows with its records.

Besides the observed audience, the planner holds per run the emails it claimed, the
record keys it saw, the emails it decided and the members leaving. Held in dicts and sets
they cost ≈ 0.4 KiB a record; the runtime gives the planner containers that move to disk
past a size (:mod:`crmsync.runtime.spill`). The planner only uses the small interfaces
here, so its logic is the same wherever they live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, MutableSet
from typing import Protocol, TypeVar

from crmsync.engine.records import Member

V = TypeVar("V")


class RunMemory(Protocol):
    def strings(self, name: str) -> MutableMapping[str, str]: ...

    def objects(self, name: str, kind: type[V]) -> MutableMapping[str, V]: ...

    def keys(self, name: str) -> MutableSet[str]: ...

    def audience(self, observed: Mapping[str, Member], link_field: str) -> Mapping[str, Member]:
        """``observed`` as the planner reads it (a large one may be moved to disk)."""
        ...

    def record_links(self, observed: Mapping[str, Member], link_field: str) -> Mapping[str, str]:
        """Record key → email of the member linked to it (the last one listed wins)."""
        ...


class InMemory:
    """Plain dicts and sets: small runs, tests and ``crmsync plan``."""

    def strings(self, name: str) -> MutableMapping[str, str]:
        return {}

    def objects(self, name: str, kind: type[V]) -> MutableMapping[str, V]:
        return {}

    def keys(self, name: str) -> MutableSet[str]:
        return set()

    def audience(self, observed: Mapping[str, Member], link_field: str) -> Mapping[str, Member]:
        return observed

    def record_links(self, observed: Mapping[str, Member], link_field: str) -> Mapping[str, str]:
        return linked_emails(observed, link_field)


def linked_emails(observed: Mapping[str, Member], link_field: str) -> dict[str, str]:
    return {
        m.values.get(link_field, ""): email
        for email, m in observed.items()
        if m.values.get(link_field)
    }


def in_key_order(mapping: Mapping[str, V]) -> Iterable[tuple[str, V]]:
    """The items sorted by key, without copying a mapping that keeps that order itself
    (``key_ordered``: a table on disk, read through its index)."""
    if getattr(mapping, "key_ordered", False):
        return mapping.items()
    return sorted(mapping.items())


def keys_in_order(mapping: Mapping[str, V]) -> Iterable[str]:
    """The keys sorted, read as :func:`in_key_order` reads the items."""
    if getattr(mapping, "key_ordered", False):
        return iter(mapping)
    return sorted(mapping)
