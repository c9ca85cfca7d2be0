"""Traffic dashboards: overview, pages, entry and exit pages, referrers, devices.

Definitions:
- page views are the pageview events in the window; visitors are the distinct visitor_id values
  among them (by the page view's time), counted exactly on their 64-bit hashes (visitor_key; a
  collision among a million ids has odds of about 1 in 30 million);
- a session is one session_id (hashed the same way: session_key). Session numbers (sessions,
  bounce rate, entry and exit pages, referrers) count the sessions that *start* in the window,
  i.e. whose first page view is in it, and describe each whole session: its page views, its
  first and last page view, also where these fall after the window's end. (Until schema version
  2 a session was clipped to the window, so a session running across the window's start counted
  with its first page view inside the window; starting-in-the-window is what lets one stored row
  per session answer without reading its page views, schema/rollups.py);
- a bounce is a session with exactly one page view;
- the entry (exit) page of a session is the path of its first (last) page view; its referrer is
  the external referring host of its first page view, "(direct)" when that is empty or the
  page's own host;
- a page view's scroll depth is the maximum ``depth`` of its pageview and scroll rows (a page
  view without scroll rows keeps its pageview row's depth, 0 unless the tag recorded one); a page
  view counts in the window of its pageview row.

Every number is exact: roll-ups answer the whole 15-minute slots (hours, UTC days) of a window
and the rows they are kept from answer its edges (queries/rollup.py). Distinct visitors are
counted with uniqExact over the narrowest rows that still name each visitor: per 15-minute slot
for the overview, per month with a bitmap of days for the device breakdowns, per path and hour
for the candidate top pages, per session for sources and entry and exit pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import LiteralString

from heliograph.store.backends.base import Backend, Row
from heliograph.store.queries.common import (
    PAGEVIEWS,
    Interval,
    Window,
    bucket_starts,
    check_interval,
    zone,
)
from heliograph.store.queries.rollup import DAY, HOUR, SLOT, combine, split
from heliograph.store.results import (
    Devices,
    NamedCount,
    Overview,
    PageStat,
    ReferrerStat,
    SeriesPoint,
)
from heliograph.store.sql import EventQuery, ScopedStatement, check_limit

_BUCKET = {
    "hour": "toUnixTimestamp(toStartOfHour(t, {tz:String})) AS bucket",
    "day": "toUnixTimestamp(toStartOfDay(t, {tz:String})) AS bucket",
}
_DEVICE_DIMENSIONS = ("device", "browser", "os")


def _page_view_rows(window: Window, cuts: Sequence[datetime]) -> ScopedStatement:
    """Page views of the window as (t, visitor_key, pageviews) rows, partly pre-summed."""
    parts = split(window, SLOT, cuts)
    coarse = parts.coarse("traffic_slots", "slot")
    fine = parts.fine()
    return combine(
        coarse.select("slot AS t", "visitor_key", "pageviews").build() if coarse else None,
        fine.where(PAGEVIEWS)
        .select("toDateTime(ts) AS t", "visitor_key", "toUInt64(1) AS pageviews")
        .build()
        if fine
        else None,
    )


def _series(
    backend: Backend, window: Window, tz: str, interval: Interval
) -> tuple[int, int, tuple[SeriesPoint, ...]]:
    """Return page views and visitors of the window and per bucket, in one pass.

    GROUPING SETS counts the window's distinct visitors beside the buckets' from the same
    rows: cheaper than a second pass over any table.
    """
    zone_info = zone(tz)
    starts = {int(s.timestamp()): s for s in bucket_starts(window, zone_info, interval)}
    rows = _page_view_rows(window, list(starts.values()))
    stmt = rows.wrap(
        f"{_BUCKET[interval]}, grouping(bucket) AS whole, sum(pageviews), uniqExact(visitor_key)",
        "GROUP BY GROUPING SETS ((bucket), ())",
        tz=tz,
    )
    found: dict[int, tuple[int, int]] = {}
    totals = (0, 0)
    for bucket, whole, pageviews, visitors in backend.select(stmt):
        if int(whole):  # grouping() is 1 on the () set: the whole window
            totals = (int(pageviews), int(visitors))
        else:
            found[int(bucket)] = (int(pageviews), int(visitors))
    # Keep any bucket ClickHouse produced that the calendar walk did not (odd DST rules).
    starts.update({b: datetime.fromtimestamp(b, zone_info) for b in found if b not in starts})
    series = tuple(SeriesPoint(starts[b], *found.get(b, (0, 0))) for b in sorted(starts))
    return totals[0], totals[1], series


def _session_sums(backend: Backend, window: Window) -> tuple[int, int, int, int]:
    """Return sessions and bounces starting in the window, page views and their depth total."""
    parts = split(window, SLOT)
    coarse = parts.coarse("overview_slots", "slot")
    sessions = parts.fine("sessions", "first_ts")
    views = parts.fine("page_views", "pv_ts")
    stmt = combine(
        coarse.select("sessions", "bounces", "depth_views", "depth_sum").build()
        if coarse
        else None,
        sessions.select(
            "toInt64(sign) AS sessions",
            "toInt64(if(views = 1, sign, 0)) AS bounces",
            "toInt64(0) AS depth_views",
            "toInt64(0) AS depth_sum",
        ).build()
        if sessions
        else None,
        views.where("pv_rows > 0")
        .select(
            "toInt64(0) AS sessions",
            "toInt64(0) AS bounces",
            "toInt64(sign) AS depth_views",
            "toInt64(sign * depth) AS depth_sum",
        )
        .build()
        if views
        else None,
    ).wrap("sum(sessions), sum(bounces), sum(depth_views), sum(depth_sum)")
    sessions_n, bounces, viewed, depth = backend.select(stmt)[0]
    return int(sessions_n), int(bounces), int(viewed), int(depth)


def overview(backend: Backend, window: Window, tz: str, interval: object) -> Overview:
    """Return the headline numbers and the filled time series of a window."""
    window.query()  # validate scope, site and range before anything else
    zone(tz)
    checked = check_interval(window, interval)
    pageviews, visitors, series = _series(backend, window, tz, checked)
    sessions, bounces, viewed, depth = _session_sums(backend, window)
    return Overview(
        pageviews=pageviews,
        visitors=visitors,
        sessions=sessions,
        bounce_rate=bounces / sessions if sessions else 0.0,
        avg_scroll_depth=depth / viewed if viewed else 0.0,
        series=series,
    )


def _ranked(rows: list[Row], limit: int) -> tuple[PageStat, ...]:
    """Order (path, count, visitors) rows by count, visitors, path and keep ``limit``."""
    stats = [PageStat(str(p), int(n), int(v)) for p, n, v in rows]
    stats.sort(key=lambda s: (-s.pageviews, -s.visitors, s.path))
    return tuple(stats[:limit])


def top_pages(backend: Backend, window: Window, limit: int) -> tuple[PageStat, ...]:
    """Return the most viewed paths with their page views and visitors.

    Two passes: page views per path (whole UTC days from page_days, whole hours around them
    from page_visitors, the rest from the events) name the candidates, the top ``limit`` with
    ties; then distinct visitors are counted for those paths only: counting them for every path
    would handle every (path, visitor) pair of the window.
    """
    top = check_limit(limit)
    days, parts = split(window, DAY), split(window, HOUR)
    by_day = days.coarse("page_days", "day")
    by_hour = parts.coarse("page_visitors", "hour", outside=days)
    fine = parts.fine()
    counts = combine(
        by_day.select("path", "pageviews").build() if by_day else None,
        by_hour.select("path", "pageviews").build() if by_hour else None,
        fine.where(PAGEVIEWS).select("path", "toUInt64(1) AS pageviews").build() if fine else None,
    ).wrap(
        "path, sum(pageviews) AS n",
        "GROUP BY path ORDER BY n DESC LIMIT {top:UInt32} WITH TIES",
        top=top,
    )
    candidates = tuple(str(path) for path, _ in backend.select(counts))
    if not candidates:
        return ()
    coarse, fine = parts.coarse("page_visitors", "hour"), parts.fine()
    visitors = combine(
        coarse.where("path IN {paths:Array(String)}", paths=candidates)
        .select("path", "visitor_key", "pageviews")
        .build()
        if coarse
        else None,
        fine.where(PAGEVIEWS)
        .where("path IN {paths:Array(String)}", paths=candidates)
        .select("path", "visitor_key", "toUInt64(1) AS pageviews")
        .build()
        if fine
        else None,
    ).wrap("path, sum(pageviews), uniqExact(visitor_key)", "GROUP BY path")
    return _ranked(backend.select(visitors), top)


def _session_groups(
    backend: Backend, window: Window, column: LiteralString, values: tuple[str, ...] | None
) -> dict[str, tuple[int, int, int]]:
    """Return sessions, distinct visitors and page views per ``column`` value (or of ``values``).

    Over the sessions starting in the window. A session's update leaves a cancel row beside the
    row it cancels (with the same first_ts, so in the same window) until a background merge
    removes both. Without cancel rows in the window, one plain read is exact. With some, the
    count is read again with the ``final`` setting, which collapses them in the read: one
    statement sees one state of the table. (Subtracting the cancelled pairs in a second
    statement could straddle a merge and count a visitor on a page their session had left.)
    """
    query = window.query_of("sessions", "first_ts")
    if values is not None:
        query.where(f"{column} IN {{values:Array(String)}}", values=values)
    counted = (
        query.select(
            f"{column} AS value",
            "sum(sign) AS n",
            "uniqExactIf(visitor_key, sign > 0) AS visitors",
            "sum(sign * views) AS views",
            "countIf(sign < 0) AS cancels",
        )
        .group_by("value")
        .build()
    )
    rows = backend.select(counted)
    if any(int(row[4]) for row in rows):
        rows = backend.select(counted.wrap("*", "SETTINGS final = 1"))
    return {str(v): (int(n), int(u), int(pv)) for v, n, u, pv, _ in rows if int(n) > 0}


def _edge_pages(
    backend: Backend, window: Window, edge: LiteralString, limit: int
) -> tuple[PageStat, ...]:
    """Return the top entry (exit) paths of the sessions starting in the window.

    Sessions per path (whole UTC days from edge_days, the rest from the sessions) name the
    candidates, the top ``limit`` with ties; distinct visitors are counted over those paths'
    sessions only.
    """
    top = check_limit(limit)
    parts = split(window, DAY)
    coarse = parts.coarse("edge_days", "day")
    fine = parts.fine("sessions", "first_ts")
    counts = combine(
        coarse.where("edge = {edge:String}", edge=edge).select("path", "sessions").build()
        if coarse
        else None,
        fine.select(f"{edge}_path AS path", "toInt64(sign) AS sessions").build() if fine else None,
    ).wrap(
        "path, sum(sessions) AS n",
        "GROUP BY path HAVING n > 0 ORDER BY n DESC LIMIT {top:UInt32} WITH TIES",
        top=top,
    )
    candidates = tuple(str(path) for path, _ in backend.select(counts))
    if not candidates:
        return ()
    groups = _session_groups(backend, window, f"{edge}_path", candidates)
    stats = [PageStat(path, n, visitors) for path, (n, visitors, _) in groups.items()]
    stats.sort(key=lambda s: (-s.pageviews, -s.visitors, s.path))
    return tuple(stats[:top])


def entry_pages(backend: Backend, window: Window, limit: int) -> tuple[PageStat, ...]:
    """Return the paths sessions start on; ``pageviews`` counts those sessions."""
    return _edge_pages(backend, window, "entry", limit)


def exit_pages(backend: Backend, window: Window, limit: int) -> tuple[PageStat, ...]:
    """Return the paths sessions end on; ``pageviews`` counts those sessions."""
    return _edge_pages(backend, window, "exit", limit)


def referrers(backend: Backend, window: Window, limit: int) -> tuple[ReferrerStat, ...]:
    """Return referring hosts by visitors, with the page views of the sessions they sent."""
    top = check_limit(limit)
    groups = _session_groups(backend, window, "source", None)
    stats = [ReferrerStat(host, visitors, pv) for host, (_, visitors, pv) in groups.items()]
    stats.sort(key=lambda s: (-s.visitors, -s.pageviews, s.referrer_host))
    return tuple(stats[:top])


# Rows of the months in [month_from, month_to) with a day in it: ``masks`` holds, per month
# (YYYYMM in ``months``), the bits of its days in the range (bit d-1 for day d). Masks come
# from Python: computing them per row costs a fifth of the query.
_MONTH_DAYS = (
    "month >= toStartOfMonth(toDate({month_from:DateTime64(3, 'UTC')}))"
    " AND month < toDate({month_to:DateTime64(3, 'UTC')})"
    " AND bitAnd(days, transform(toYYYYMM(month), {months:Array(UInt32)},"
    " {masks:Array(UInt32)}, toUInt32(0))) != 0"
)


def _month_masks(start: datetime, end: datetime) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return (YYYYMM, bits of the days in [start, end)) of every month the UTC days touch."""
    months: list[int] = []
    masks: list[int] = []
    day, end_day = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    while day < end_day:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        last = min(end_day, following)
        months.append(first.year * 100 + first.month)
        masks.append((1 << (last - first).days) - (1 << (day - first).days))
        day = following
    return tuple(months), tuple(masks)


# What visitor_months keeps per page view, for the rows read from finer tables.
_FAN_OUT = (
    "arrayJoin([('device', toString(device)), ('browser', toString(browser)),"
    " ('os', toString(os))]) AS pair"
)
_FANNED = "toLowCardinality(pair.1) AS dim, toLowCardinality(pair.2) AS value, visitor_key"


def _client_rows(window: Window) -> ScopedStatement:
    """(dim, value, visitor_key) rows of the window's page views, per breakdown, repeated.

    Whole UTC days come from ``visitor_months`` (one row per visitor, value and month), the
    remaining whole 15-minute slots from ``traffic_slots``, the edges from the events.
    """
    days, slots = split(window, DAY), split(window, SLOT)
    months = None
    if days.inner is not None:
        months = EventQuery(window.scope, site_id=window.site_id, table="visitor_months")
        numbers, masks = _month_masks(*days.inner)
        months.where(
            _MONTH_DAYS,
            month_from=days.inner[0],
            month_to=days.inner[1],
            months=numbers,
            masks=masks,
        )
    coarse = slots.coarse("traffic_slots", "slot", outside=days)
    fine = slots.fine()
    if fine is not None:
        fine.where(PAGEVIEWS)
    return combine(
        months.select("dim", "value", "visitor_key").build() if months else None,
        *(
            query.select(_FAN_OUT, "visitor_key").build().wrap(_FANNED)
            for query in (coarse, fine)
            if query is not None
        ),
    )


def devices(backend: Backend, window: Window, limit: int) -> Devices:
    """Return distinct visitors by device class, browser and OS (top ``limit`` of each).

    visitor_months keeps a row per visitor and value of each breakdown, so one pass counts
    all three without reading a visitor's (device, browser, os) row three times.
    """
    counts = _client_rows(window).wrap(
        "dim, value, uniqExact(visitor_key) AS n", "GROUP BY dim, value"
    )
    stmt = counts.wrap(
        "toString(dim) AS d, if(value = '', '(unknown)', toString(value)) AS name, n",
        "ORDER BY n DESC, name LIMIT {top:UInt32} BY d",
        top=check_limit(limit),
    )
    found: dict[str, list[NamedCount]] = {d: [] for d in _DEVICE_DIMENSIONS}
    for dim, name, visitors in backend.select(stmt):
        found[str(dim)].append(NamedCount(str(name), int(visitors)))
    return Devices(*(tuple(found[d]) for d in _DEVICE_DIMENSIONS))
