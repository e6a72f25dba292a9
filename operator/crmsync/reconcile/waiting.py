"""Loops backing off because of a Connection (not Ready, refused credentials) are woken
when a Connection of their namespace becomes Ready, instead of waiting out the backoff."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Wakeable(Protocol):
    wake: asyncio.Event
    dependency_changed: bool


_WAITING: dict[tuple[str, str, str], Wakeable] = {}


def wait_for_connections(namespace: str, plural: str, name: str, signals: Wakeable) -> None:
    _WAITING[namespace, plural, name] = signals


def stop_waiting(namespace: str, plural: str, name: str) -> None:
    _WAITING.pop((namespace, plural, name), None)


def connection_ready(namespace: str) -> int:
    """Wake every loop of the namespace that waits on a Connection; how many were woken."""
    woken = [key for key in _WAITING if key[0] == namespace]
    for key in woken:
        signals = _WAITING.pop(key)
        signals.dependency_changed = True
        signals.wake.set()
    return len(woken)
