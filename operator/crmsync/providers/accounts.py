"""Per-account state that outlives one client: one entry per Connection and credentials.

Vendors limit accounts, not clients (Zoho: 10 new access tokens per refresh token per 10
minutes), so whatever must be shared by every run, sync and check of one Connection in
this process lives here, keyed by the Connection's identity and a fingerprint of its
credentials. A rotated Secret is a new fingerprint: its state starts afresh and the
Connection's old entries are dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class AccountKey:
    connection: str
    """``namespace/name`` of the Connection; empty outside the operator (CLI, tests)."""
    provider: str
    fingerprint: str


def fingerprint(*parts: str) -> str:
    """A digest of hosts and credentials that never reveals them."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class AccountRegistry:
    def __init__(self) -> None:
        self._entries: dict[tuple[AccountKey, type], object] = {}

    def get(self, key: AccountKey, kind: type[T], create: Callable[[], T]) -> T:
        """The ``kind`` state of ``key``, created on first use."""
        entry = self._entries.get((key, kind))
        if entry is None:
            self._forget_rotated(key)
            entry = self._entries[(key, kind)] = create()
        if not isinstance(entry, kind):
            raise TypeError(f"{key} holds {type(entry).__name__}, not {kind.__name__}")
        return entry

    def _forget_rotated(self, key: AccountKey) -> None:
        if not key.connection:
            return
        for old, kind in list(self._entries):
            same_account = (old.connection, old.provider) == (key.connection, key.provider)
            if same_account and old.fingerprint != key.fingerprint:
                del self._entries[(old, kind)]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


REGISTRY = AccountRegistry()
"""The process's accounts (the operator runs one event loop; state is loop-safe anyway)."""
