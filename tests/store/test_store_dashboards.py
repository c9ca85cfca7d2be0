"""Dashboard numbers are exact on a small hand-made data set (and ignore the other tenant)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import T0, event
from heliograph.core.errors import InputError
from heliograph.core.tenancy import TenantScope
from heliograph.store import api

END = T0 + timedelta(days=2)
H = timedelta(hours=1)
M = timedelta(minutes=1)
V1 = {"visitor_id": "v1", "device": "desktop", "browser": "Firefox", "os": "Linux"}
V2 = {"visitor_id": "v2", "device": "mobile", "browser": "Safari", "os": "iOS"}


def _site_one() -> list:
    """Three sessions of two visitors on site 1, plus rows just outside the window."""
    s1 = {"session_id": "s1", **V1}
    s2 = {"session_id": "s2", **V1}
    s3 = {"session_id": "s3", **V2}
    day1 = T0 + 10 * H
    late = T0 + 23 * H
    return [
        # s1: "/" from google, scrolled to 80, two clicks on #buy; then "/pricing", one click.
        event(**s1, pageview_id="pv1", ts=day1, referrer_host="www.google.com"),
        event(**s1, pageview_id="pv1", ts=day1 + M, type="scroll", depth=40),
        event(**s1, pageview_id="pv1", ts=day1 + 2 * M, type="scroll", depth=80),
        event(
            **s1,
            pageview_id="pv1",
            ts=day1 + 3 * M,
            type="click",
            x=15,
            y=25,
            selector="#buy",
            dw=1000,
            dh=3000,
        ),
        event(
            **s1,
            pageview_id="pv1",
            ts=day1 + 4 * M,
            type="click",
            x=18,
            y=22,
            selector="#buy",
            dw=1000,
            dh=3000,
        ),
        event(
            **s1, pageview_id="pv2", ts=day1 + 5 * M, path="/pricing", referrer_host="shop.example"
        ),
        event(
            **s1,
            pageview_id="pv2",
            ts=day1 + 6 * M,
            path="/pricing",
            type="click",
            x=500,
            y=1000,
            selector="#plan",
            dw=1200,
            dh=2000,
        ),
        # s2: a bounce on "/" at 02:00 UTC on day 2 (21:00 on day 1 in New York), from the
        # site itself (so "(direct)"), scrolled to the bottom, one click on #nav.
        event(**s2, pageview_id="pv3", ts=T0 + 26 * H, referrer_host="shop.example"),
        event(**s2, pageview_id="pv3", ts=T0 + 26 * H + M, type="scroll", depth=100),
        event(
            **s2,
            pageview_id="pv3",
            ts=T0 + 26 * H + 2 * M,
            type="click",
            x=41,
            y=59,
            selector="#nav",
            dw=1400,
            dh=3000,
        ),
        # s3: three pages from Hacker News; the first page view's own row says depth 20.
        event(
            **s3,
            pageview_id="pv4",
            ts=late + 30 * M,
            path="/pricing",
            depth=20,
            referrer_host="news.ycombinator.com",
        ),
        event(**s3, pageview_id="pv5", ts=late + 40 * M, path="/docs"),
        event(**s3, pageview_id="pv6", ts=late + 50 * M),
        event(**s3, pageview_id="pv6", ts=late + 51 * M, type="click", x=100, y=100),
        # Outside [T0, END): one millisecond before, and exactly at the end.
        event(session_id="s9", visitor_id="v9", pageview_id="pv9", ts=T0 - timedelta(seconds=1)),
        event(session_id="s9", visitor_id="v9", pageview_id="pv9", ts=END),
    ]


def _noise() -> list:
    """Rows the queries of site 1 must not count: another site of the tenant."""
    return [event(site_id=2, session_id="x", visitor_id="vx", ts=T0 + H, path="/pricing")]


def _other_tenant() -> list:
    """The other tenant on the same site id, with clicks where tenant A has clicks."""
    rows = [event(session_id="b1", visitor_id="vb", pageview_id="b", ts=T0 + H, path="/")]
    rows += [
        event(
            session_id="b1",
            visitor_id="vb",
            pageview_id="b",
            ts=T0 + H + M,
            type="click",
            x=15,
            y=25,
            selector="#buy",
            dw=9999,
            dh=9999,
        )
        for _ in range(5)
    ]
    rows.append(
        event(
            session_id="b1",
            visitor_id="vb",
            pageview_id="b",
            ts=T0 + H + M,
            type="scroll",
            depth=100,
        )
    )
    return rows


@pytest.fixture
def site(new_scope: Callable[[], TenantScope]) -> TenantScope:
    a, b = new_scope(), new_scope()
    assert api.write_events(a, _site_one() + _noise()) == 17
    api.write_events(b, _other_tenant())
    return a


def window(**extra: object) -> dict:
    return {"site_id": 1, "start": T0, "end": END, **extra}


def test_overview_counts(site: TenantScope) -> None:
    got = api.overview(site, **window())
    assert (got.pageviews, got.visitors, got.sessions) == (6, 2, 3)
    assert got.bounce_rate == pytest.approx(1 / 3)
    # Max depth per page view: pv1 80, pv2 0, pv3 100, pv4 20 (its own row), pv5 0, pv6 0.
    assert got.avg_scroll_depth == pytest.approx(200 / 6)


def test_overview_daily_series_in_utc(site: TenantScope) -> None:
    series = api.overview(site, **window()).series
    assert [(p.bucket, p.pageviews, p.visitors) for p in series] == [
        (datetime(2026, 1, 5, tzinfo=ZoneInfo("UTC")), 5, 2),
        (datetime(2026, 1, 6, tzinfo=ZoneInfo("UTC")), 1, 1),
    ]


def test_overview_daily_series_follows_time_zone(site: TenantScope) -> None:
    new_york = ZoneInfo("America/New_York")
    series = api.overview(site, **window(tz="America/New_York")).series
    # [T0, END) is Jan 4 19:00 to Jan 6 19:00 in New York; every page view is on Jan 5 there.
    assert [(p.bucket, p.pageviews, p.visitors) for p in series] == [
        (datetime(2026, 1, 4, tzinfo=new_york), 0, 0),
        (datetime(2026, 1, 5, tzinfo=new_york), 6, 2),
        (datetime(2026, 1, 6, tzinfo=new_york), 0, 0),
    ]


def test_overview_hourly_series_is_filled(site: TenantScope) -> None:
    series = api.overview(site, **window(interval="hour")).series
    assert len(series) == 48
    assert [p.bucket for p in series] == [T0 + i * H for i in range(48)]
    busy = {p.bucket.astimezone(UTC): (p.pageviews, p.visitors) for p in series if p.pageviews}
    assert busy == {T0 + 10 * H: (2, 1), T0 + 23 * H: (3, 1), T0 + 26 * H: (1, 1)}


def test_hourly_series_with_half_hour_zone(site: TenantScope) -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: local hours start at :30 UTC
    series = api.overview(site, **window(tz="Asia/Kolkata", interval="hour")).series
    assert series[0].bucket == datetime(2026, 1, 5, 5, 0, tzinfo=kolkata)
    busy = {p.bucket: p.pageviews for p in series if p.pageviews}
    # 10:00 and 10:05 UTC are 15:30 and 15:35 IST; 23:30, 23:40, 23:50 UTC are 05:00-05:20.
    assert busy == {
        datetime(2026, 1, 5, 15, 0, tzinfo=kolkata): 2,
        datetime(2026, 1, 6, 5, 0, tzinfo=kolkata): 3,
        datetime(2026, 1, 6, 7, 0, tzinfo=kolkata): 1,
    }


def test_hourly_series_across_daylight_saving(new_scope: Callable[[], TenantScope]) -> None:
    scope = new_scope()
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # midnight in Berlin; clocks jump at 02:00
    api.write_events(scope, [event(ts=start + 2.5 * H)])
    series = api.overview(
        scope, site_id=1, start=start, end=start + 4 * H, tz="Europe/Berlin", interval="hour"
    ).series
    assert [p.bucket.strftime("%H:%M%z") for p in series] == [
        "00:00+0100",
        "01:00+0100",
        "03:00+0200",
        "04:00+0200",
    ]
    assert [p.pageviews for p in series] == [0, 0, 1, 0]


def test_top_pages(site: TenantScope) -> None:
    assert [(p.path, p.pageviews, p.visitors) for p in api.top_pages(site, **window())] == [
        ("/", 3, 2),
        ("/pricing", 2, 2),
        ("/docs", 1, 1),
    ]
    assert [p.path for p in api.top_pages(site, **window(limit=1))] == ["/"]


def test_entry_and_exit_pages(site: TenantScope) -> None:
    entries = api.entry_pages(site, **window())
    assert [(p.path, p.pageviews, p.visitors) for p in entries] == [
        ("/", 2, 1),
        ("/pricing", 1, 1),
    ]
    exits = api.exit_pages(site, **window())
    assert [(p.path, p.pageviews, p.visitors) for p in exits] == [
        ("/", 2, 2),
        ("/pricing", 1, 1),
    ]


def test_referrers(site: TenantScope) -> None:
    got = [(r.referrer_host, r.visitors, r.pageviews) for r in api.referrers(site, **window())]
    assert got == [
        ("news.ycombinator.com", 1, 3),
        ("www.google.com", 1, 2),
        ("(direct)", 1, 1),
    ]


def test_devices(site: TenantScope) -> None:
    got = api.devices(site, **window())
    assert [(n.name, n.visitors) for n in got.device] == [("desktop", 1), ("mobile", 1)]
    assert [(n.name, n.visitors) for n in got.browser] == [("Firefox", 1), ("Safari", 1)]
    assert [(n.name, n.visitors) for n in got.os] == [("Linux", 1), ("iOS", 1)]


def test_click_map(site: TenantScope) -> None:
    got = api.click_map(site, **window(path="/"))
    assert got.clicks == 4
    assert [(b.bx, b.by, b.clicks) for b in got.buckets] == [(0, 20, 2), (40, 40, 1), (100, 100, 1)]
    assert [(s.selector, s.clicks) for s in got.selectors] == [("#buy", 2), ("#nav", 1)]
    assert (got.doc_width, got.doc_height) == (1000, 3000)


def test_click_map_bucket_size_and_limit(site: TenantScope) -> None:
    got = api.click_map(site, **window(path="/", bucket_px=50, limit=1))
    assert [(b.bx, b.by, b.clicks) for b in got.buckets] == [(0, 0, 2), (0, 50, 1), (100, 100, 1)]
    assert [s.selector for s in got.selectors] == ["#buy"]


def test_click_map_of_an_unknown_path_is_empty(site: TenantScope) -> None:
    got = api.click_map(site, **window(path="/nowhere"))
    assert (got.clicks, got.buckets, got.selectors, got.doc_width) == (0, (), (), 0)


def test_scroll_map(site: TenantScope) -> None:
    got = api.scroll_map(site, **window(path="/"))
    # Page views of "/": pv1 reached 80, pv3 100, pv6 never scrolled (0).
    assert got.pageviews == 3
    reach = {r.depth: (r.pageviews, round(r.share, 4)) for r in got.reach}
    assert reach == {
        0: (3, 1.0),
        **{d: (2, 0.6667) for d in range(10, 81, 10)},
        90: (1, 0.3333),
        100: (1, 0.3333),
    }


def test_scroll_map_of_an_unknown_path_is_empty(site: TenantScope) -> None:
    got = api.scroll_map(site, **window(path="/nowhere"))
    assert got.pageviews == 0
    assert {r.share for r in got.reach} == {0.0}


def test_site_activity(site: TenantScope) -> None:
    got = api.site_activity(site, site_id=1)
    assert got.events == 16
    assert got.first_seen == T0 - timedelta(seconds=1)
    assert got.last_seen == END


def test_site_activity_of_a_site_without_events(site: TenantScope) -> None:
    assert api.site_activity(site, site_id=77) == api.Activity(None, None, 0)


def test_empty_window_is_all_zero(site: TenantScope) -> None:
    got = api.overview(site, site_id=1, start=END + H, end=END + 2 * H)
    assert (got.pageviews, got.visitors, got.sessions, got.bounce_rate) == (0, 0, 0, 0.0)
    assert got.avg_scroll_depth == 0.0
    assert [p.pageviews for p in got.series] == [0]


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"tz": "Mars/Olympus"}, "bad_timezone"),
        ({"tz": "../../etc/passwd"}, "bad_timezone"),
        ({"interval": "week"}, "bad_interval"),
        ({"start": END, "end": T0}, "bad_range"),
        ({"start": datetime(2026, 1, 5)}, "naive_datetime"),  # noqa: DTZ001
        ({"site_id": 0}, "bad_site_id"),
        ({"site_id": True}, "bad_site_id"),
    ],
)
def test_overview_refuses_bad_input(site: TenantScope, extra: dict, code: str) -> None:
    with pytest.raises(InputError) as caught:
        api.overview(site, **window(**extra))
    assert caught.value.code == code


@pytest.mark.parametrize("limit", [0, -1, 100_001, 2.5])
def test_limits_are_checked(site: TenantScope, limit: object) -> None:
    with pytest.raises(InputError):
        api.top_pages(site, **window(limit=limit))
    with pytest.raises(InputError):
        api.referrers(site, **window(limit=limit))


@pytest.mark.parametrize("bucket_px", [0, 1001, "20"])
def test_click_map_refuses_bad_bucket(site: TenantScope, bucket_px: object) -> None:
    with pytest.raises(InputError):
        api.click_map(site, **window(path="/", bucket_px=bucket_px))
