"""Bounded value types: durations, times and dates that both the API server (OpenAPI
pattern/format and CEL) and pydantic refuse alike when they are out of range."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

DURATION_PATTERN = r"^([0-9]{1,5}(\.[0-9]{1,6})?(ms|s|m|h))+$"
"""Go-style durations; at most five digits a part keeps any value within Go's (and so
CEL's) duration range, so ``duration(self)`` never fails on a value the pattern allows."""

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]
"""A Go-style duration such as ``30s``, ``5m`` or ``1h30m``."""


def parse_duration(text: str) -> timedelta:
    """Go-style durations as the CRD pattern allows them: ``90s``, ``5m``, ``1h30m``."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    try:
        return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))
    except OverflowError:
        raise ValueError(f"duration out of range: {text!r}") from None


@dataclass(frozen=True)
class DurationRange:
    """``Annotated[Duration, DurationRange("30s", "24h")]``: inclusive bounds, checked by
    pydantic and by a CEL rule in the CRD."""

    minimum: str
    maximum: str

    @property
    def message(self) -> str:
        return f"must be a duration from {self.minimum} to {self.maximum}"

    def _check(self, value: str) -> str:
        span = parse_duration(value)
        if not parse_duration(self.minimum) <= span <= parse_duration(self.maximum):
            raise ValueError(self.message)
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["x-kubernetes-validations"] = [
            {
                "rule": f"duration(self) >= duration('{self.minimum}') && "
                f"duration(self) <= duration('{self.maximum}')",
                "message": self.message,
            }
        ]
        return json_schema


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _bounded_time(value: datetime) -> datetime:
    """Naive times are UTC (the API server reads them so); far past or future is refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        within = EARLIEST <= value < LATEST
    except OverflowError:
        within = False
    if not within:
        raise ValueError("must be from 1970-01-01 to 2199-12-31 (UTC)")
    return value


Timestamp = Annotated[
    datetime,
    AfterValidator(_bounded_time),
    Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self >= timestamp('1970-01-01T00:00:00Z') && "
                    "self < timestamp('2200-01-01T00:00:00Z')",
                    "message": "must be from 1970-01-01 to 2199-12-31 (UTC)",
                }
            ]
        }
    ),
]
"""A point in time in a spec (RFC 3339); without an offset it is UTC."""


def _calendar_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a day of the calendar") from None
    return value


CalendarDate = Annotated[
    str,
    Field(pattern=r"^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$", json_schema_extra={"format": "date"}),
    AfterValidator(_calendar_date),
]
"""A day, YYYY-MM-DD, from 2000 to 2199, that exists (no 2026-02-30)."""

TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
"""The shape of IANA zone names (Europe/Madrid, America/Argentina/Buenos_Aires, Etc/GMT+5):
no dots, no leading slash, so a name is never a path outside the zone database. Whether
the zone exists is the operator's check (its tz database decides)."""
