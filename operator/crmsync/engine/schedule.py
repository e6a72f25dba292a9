"""When runs are due: durations, schedules (P1, M4) and the trigger decision."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmsync.api.v1alpha1._types import parse_duration
from crmsync.api.v1alpha1.contactsync import Frequency, Schedule, Weekday
from crmsync.engine.specerror import SpecError

__all__ = ["next_run", "parse_duration", "time_zone"]

_WEEKDAYS = list(Weekday)
SCHEDULE_FIELD = "spec.trigger.schedule"


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def time_zone(schedule: Schedule) -> ZoneInfo:
    """The schedule's zone, or SpecError when this operator's tz database lacks it."""
    zone = _zone(schedule.time_zone)
    if zone is None:
        raise SpecError(
            f"{SCHEDULE_FIELD}.timeZone",
            "UnknownTimeZone",
            f"{schedule.time_zone!r} is not a time zone this operator knows (IANA names "
            "such as Europe/Madrid or UTC)",
        )
    return zone


def _at(schedule: Schedule) -> time:
    hours, minutes = (schedule.at or "00:00").split(":")
    return time(int(hours), int(minutes))


def _once_date(schedule: Schedule) -> date:
    try:
        return date.fromisoformat(schedule.date or "")
    except ValueError:
        raise SpecError(
            f"{SCHEDULE_FIELD}.date",
            "InvalidDate",
            f"{schedule.date!r} is not a day (YYYY-MM-DD) for a Once schedule",
        ) from None


def _last_day_clamped(year: int, month: int, day: int) -> int:
    return min(day, calendar.monthrange(year, month)[1])


def next_run(schedule: Schedule, after: datetime) -> datetime | None:
    """The first due time strictly after ``after`` (aware), or None when a one-off is past."""
    zone = time_zone(schedule)
    local = after.astimezone(zone)
    frequency = Frequency(schedule.frequency)
    if frequency == Frequency.ONCE:
        due = datetime.combine(_once_date(schedule), _at(schedule), zone)
        return due if due > local else None
    if frequency == Frequency.HOURLY:
        due = local.replace(minute=schedule.minute or 0, second=0, microsecond=0)
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
