"""Failures that repeat: reported once, retried later and later (``status.retry``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crmsync.api.v1alpha1.status import Retry
from crmsync.engine.backoff import retry_delay
from crmsync.reconcile.live import LiveObject


def current_retry(body: dict[str, Any]) -> Retry | None:
    raw = (body.get("status") or {}).get("retry")
    if not raw:
        return None
    try:
        return Retry.model_validate(raw)
    except ValidationError:
        return None


def retry_at(body: dict[str, Any]) -> datetime | None:
    """When the backoff of the object's current generation ends (None: not backing off)."""
    retry = current_retry(body)
    generation = int(body["metadata"].get("generation", 0))
    if retry is None or retry.generation != generation:
        return None
    return retry.next_retry_time


def validation_message(exc: ValidationError, within: tuple[str, ...] = ("spec",)) -> str:
    """The first error with the field it concerns: ``spec.trigger.pollInterval: …``
    (``within``: where the validated object sits in the resource)."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in (*within, *error["loc"]))
    return f"{where}: {error['msg']}"


async def back_off(
    obj: LiveObject,
    body: dict[str, Any],
    reason: str,
    message: str,
    *,
    condition: tuple[str, bool | None] | None = ("Ready", False),
    event: bool = True,
) -> datetime:
    """Record a failure and return when to try again.

    The first failure of a reason at a generation posts one Warning Event; the condition
    (``Ready=False`` by default) carries the reason at the current generation; every
    failure doubles the wait (with jitter) up to the cap. A pass woken before the retry
    time (a watch event, a notification) fails again without counting or reporting."""
    now = datetime.now(UTC)
    generation = int(body["metadata"].get("generation", 0))
    previous = current_retry(body)
    same_generation = previous is not None and previous.generation == generation
    repeated = same_generation and previous is not None and previous.reason == reason
    if repeated and previous is not None and now < previous.next_retry_time:
        return previous.next_retry_time
    failures = previous.failures + 1 if same_generation and previous is not None else 1
    retry = Retry(
        reason=reason,
        message=message[:1024],
        failures=failures,
        generation=generation,
        next_retry_time=now + retry_delay(failures, random.random()),
    )
    obj.logger.warning(
        "%s: %s (failure %d; next try at %s)",
        reason,
        message,
        failures,
        retry.next_retry_time.isoformat(timespec="seconds"),
    )
    await obj.patch_status(body, {"retry": retry.to_wire()})
    if condition is not None:
        await obj._conditions(obj.snapshot(), (condition[0], condition[1], reason, message[:1000]))
    if event and not repeated:
        await obj._event(body, "Warning", reason, message)
    return retry.next_retry_time


async def clear_retry(obj: LiveObject, body: dict[str, Any]) -> None:
    """A pass that succeeded ends the backoff."""
    if (body.get("status") or {}).get("retry") is not None:
        await obj.patch_status(body, {"retry": None})
