from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync.api.v1alpha1.contactsync import Schedule
from crmsync.engine.schedule import next_run, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("24h", 86400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"frequency": "Hourly", "minute": 15}, datetime(2026, 11, 25, 11, 15, tzinfo=UTC)),
        ({"frequency": "Hourly", "minute": 45}, datetime(2026, 11, 25, 10, 45, tzinfo=UTC)),
        ({"frequency": "Daily", "at": "02:00"}, datetime(2026, 11, 26, 2, 0, tzinfo=UTC)),
        (
            {"frequency": "Daily", "at": "12:00", "timeZone": "Europe/Madrid"},
            datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
        ),
        (
            {"frequency": "Weekly", "at": "08:00", "dayOfWeek": "Monday"},
            datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        ),
        (
            {"frequency": "Weekly", "at": "11:00", "dayOfWeek": "Wednesday"},
            datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
        ),
        (
            {"frequency": "Monthly", "at": "06:00", "dayOfMonth": 31},
            datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        ),
        (
            {"frequency": "Monthly", "at": "06:00", "dayOfMonth": 1},
            datetime(2026, 12, 1, 6, 0, tzinfo=UTC),
        ),
        (
            {"frequency": "Once", "at": "09:00", "date": "2026-12-24"},
            datetime(2026, 12, 24, 9, 0, tzinfo=UTC),
        ),
        ({"frequency": "Once", "at": "09:00", "date": "2026-01-01"}, None),
    ],
    ids=[
        "hourly-later",
        "hourly-this-hour",
        "daily-tomorrow",
        "daily-madrid",
        "weekly",
        "weekly-today",
        "monthly-31-in-november",
        "monthly-next",
        "once",
        "once-past",
    ],
)
def test_next_run(schedule: dict[str, object], expected: datetime | None) -> None:
    assert next_run(Schedule.model_validate(schedule), NOW) == expected
