"""Plain frozen results of store queries: no backend object ever leaves the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One time bucket of the overview chart; ``bucket`` is its start in the requested zone."""

    bucket: datetime
    pageviews: int
    visitors: int


@dataclass(frozen=True, slots=True)
class Overview:
    """Headline numbers of a site over a time range, all counted on page views."""

    pageviews: int
    visitors: int
    sessions: int
    bounce_rate: float  # share of sessions with exactly one page view, 0..1
    avg_scroll_depth: float  # mean of each page view's maximum depth, percent
    series: tuple[SeriesPoint, ...]


@dataclass(frozen=True, slots=True)
class PageStat:
    """A path with its page views and distinct visitors (for entry/exit: sessions, visitors)."""

    path: str
    pageviews: int
    visitors: int


@dataclass(frozen=True, slots=True)
class ReferrerStat:
    """Visitors and page views arriving from one referring host; "(direct)" for none/own site."""

    referrer_host: str
    visitors: int
    pageviews: int


@dataclass(frozen=True, slots=True)
class NamedCount:
    """Distinct visitors for one device class, browser or OS ("(unknown)" when empty)."""

    name: str
    visitors: int


@dataclass(frozen=True, slots=True)
class Devices:
    """Visitor breakdowns by device class, browser and operating system."""

    device: tuple[NamedCount, ...]
    browser: tuple[NamedCount, ...]
    os: tuple[NamedCount, ...]


@dataclass(frozen=True, slots=True)
class ClickBucket:
    """Clicks whose page coordinates fall in the square starting at (bx, by)."""

    bx: int
    by: int
    clicks: int


@dataclass(frozen=True, slots=True)
class SelectorStat:
    """Clicks on one element selector."""

    selector: str
    clicks: int


@dataclass(frozen=True, slots=True)
class ClickMap:
    """A click heatmap of one path: buckets, top selectors and a typical document size."""

    path: str
    bucket_px: int
    clicks: int
    buckets: tuple[ClickBucket, ...]
    selectors: tuple[SelectorStat, ...]
    doc_width: int  # median document width of the clicks, 0 when unknown
    doc_height: int


@dataclass(frozen=True, slots=True)
class DepthShare:
    """Page views whose maximum scroll depth reached ``depth`` percent, and their share."""

    depth: int
    pageviews: int
    share: float


@dataclass(frozen=True, slots=True)
class ScrollMap:
    """How far the page views of one path scrolled: reach at 0, 10, ..., 100 percent."""

    path: str
    pageviews: int
    reach: tuple[DepthShare, ...]


@dataclass(frozen=True, slots=True)
class Activity:
    """When a site was first and last seen, and how many events it has in total."""

    first_seen: datetime | None
    last_seen: datetime | None
    events: int
