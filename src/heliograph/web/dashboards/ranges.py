"""The date range of a dashboard: presets and custom days in the tenant's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import QueryDict

Preset = Literal["today", "7d", "30d", "custom"]
PRESETS: dict[str, int] = {"today": 1, "7d": 7, "30d": 30}
_PRESET_NAMES: dict[str, Preset] = {"today": "today", "7d": "7d", "30d": "30d"}
PRESET_LABELS = (("today", "Today"), ("7d", "7 days"), ("30d", "30 days"))
DEFAULT_PRESET: Preset = "7d"
MAX_DAYS = 366
# Up to two days read best hour by hour; longer ranges day by day.
HOURLY_UP_TO_DAYS = 2
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 2), date(2199, 12, 31)


@dataclass(frozen=True, slots=True)
class DateRange:
    """Whole local days [first_day, last_day] as a half-open UTC-aware range, and the one before.

    The previous period has as many days and covers as much time as has elapsed in this one,
    so "today so far" compares with "yesterday up to the same hour".
    """

    preset: Preset
    first_day: date
    last_day: date
    tz: str
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def interval(self) -> Literal["hour", "day"]:
        return "hour" if self.days <= HOURLY_UP_TO_DAYS else "day"

    @property
    def label(self) -> str:
        if self.first_day == self.last_day:
            return _day_label(self.first_day)
        return f"{_day_label(self.first_day)} \u2013 {_day_label(self.last_day)}"

    def params(self) -> dict[str, str]:
        """Return the query parameters that select this range again."""
        if self.preset != "custom":
            return {"range": self.preset}
        return {
            "range": "custom",
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
        }

    def query(self, **extra: str) -> str:
        """Return the URL query string of this range plus ``extra`` parameters."""
        return urlencode({**self.params(), **extra})


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def build_range(preset: Preset, first: date, last: date, tz: str, now: datetime) -> DateRange:
    """Return the range of local days ``first``..``last`` in ``tz`` as seen at ``now``."""
    zone = ZoneInfo(tz)
    start, end = _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
    elapsed = max(min(end, now) - start, timedelta(minutes=1))
    previous_start = _midnight(first - timedelta(days=(last - first).days + 1), zone)
    previous_end = min(previous_start + elapsed, start)
    return DateRange(preset, first, last, tz, start, end, previous_start, previous_end)


def _parse_day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        return None


def parse_range(params: QueryDict, tz: str, now: datetime) -> tuple[DateRange, str]:
    """Return the range the query asks for, or the default and a message saying why not."""
    today = now.astimezone(ZoneInfo(tz)).date()
    preset = params.get("range", DEFAULT_PRESET)
    if preset in _PRESET_NAMES:
        first = today - timedelta(days=PRESETS[preset] - 1)
        return build_range(_PRESET_NAMES[preset], first, today, tz, now), ""
    if preset == "custom":
        first_day, last_day = _parse_day(params.get("from")), _parse_day(params.get("to"))
        if first_day is None or last_day is None:
            error = "Enter both dates of a custom range."
        elif not EARLIEST_DAY <= min(first_day, last_day) <= max(first_day, last_day) <= LATEST_DAY:
            error = "Choose days between 1970 and 2199."
        elif first_day > last_day:
            error = "The first day of the range is after the last."
        elif (last_day - first_day).days >= MAX_DAYS:
            error = f"A range covers at most {MAX_DAYS} days."
        else:
            return build_range("custom", first_day, last_day, tz, now), ""
    else:
        error = "Unknown range."
    first = today - timedelta(days=PRESETS[DEFAULT_PRESET] - 1)
    return build_range(DEFAULT_PRESET, first, today, tz, now), error
