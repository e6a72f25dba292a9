"""One Connection's "newest change" answers, shared by every sync that asks (issue 14).

A thousand syncs on one CRM Connection polling the same module ask the same question: when
did anything in it last change? One of them reads the answer; the others, asking while it
is being read or within :data:`~crmsync.engine.quiet.FRESH_SECONDS` after, get the same
answer (a single flight). The state lives with the Connection's other per-account state
(:mod:`crmsync.providers.accounts`): a rotated Secret starts afresh.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from crmsync.engine import quiet
from crmsync.providers.accounts import REGISTRY, AccountKey, fingerprint
from crmsync.providers.shared import Recent

T = TypeVar("T")


class ProbeError(Exception):
    """The single flight this asker joined failed: the asker runs as if it had changes."""


class ChangeProbes:
    """The answers of one Connection, by question: a :class:`~crmsync.providers.shared.Recent`
    kept :data:`~crmsync.engine.quiet.FRESH_SECONDS`, each answer with when its read began."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._answers: Recent[Hashable, tuple[Any, datetime]] = Recent(quiet.FRESH_SECONDS, clock)
        self.reads = 0
        """Answers read from the vendor (the rest were shared)."""

    async def ask(self, question: Hashable, read: Callable[[], Awaitable[T]]) -> tuple[T, datetime]:
        """The answer to ``question`` and when its read started: a fresh one shared, else
        ``read()`` (by this asker, for everyone asking meanwhile). A failed read fails its
        followers with ProbeError and leaves no answer behind."""
        self._answers.keep = quiet.FRESH_SECONDS  # as it stands now (tests shorten it)
        leading = False

        async def timed() -> tuple[Any, datetime]:
            nonlocal leading
            leading = True
            self.reads += 1
            started = datetime.now(UTC)
            return await read(), started

        try:
            answer = await self._answers.get(question, timed)
        except Exception as error:
            if leading:
                raise
            raise ProbeError(f"probe {question!r} failed") from error
        return cast(tuple[T, datetime], answer)


def probes_of(connection: str, provider: str, *identity: str) -> ChangeProbes:
    """The shared answers of ``connection`` (``namespace/name``) at ``provider``; ``identity``:
    its host and credentials (only a digest is kept). Without a Connection, unshared."""
    if not connection:
        return ChangeProbes()
    # Its own provider label: the account's other state (a Zoho token) has other fingerprints.
    key = AccountKey(connection, f"{provider} probes", fingerprint(*identity))
    return REGISTRY.get(key, ChangeProbes, ChangeProbes)
