"""One Connection's "newest change" answers, shared by every sync that asks (issue 14).

A thousand syncs on one CRM Connection polling the same module ask the same question: when
did anything in it last change? One of them reads the answer; the others, asking while it
is being read or within :data:`~crmsync.engine.quiet.FRESH_SECONDS` after, get the same
answer (a single flight). The state lives with the Connection's other per-account state
(:mod:`crmsync.providers.accounts`): a rotated Secret starts afresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Any, TypeVar

from crmsync.engine.quiet import fresh
from crmsync.providers.accounts import REGISTRY, AccountKey, fingerprint

T = TypeVar("T")


class ProbeError(Exception):
    """The single flight this asker joined failed: the asker runs as if it had changes."""


class ChangeProbes:
    """The answers of one Connection, by question."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._answers: dict[Hashable, tuple[float, datetime, asyncio.Future[Any]]] = {}
        self._clock = clock
        self.reads = 0
        """Answers read from the vendor (the rest were shared)."""

    async def ask(self, question: Hashable, read: Callable[[], Awaitable[T]]) -> tuple[T, datetime]:
        """The answer to ``question`` and when its read started: a fresh one shared, else
        ``read()`` (by this asker, for everyone asking meanwhile). A failed read fails its
        followers with ProbeError and leaves no answer behind."""
        now = self._clock()
        known = self._answers.get(question)
        if known is not None:
            read_at, started, answer = known
            failed = answer.done() and (answer.cancelled() or answer.exception() is not None)
            if not failed and fresh(read_at, now, in_flight=not answer.done()):
                return await asyncio.shield(answer), started
        answer = asyncio.get_running_loop().create_future()
        # Retrieved here: a failure nobody else awaited is not "never retrieved".
        answer.add_done_callback(lambda f: f.cancelled() or f.exception())
        started = datetime.now(UTC)
        self._answers[question] = (now, started, answer)
        self.reads += 1
        try:
            value = await read()
        except BaseException:
            answer.set_exception(ProbeError(f"probe {question!r} failed"))
            known = self._answers.get(question)
            if known is not None and known[2] is answer:
                del self._answers[question]
            raise
        answer.set_result(value)
        return value, started


def probes_of(connection: str, provider: str, *identity: str) -> ChangeProbes:
    """The shared answers of ``connection`` (``namespace/name``) at ``provider``; ``identity``:
    its host and credentials (only a digest is kept). Without a Connection, unshared."""
    if not connection:
        return ChangeProbes()
    # Its own provider label: the account's other state (a Zoho token) has other fingerprints.
    key = AccountKey(connection, f"{provider} probes", fingerprint(*identity))
    return REGISTRY.get(key, ChangeProbes, ChangeProbes)
