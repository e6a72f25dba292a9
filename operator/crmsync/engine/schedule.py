"""When runs are due: durations, schedules (P1, M4) and the trigger decision."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from crmsync.api.v1alpha1.contactsync import Frequency, Schedule, Weekday

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_WEEKDAYS = list(Weekday)


def parse_duration(text: str) -> timedelta:
    """Go-style durations as the CRD pattern allows them: ``90s``, ``5m``, ``1h30m``."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def _at(schedule: Schedule) -> time:
    hours, minutes = (schedule.at or "00:00").split(":")
    return time(int(hours), int(minutes))


def _last_day_clamped(year: int, month: int, day: int) -> int:
    return min(day, calendar.monthrange(year, month)[1])


def next_run(schedule: Schedule, after: datetime) -> datetime | None:
    """The first due time strictly after ``after`` (aware), or None when a one-off is past."""
    zone = ZoneInfo(schedule.time_zone)
    local = after.astimezone(zone)
    frequency = Frequency(schedule.frequency)
    if frequency == Frequency.ONCE:
        year, month, day = (int(p) for p in (schedule.date or "1970-01-01").split("-"))
        due = datetime.combine(datetime(year, month, day).date(), _at(schedule), zone)
        return due if due > local else None
    if frequency == Frequency.HOURLY:
        due = local.replace(minute=schedule.minute, second=0, microsecond=0)
        return due if due > local else due + timedelta(hours=1)
    if frequency == Frequency.DAILY:
        due = datetime.combine(local.date(), _at(schedule), zone)
        return (
            due
            if due > local
            else datetime.combine(local.date() + timedelta(days=1), _at(schedule), zone)
        )
    if frequency == Frequency.WEEKLY:
        target = _WEEKDAYS.index(Weekday(schedule.day_of_week or Weekday.MONDAY))
        for offset in range(8):
            candidate = local.date() + timedelta(days=offset)
            due = datetime.combine(candidate, _at(schedule), zone)
            if candidate.weekday() == target and due > local:
                return due
        raise AssertionError("a week always has the weekday")
    wanted_day = schedule.day_of_month or 1
    year, month = local.year, local.month
    for _ in range(3):
        day = _last_day_clamped(year, month, wanted_day)
        due = datetime.combine(datetime(year, month, day).date(), _at(schedule), zone)
        if due > local:
            return due
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("a month ahead always has the day")
