"""Page maps: where visitors click on a path, and how far down it they scroll.

Clicks are read from ``clicks`` (the click events, ordered by path and time); scroll depth from
the per-page-view state ``page_views`` and its hourly histogram ``scroll_hours``, which count a
page view in the window of its pageview row at the deepest of all its pageview and scroll rows
(schema/rollups.py).
"""

from __future__ import annotations

from heliograph.core.errors import InputError
from heliograph.store.backends.base import Backend
from heliograph.store.queries.common import Window
from heliograph.store.queries.rollup import HOUR, combine, split
from heliograph.store.results import ClickBucket, ClickMap, DepthShare, ScrollMap, SelectorStat
from heliograph.store.sql import EventQuery

DEPTHS = tuple(range(0, 101, 10))
_MAX_BUCKET_PX = 1000
_MAX_PATH_CHARS = 2048
# A heatmap never needs more cells than a very tall page at the finest grid.
_MAX_CELLS = 20_000


def check_path(path: object) -> str:
    """Return ``path`` if it is a string of sane length, else raise InputError."""
    if not isinstance(path, str) or len(path) > _MAX_PATH_CHARS:
        raise InputError("bad_path", f"path must be a string of at most {_MAX_PATH_CHARS} chars")
    return path


def _clicks(window: Window, path: str) -> EventQuery:
    return window.query_of("clicks", "ts").where("path = {path:String}", path=path)


def _cells(backend: Backend, window: Window, path: str, px: int) -> tuple[ClickBucket, ...]:
    stmt = (
        _clicks(window, path)
        .select(
            "intDiv(x, {px:UInt32}) * {px:UInt32} AS bx",
            "intDiv(y, {px:UInt32}) * {px:UInt32} AS by",
            "count() AS clicks",
            px=px,
        )
        .group_by("bx", "by")
        .order_by("clicks DESC", "by", "bx")
        .limit(_MAX_CELLS)
        .build()
    )
    return tuple(ClickBucket(int(x), int(y), int(c)) for x, y, c in backend.select(stmt))


def _selectors(backend: Backend, window: Window, path: str, limit: int) -> tuple[SelectorStat, ...]:
    stmt = (
        _clicks(window, path)
        .where("selector != ''")
        .select("selector", "count() AS clicks")
        .group_by("selector")
        .order_by("clicks DESC", "selector")
        .limit(limit)
        .build()
    )
    return tuple(SelectorStat(str(s), int(c)) for s, c in backend.select(stmt))


def click_map(backend: Backend, window: Window, path: str, bucket_px: int, limit: int) -> ClickMap:
    """Return click cells of ``bucket_px`` CSS pixels, top selectors and the median page size."""
    path = check_path(path)
    if type(bucket_px) is not int or not 0 < bucket_px <= _MAX_BUCKET_PX:
        raise InputError("bad_bucket", f"bucket_px must be an integer from 1 to {_MAX_BUCKET_PX}")
    summary = (
        _clicks(window, path)
        .select("count()", "quantileExactIf(0.5)(dw, dw > 0)", "quantileExactIf(0.5)(dh, dh > 0)")
        .build()
    )
    clicks, width, height = backend.select(summary)[0]
    return ClickMap(
        path=path,
        bucket_px=bucket_px,
        clicks=int(clicks),
        buckets=_cells(backend, window, path, bucket_px),
        selectors=_selectors(backend, window, path, limit),
        doc_width=int(width or 0),
        doc_height=int(height or 0),
    )


def scroll_map(backend: Backend, window: Window, path: str) -> ScrollMap:
    """Return the share of a path's page views whose maximum depth reached 0, 10, ..., 100%.

    A page view counts if its pageview row is in the window; its depth is the maximum over its
    pageview and scroll rows, so a page view that never scrolled sits at its pageview row's depth.
    """
    path = check_path(path)
    parts = split(window, HOUR)
    coarse, fine = parts.coarse("scroll_hours", "hour"), parts.fine("page_views", "pv_ts")
    stmt = combine(
        coarse.where("path = {path:String}", path=path).select("tenth", "pageviews").build()
        if coarse
        else None,
        fine.where("pv_rows > 0 AND path = {path:String}", path=path)
        .select(
            "toUInt8(intDiv(least(depth, 100), 10) * 10) AS tenth", "toInt64(sign) AS pageviews"
        )
        .build()
        if fine
        else None,
    ).wrap("tenth, sum(pageviews) AS n", "GROUP BY tenth")
    histogram = {int(t): int(n) for t, n in backend.select(stmt) if int(n)}
    total = sum(histogram.values())
    reach = []
    for depth in DEPTHS:
        reached = sum(n for t, n in histogram.items() if t >= depth)
        reach.append(DepthShare(depth, reached, reached / total if total else 0.0))
    return ScrollMap(path=path, pageviews=total, reach=tuple(reach))
