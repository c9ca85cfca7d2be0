"""What every dashboard query shares: its range, the page-view filter, time buckets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, LiteralString
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from heliograph.core.errors import InputError
from heliograph.core.tenancy import TenantScope
from heliograph.store.sql import EventQuery, Table

Interval = Literal["hour", "day"]
PAGEVIEWS = "type = 'pageview'"
_MAX_BUCKETS = 24 * 400


@dataclass(frozen=True, slots=True)
class Window:
    """One site over the half-open time range [start, end) of one tenant."""

    scope: TenantScope
    site_id: int
    start: datetime
    end: datetime

    def query(self) -> EventQuery:
        """Start a query over this window; the builder checks scope, site and range."""
        return EventQuery(self.scope, site_id=self.site_id, start=self.start, end=self.end)

    def query_of(self, table: Table, time: LiteralString) -> EventQuery:
        """Start a query of the rows of ``table`` whose ``time`` column is in this window."""
        return EventQuery(
            self.scope, site_id=self.site_id, start=self.start, end=self.end, table=table, time=time
        )


def zone(tz: str) -> ZoneInfo:
    """Return the IANA zone named ``tz`` or raise InputError."""
    if not isinstance(tz, str) or not tz or tz.startswith(("/", ".")) or ".." in tz:
        raise InputError("bad_timezone", "unknown time zone")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError("bad_timezone", "unknown time zone") from None


def bucket_starts(window: Window, tz: ZoneInfo, interval: Interval) -> Iterator[datetime]:
    """Yield the local start of every bucket that overlaps the window, in ``tz``."""
    last = (window.end - timedelta(microseconds=1)).astimezone(tz)
    local = window.start.astimezone(tz)
    if interval == "day":
        day = local.date()
        while day <= last.date():
            yield datetime(day.year, day.month, day.day, tzinfo=tz)
            day += timedelta(days=1)
        return
    # Step in UTC so hours repeated or skipped by daylight saving are counted once each.
    at = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    while at <= last:
        yield at.astimezone(tz)
        at += timedelta(hours=1)


def check_interval(window: Window, interval: object) -> Interval:
    """Return ``interval`` if it is "hour" or "day" and yields a drawable number of buckets."""
    if interval not in ("hour", "day"):
        raise InputError("bad_interval", "interval must be 'hour' or 'day'")
    step = timedelta(hours=1) if interval == "hour" else timedelta(days=1)
    if (window.end - window.start) / step > _MAX_BUCKETS:
        raise InputError("bad_interval", "too many buckets: choose a wider interval")
    return "hour" if interval == "hour" else "day"
