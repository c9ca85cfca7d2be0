"""Roll-ups and session state answer exactly what the events say, however they were written.

A reference below computes every dashboard from the event list in Python, by the definitions of
queries/traffic.py and queries/maps.py. Random traffic is written in shuffled batches (sessions
and page views split across writes, earlier events arriving later), and every dashboard must
equal the reference over windows on slot boundaries, in other time zones, and ragged ones.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import T0, event
from heliograph.core.config import Settings
from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope
from heliograph.store import api
from heliograph.store.backends.embedded import EmbeddedBackend
from heliograph.store.schema import MIGRATIONS, migrate
from heliograph.store.schema.migrations import VERSION_TABLE_DDL, applied_version

Scopes = Callable[[], TenantScope]
H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
PATHS = ("/", "/pricing", "/docs", "/blog/a", "/blog/b")
HOSTS = ("", "", "www.google.com", "news.ycombinator.com", "shop.example")
CLIENTS = (("desktop", "Firefox", "Linux"), ("mobile", "Safari", "iOS"), ("", "", ""))


def _traffic(rng: random.Random, sessions: int, start: datetime = T0) -> list[EventRow]:
    """Sessions over three days from ``start``: page views, scrolls, clicks at distinct times."""
    rows: list[EventRow] = []
    for n in range(sessions):
        device, browser, os_name = rng.choice(CLIENTS)
        common = {
            "session_id": f"s{n}",
            "visitor_id": f"v{rng.randrange(sessions // 3 + 1)}",
            "device": device,
            "browser": browser,
            "os": os_name,
        }
        at = start + timedelta(seconds=rng.randrange(3 * 86_400))
        for k in range(rng.choice((1, 1, 2, 3, 5))):
            path = rng.choice(PATHS)
            page = {**common, "pageview_id": f"s{n}p{k}", "path": path}
            host = rng.choice(HOSTS) if k == 0 else ""
            rows.append(event(**page, ts=at, referrer_host=host, depth=rng.choice((0, 0, 20))))
            for j in range(rng.randrange(3)):
                rows.append(
                    event(
                        **page,
                        ts=at + timedelta(seconds=j + 1),
                        type="scroll",
                        depth=rng.randrange(101),
                    )
                )
            for j in range(rng.randrange(3)):
                xy = {"x": rng.randrange(300), "y": rng.randrange(300), "dw": 1000, "dh": 2000}
                sel = rng.choice(("#a", "#b", ""))
                rows.append(
                    event(
                        **page, ts=at + timedelta(seconds=j + 5), type="click", selector=sel, **xy
                    )
                )
            at += timedelta(seconds=rng.choice((30, 600, 2400, 5400)))
    return rows


def _write_shuffled(rng: random.Random, scope: TenantScope, rows: list[EventRow]) -> None:
    """Write ``rows`` in a few batches of random membership and order."""
    shuffled = rows[:]
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(1, len(shuffled)), 5))
    for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        api.write_events(scope, shuffled[a:b])


# --------------------------------------------------------------------------- the reference


def _in(ts: datetime, start: datetime, end: datetime) -> bool:
    return start <= ts < end


def _source(row: EventRow) -> str:
    host = row.referrer_host
    return "(direct)" if host in ("", row.url.split("/")[2]) else host


def _sessions(rows: list[EventRow], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Sessions whose first page view (of all stored) is in the window."""
    views: dict[str, list[EventRow]] = defaultdict(list)
    for row in rows:
        if row.type == "pageview":
            views[row.session_id].append(row)
    out = []
    for pvs in views.values():
        pvs.sort(key=lambda r: r.ts)
        if _in(pvs[0].ts, start, end):
            out.append(
                {
                    "visitor": pvs[0].visitor_id,
                    "views": len(pvs),
                    "entry": pvs[0].path,
                    "exit": pvs[-1].path,
                    "source": _source(pvs[0]),
                }
            )
    return out


def _page_views(rows: list[EventRow], start: datetime, end: datetime) -> list[tuple[str, int]]:
    """(path, deepest depth) of page views whose pageview row is in the window."""
    groups: dict[tuple[str, str], list[EventRow]] = defaultdict(list)
    for row in rows:
        if row.type in ("pageview", "scroll"):
            groups[(row.path, row.pageview_id)].append(row)
    out = []
    for (path, _), group in groups.items():
        pv = [r.ts for r in group if r.type == "pageview"]
        if pv and _in(min(pv), start, end):
            out.append((path, max(r.depth for r in group)))
    return out


def _expected(
    rows: list[EventRow], start: datetime, end: datetime, tz: str, interval: str
) -> dict[str, Any]:
    pvs = [r for r in rows if r.type == "pageview" and _in(r.ts, start, end)]
    sessions = _sessions(rows, start, end)
    depths = _page_views(rows, start, end)
    zone = ZoneInfo(tz)
    series: dict[datetime, list[EventRow]] = defaultdict(list)
    for r in pvs:
        local = r.ts.astimezone(zone)
        bucket = local.replace(minute=0, second=0, microsecond=0)
        series[bucket if interval == "hour" else bucket.replace(hour=0)].append(r)
    pages: dict[str, list[EventRow]] = defaultdict(list)
    for r in pvs:
        pages[r.path].append(r)
    top = sorted(
        ((p, len(v), len({r.visitor_id for r in v})) for p, v in pages.items()),
        key=lambda s: (-s[1], -s[2], s[0]),
    )

    def edge(kind: str) -> list[tuple[str, int, int]]:
        by: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in sessions:
            by[s[kind]].append(s)
        stats = [(p, len(v), len({s["visitor"] for s in v})) for p, v in by.items()]
        return sorted(stats, key=lambda s: (-s[1], -s[2], s[0]))

    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        by_source[s["source"]].append(s)
    refs = sorted(
        (
            (h, len({s["visitor"] for s in v}), sum(s["views"] for s in v))
            for h, v in by_source.items()
        ),
        key=lambda s: (-s[1], -s[2], s[0]),
    )
    devices = {}
    for dim in ("device", "browser", "os"):
        seen: dict[str, set[str]] = defaultdict(set)
        for r in pvs:
            seen[getattr(r, dim) or "(unknown)"].add(r.visitor_id)
        devices[dim] = sorted(((n, len(v)) for n, v in seen.items()), key=lambda s: (-s[1], s[0]))
    return {
        "totals": (len(pvs), len({r.visitor_id for r in pvs}), len(sessions)),
        "bounces": sum(1 for s in sessions if s["views"] == 1),
        "depth": (len(depths), sum(d for _, d in depths)),
        "series": {b: (len(v), len({r.visitor_id for r in v})) for b, v in series.items()},
        "top": top,
        "entry": edge("entry"),
        "exit": edge("exit"),
        "referrers": refs,
        "devices": devices,
        "scroll": Counter(min(d, 100) // 10 * 10 for p, d in depths if p == "/"),
        "clicks": Counter(
            (r.x // 20 * 20, r.y // 20 * 20)
            for r in rows
            if r.type == "click" and r.path == "/" and _in(r.ts, start, end)
        ),
    }


# --------------------------------------------------------------------------- the checks


def _check(
    scope: TenantScope,
    rows: list[EventRow],
    start: datetime,
    end: datetime,
    tz: str = "UTC",
    interval: str = "day",
) -> None:
    want = _expected(rows, start, end, tz, interval)
    w = {"site_id": 1, "start": start, "end": end}
    got = api.overview(scope, **w, tz=tz, interval=interval)  # type: ignore[arg-type]
    assert (got.pageviews, got.visitors, got.sessions) == want["totals"]
    assert got.bounce_rate == pytest.approx(
        want["bounces"] / want["totals"][2] if want["totals"][2] else 0.0
    )
    views, depth = want["depth"]
    assert got.avg_scroll_depth == pytest.approx(depth / views if views else 0.0)
    assert {p.bucket: (p.pageviews, p.visitors) for p in got.series if p.pageviews} == want[
        "series"
    ]
    big = 100
    assert [
        (p.path, p.pageviews, p.visitors) for p in api.top_pages(scope, **w, limit=big)
    ] == want["top"]
    assert [(p.path, p.pageviews, p.visitors) for p in api.top_pages(scope, **w, limit=2)] == want[
        "top"
    ][:2]
    for kind, fn in (("entry", api.entry_pages), ("exit", api.exit_pages)):
        assert [(p.path, p.pageviews, p.visitors) for p in fn(scope, **w, limit=big)] == want[kind]
        assert [(p.path, p.pageviews, p.visitors) for p in fn(scope, **w, limit=1)] == want[kind][
            :1
        ]
    refs = api.referrers(scope, **w, limit=big)
    assert [(r.referrer_host, r.visitors, r.pageviews) for r in refs] == want["referrers"]
    devices = api.devices(scope, **w, limit=big)
    for dim in ("device", "browser", "os"):
        assert [(n.name, n.visitors) for n in getattr(devices, dim)] == want["devices"][dim]
    scroll = api.scroll_map(scope, **w, path="/")
    assert scroll.pageviews == sum(want["scroll"].values())
    assert [r.pageviews for r in scroll.reach] == [
        sum(n for t, n in want["scroll"].items() if t >= d) for d in range(0, 101, 10)
    ]
    clicks = api.click_map(scope, **w, path="/")
    assert Counter({(b.bx, b.by): b.clicks for b in clicks.buckets}) == want["clicks"]


def _windows() -> Iterator[tuple[datetime, datetime, str, str]]:
    ny, kolkata = "America/New_York", "Asia/Kolkata"
    yield T0, T0 + timedelta(days=3), "UTC", "day"
    yield T0 + H, T0 + 2 * H, "UTC", "hour"
    yield (
        datetime(2026, 1, 5, tzinfo=ZoneInfo(ny)),
        datetime(2026, 1, 7, tzinfo=ZoneInfo(ny)),
        ny,
        "hour",
    )
    yield (
        datetime(2026, 1, 6, tzinfo=ZoneInfo(kolkata)),
        datetime(2026, 1, 7, tzinfo=ZoneInfo(kolkata)),
        kolkata,
        "hour",
    )
    # Ragged: a "so far" comparison window, one inside a slot, one across slots.
    yield (
        T0 + timedelta(hours=7, minutes=13, seconds=5.5),
        T0 + timedelta(days=2, minutes=52),
        "UTC",
        "day",
    )
    yield T0 + timedelta(hours=30, minutes=1), T0 + timedelta(hours=30, minutes=9), "UTC", "hour"
    yield T0 + timedelta(hours=9, minutes=50), T0 + timedelta(hours=11, minutes=5), ny, "hour"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_writes_answer_like_the_reference(new_scope: Scopes, seed: int) -> None:
    rng = random.Random(seed)
    rows = _traffic(rng, 120)
    scope, other = new_scope(), new_scope()
    _write_shuffled(rng, scope, rows)
    _write_shuffled(rng, other, _traffic(rng, 40))  # another tenant on the same site id
    for start, end, tz, interval in _windows():
        _check(scope, rows, start, end, tz, interval)


def test_windows_across_months(new_scope: Scopes) -> None:
    rng = random.Random(11)
    month_end = datetime(2026, 1, 30, 12, tzinfo=UTC)
    rows = _traffic(rng, 90, start=month_end)  # Jan 30 noon to Feb 2 noon
    scope = new_scope()
    _write_shuffled(rng, scope, rows)
    _check(scope, rows, datetime(2026, 1, 30, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC))
    _check(scope, rows, datetime(2025, 12, 20, tzinfo=UTC), datetime(2026, 2, 2, 7, tzinfo=UTC))
    ny = ZoneInfo("America/New_York")
    _check(scope, rows, datetime(2026, 1, 31, tzinfo=ny), datetime(2026, 2, 2, tzinfo=ny), ny.key)


def test_a_session_continued_in_later_writes_is_one_session(new_scope: Scopes) -> None:
    scope = new_scope()
    s = {"session_id": "s", "visitor_id": "v"}
    api.write_events(
        scope, [event(**s, pageview_id="a", ts=T0 + H, path="/a", referrer_host="t.co")]
    )
    api.write_events(scope, [event(**s, pageview_id="b", ts=T0 + 2 * H, path="/b")])
    window = {"site_id": 1, "start": T0, "end": T0 + timedelta(days=1)}
    got = api.overview(scope, **window)
    assert (got.pageviews, got.sessions, got.bounce_rate) == (2, 1, 0.0)
    assert [(p.path, p.pageviews) for p in api.exit_pages(scope, **window)] == [("/b", 1)]
    assert [(r.referrer_host, r.visitors, r.pageviews) for r in api.referrers(scope, **window)] == [
        ("t.co", 1, 2)
    ]


def test_an_earlier_page_view_arriving_later_moves_the_session(new_scope: Scopes) -> None:
    scope = new_scope()
    s = {"session_id": "s", "visitor_id": "v"}
    api.write_events(scope, [event(**s, pageview_id="a", ts=T0 + 2 * H, referrer_host="t.co")])
    api.write_events(scope, [event(**s, pageview_id="b", ts=T0 + H, path="/first")])
    late = {"site_id": 1, "start": T0 + timedelta(minutes=90), "end": T0 + 3 * H}
    # The session now starts before this window: its cancelled rows leave no visitor behind.
    assert api.referrers(scope, **late) == ()
    assert api.entry_pages(scope, **late) == ()
    assert api.overview(scope, **late).sessions == 0
    whole = {"site_id": 1, "start": T0, "end": T0 + 3 * H}
    assert [(r.referrer_host, r.visitors) for r in api.referrers(scope, **whole)] == [
        ("(direct)", 1)
    ]
    assert [(p.path, p.pageviews) for p in api.entry_pages(scope, **whole)] == [("/first", 1)]


def test_entry_and_exit_pages_do_not_depend_on_background_merges(
    new_scope: Scopes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A moved session leaves a cancel row beside the row it cancels until a merge removes
    both. Entry and exit pages give the same answer whenever that merge happens, even in the
    middle of answering (they once counted in one statement and subtracted the cancelled pairs
    in a second, and a merge in between counted a visitor on a page they had left)."""
    scope = new_scope()
    moved = {"session_id": "moved", "visitor_id": "v-moved"}
    stay = {"session_id": "stay", "visitor_id": "v-stay"}
    api.write_events(scope, [event(**stay, pageview_id="s1", path="/")])
    api.write_events(scope, [event(**moved, pageview_id="p2", path="/", ts=T0 + 5 * MINUTE)])
    api.write_events(scope, [event(**moved, pageview_id="p1", path="/x", ts=T0)])  # earlier
    window = {"site_id": 1, "start": T0 - H, "end": T0 + H, "limit": 10}

    def rows(pages: Any) -> list[tuple[str, int, int]]:
        return [(p.path, p.pageviews, p.visitors) for p in pages]

    backend = api._backend
    assert backend is not None
    select = backend.select

    def merge_after_counting(stmt: Any) -> Any:
        answer = select(stmt)
        if "uniqExactIf(visitor_key" in stmt.sql:  # a merge lands right after the count
            backend.unscoped_execute("OPTIMIZE TABLE sessions FINAL")
        return answer

    monkeypatch.setattr(backend, "select", merge_after_counting)
    # "moved" now enters on /x; its old row (entry /) and the row cancelling it are merged away
    # while the entry pages are being counted.
    assert rows(api.entry_pages(scope, **window)) == [("/", 1, 1), ("/x", 1, 1)]
    api.write_events(scope, [event(**moved, pageview_id="p3", path="/z", ts=T0 + 9 * MINUTE)])
    assert rows(api.exit_pages(scope, **window)) == [("/", 1, 1), ("/z", 1, 1)]


def test_scrolls_arriving_before_their_page_view(new_scope: Scopes) -> None:
    scope = new_scope()
    pv = {"pageview_id": "p", "path": "/"}
    api.write_events(scope, [event(**pv, ts=T0 + timedelta(seconds=5), type="scroll", depth=70)])
    window = {"site_id": 1, "start": T0, "end": T0 + H}
    assert api.scroll_map(scope, **window, path="/").pageviews == 0  # no page view yet
    api.write_events(scope, [event(**pv, ts=T0)])
    got = api.scroll_map(scope, **window, path="/")
    assert (got.pageviews, got.reach[7].pageviews, got.reach[8].pageviews) == (1, 1, 0)
    assert api.overview(scope, **window).avg_scroll_depth == 70


# --------------------------------------------------------------------------- upgrading a store


@pytest.fixture
def private_store(store: Path, tmp_path: Path) -> Iterator[Path]:
    """Close the shared store for one test (chDB opens one directory per process)."""
    api.close_store()
    try:
        yield tmp_path
    finally:
        api.close_store()
        api.open_store(Settings(data_dir=store))


def test_upgrading_a_version_1_store_backfills_the_roll_ups(private_store: Path) -> None:
    rng = random.Random(9)
    rows = _traffic(rng, 80)
    scope = TenantScope(77)
    settings = Settings(data_dir=private_store)
    backend = EmbeddedBackend(settings.store_dir, api.disk_keys(settings))
    try:
        backend.unscoped_execute(VERSION_TABLE_DDL)
        for statement in MIGRATIONS[0].statements:
            backend.unscoped_execute(statement)
        backend.unscoped_execute("INSERT INTO heliograph_schema (version, name) VALUES (1, 'v1')")
        from heliograph.store.rows import build_batch

        for at in range(0, len(rows), 100):
            backend.insert(scope, build_batch(scope, rows[at : at + 100]))
        assert applied_version(backend) == 1
    finally:
        backend.close()
    api.open_store(settings)  # migrates to the newest version
    assert applied_version(api._backend) == MIGRATIONS[-1].version  # type: ignore[arg-type]
    for start, end, tz, interval in _windows():
        _check(scope, rows, start, end, tz, interval)
    assert api.site_activity(scope, site_id=1).events == len(rows)
    # Later writes continue the backfilled sessions.
    more = [event(session_id="s0", visitor_id="v0", pageview_id="late", ts=T0 + timedelta(days=2))]
    api.write_events(scope, more)
    _check(scope, rows + more, T0, T0 + timedelta(days=3), "UTC", "day")


def test_a_repeated_migration_does_not_count_twice(private_store: Path) -> None:
    api.open_store(Settings(data_dir=private_store))
    scope = TenantScope(78)
    rows = _traffic(random.Random(4), 30)
    api.write_events(scope, rows)
    backend = api._backend
    assert backend is not None
    # As if version 2 had been interrupted after its backfill: it runs again from the start.
    backend.unscoped_execute("DELETE FROM heliograph_schema WHERE version >= 2")
    assert migrate(backend) == MIGRATIONS[-1].version
    _check(scope, rows, T0, T0 + timedelta(days=3), "UTC", "day")


def test_event_ids_stay_unique_per_write(new_scope: Scopes) -> None:
    scope = new_scope()
    first = event(session_id="x", pageview_id="x")
    api.write_events(scope, [first, first, event(session_id="x", pageview_id="y", ts=T0 + H)])
    got = api.overview(scope, site_id=1, start=T0, end=T0 + timedelta(days=1))
    assert (got.pageviews, got.sessions, got.bounce_rate) == (2, 1, 0.0)
    assert uuid.UUID(int=first.event_id.int) in api.existing_event_ids(scope, [first.event_id])


def test_one_write_larger_than_a_block_is_folded_once(new_scope: Scopes) -> None:
    # 70,000 rows are read from staging in several blocks; the views must see them as one.
    scope = new_scope()
    rows = [
        event(session_id="long", pageview_id=f"p{n}", ts=T0 + timedelta(milliseconds=n))
        for n in range(70_000)
    ]
    api.write_events(scope, rows)
    got = api.overview(scope, site_id=1, start=T0, end=T0 + H)
    assert (got.pageviews, got.sessions, got.bounce_rate) == (70_000, 1, 0.0)
