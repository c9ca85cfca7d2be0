"""Benchmark the event store: insert rate through write_events and dashboard query latency.

Generates N synthetic events (several tenants and sites, long-tailed pages, multi-page sessions,
clicks clustered on page elements, scrolls, 30 days) into a fresh temporary store, then runs each
dashboard query repeatedly for the busiest site and prints JSON.

    uv run python bench/store_queries.py --events 1000000
    uv run python bench/store_queries.py --events 10000000 --out bench/results/store_queries.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import chdb

from heliograph.core.config import Settings
from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope
from heliograph.store import api

DAYS = 30
START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=DAYS)
CHUNK = 200_000
# (tenant id, site ids, share of all traffic): one big customer, a long tail of small ones.
TENANTS = ((1, (1, 2), 0.45), (2, (1, 3), 0.25), (3, (1,), 0.15), (4, (1, 2), 0.1), (5, (1,), 0.05))
DEVICES = (("desktop", 0.6), ("mobile", 0.35), ("tablet", 0.05))
BROWSERS = ("Chrome", "Safari", "Firefox", "Edge", "Samsung Internet")
OSES = ("Windows", "macOS", "iOS", "Android", "Linux")
REFERRERS = (
    "",
    "",
    "",
    "www.google.com",
    "news.ycombinator.com",
    "t.co",
    "www.bing.com",
    "duckduckgo.com",
)


def new_id(rng: random.Random) -> uuid.UUID:
    """Return a random version-4 UUID from ``rng`` (reproducible, faster than uuid4)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass(frozen=True, slots=True)
class Element:
    selector: str
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    height: int
    elements: tuple[Element, ...]


def make_pages(rng: random.Random, n: int) -> tuple[Page, ...]:
    """Return ``n`` pages with a few clickable elements each."""
    pages = []
    for i in range(n):
        height = rng.randint(900, 6000)
        elements = tuple(
            Element(f"#p{i} .el-{j}", rng.randint(40, 1200), rng.randint(40, height - 40))
            for j in range(rng.randint(3, 12))
        )
        pages.append(Page("/" if i == 0 else f"/section-{i % 17}/page-{i}", height, elements))
    return tuple(pages)


class Generator:
    """Yield realistic sessions of one site as EventRows."""

    def __init__(self, rng: random.Random, site_id: int, pages: tuple[Page, ...]) -> None:
        self.rng = rng
        self.site_id = site_id
        self.pages = pages
        # Zipf-like page popularity: page i has weight 1 / (i + 1); cumulative for O(log n) picks.
        self.cum_weights = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(pages))))
        self.visitors = [new_id(self.rng).hex[:16] for _ in range(max(1, len(pages) * 40))]

    def session(self) -> Iterator[EventRow]:
        rng = self.rng
        visitor = rng.choice(self.visitors)
        session = new_id(self.rng).hex[:16]
        device = rng.choices([d for d, _ in DEVICES], [w for _, w in DEVICES])[0]
        browser, os_name = rng.choice(BROWSERS), rng.choice(OSES)
        vw, vh = (1440, 900) if device == "desktop" else (390, 844)
        # Diurnal traffic: more sessions in the afternoon.
        day = rng.randrange(DAYS)
        hour = min(23, max(0, int(rng.gauss(15, 4))))
        at = START + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
        referrer = rng.choice(REFERRERS)
        for n in range(min(12, 1 + int(rng.expovariate(0.45)))):
            page = rng.choices(self.pages, cum_weights=self.cum_weights)[0]
            yield from self.pageview(
                page,
                at,
                session,
                visitor,
                referrer if n == 0 else "",
                (device, browser, os_name, vw, vh),
            )
            at += timedelta(seconds=rng.randint(5, 240))

    def pageview(
        self,
        page: Page,
        at: datetime,
        session: str,
        visitor: str,
        referrer: str,
        client: tuple[str, str, str, int, int],
    ) -> Iterator[EventRow]:
        rng = self.rng
        device, browser, os_name, vw, vh = client
        pv = new_id(self.rng).hex[:16]
        common = {
            "site_id": self.site_id,
            "session_id": session,
            "visitor_id": visitor,
            "pageview_id": pv,
            "url": f"https://site{self.site_id}.example{page.path}",
            "path": page.path,
            "vw": vw,
            "vh": vh,
            "dw": vw,
            "dh": page.height,
            "device": device,
            "browser": browser,
            "os": os_name,
        }
        yield EventRow(
            event_id=new_id(rng),
            ts=at,
            received=at,
            type="pageview",
            referrer=f"https://{referrer}/" if referrer else "",
            referrer_host=referrer,
            depth=min(100, vh * 100 // page.height),
            **common,
        )
        depth = 0
        for k in range(rng.randint(0, 3)):
            depth = min(100, depth + rng.randint(10, 45))
            t = at + timedelta(seconds=2 + 3 * k)
            yield EventRow(
                event_id=new_id(rng), ts=t, received=t, type="scroll", depth=depth, **common
            )
        for k in range(rng.choices((0, 1, 2, 3), (0.5, 0.3, 0.15, 0.05))[0]):
            el = rng.choice(page.elements)
            t = at + timedelta(seconds=3 + 4 * k)
            yield EventRow(
                event_id=new_id(rng),
                ts=t,
                received=t,
                type="click",
                selector=el.selector,
                x=max(0, int(rng.gauss(el.x, 12))),
                y=max(0, int(rng.gauss(el.y, 8))),
                **common,
            )


def traffic(rng: random.Random, total: int) -> Iterator[tuple[TenantScope, list[EventRow]]]:
    """Yield (scope, chunk) pairs until ``total`` events have been produced."""
    sites = []
    for tenant, site_ids, share in TENANTS:
        for site in site_ids:
            pages = make_pages(rng, rng.choice((60, 300, 2000)) if site != 1 else 1500)
            sites.append((TenantScope(tenant), Generator(rng, site, pages), share / len(site_ids)))
    buffers: dict[int, list[EventRow]] = {i: [] for i in range(len(sites))}
    made = 0
    while made < total:
        i = rng.choices(range(len(sites)), [w for _, _, w in sites])[0]
        scope, gen, _ = sites[i]
        for event in gen.session():
            buffers[i].append(event)
            made += 1
        if len(buffers[i]) >= CHUNK or made >= total:
            yield scope, buffers[i]
            buffers[i] = []
    for i, rest in buffers.items():
        if rest:
            yield sites[i][0], rest


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    """Return wall-clock median/p95 and the median CPU time of this process (chDB runs here)."""
    fn()  # warm-up: first run loads marks and caches
    samples, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(p95, 2),
        "cpu_median_ms": round(statistics.median(cpu), 2),
        "runs": runs,
    }


def settle(timeout_s: float = 300) -> float:
    """Wait until background merges finish, so they do not run during the measurements."""
    backend = api._backend  # a benchmark may look behind the door: system tables only
    assert backend is not None
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if backend.unscoped_execute("SELECT count() FROM system.merges") == [[0]]:
            break
        time.sleep(1)
    return round(time.perf_counter() - start, 1)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "chdb": chdb.__version__,
        "platform": platform.platform(),
    }


def run(events: int, runs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="heliograph-bench-") as tmp:
        api.open_store(Settings(data_dir=Path(tmp)))
        try:
            insert_s = 0.0
            generate_t = time.perf_counter()
            written = 0
            for scope, chunk in traffic(rng, events):
                t = time.perf_counter()
                written += api.write_events(scope, chunk)
                insert_s += time.perf_counter() - t
            generate_s = time.perf_counter() - generate_t - insert_s
            settle_s = settle()
            return {
                "events": written,
                "machine": machine(),
                "insert": {
                    "seconds": round(insert_s, 2),
                    "rows_per_s": round(written / insert_s),
                    "generate_seconds": round(generate_s, 2),
                    "batch_rows": CHUNK,
                },
                "merges_settled_after_s": settle_s,
                "load_average_before_queries": os.getloadavg(),
                **measure(runs),
                "load_average_after_queries": os.getloadavg(),
            }
        finally:
            api.close_store()


def measure(runs: int) -> dict[str, Any]:
    scope = TenantScope(1)
    window = {"site_id": 1, "start": START, "end": END}
    top = api.top_pages(scope, **window, limit=1)[0].path
    site_events = api.count_events(scope, site_id=1)
    queries: dict[str, Callable[[], Any]] = {
        "overview_day": lambda: api.overview(scope, **window),
        "overview_hour_tz": lambda: api.overview(
            scope, **window, tz="America/New_York", interval="hour"
        ),
        "top_pages": lambda: api.top_pages(scope, **window),
        "entry_pages": lambda: api.entry_pages(scope, **window),
        "exit_pages": lambda: api.exit_pages(scope, **window),
        "referrers": lambda: api.referrers(scope, **window),
        "devices": lambda: api.devices(scope, **window),
        "click_map": lambda: api.click_map(scope, **window, path=top),
        "scroll_map": lambda: api.scroll_map(scope, **window, path=top),
        "site_activity": lambda: api.site_activity(scope, site_id=1),
        "count_events": lambda: api.count_events(scope, site_id=1),
    }
    return {
        "site": {"tenant_id": 1, "site_id": 1, "events": site_events, "path": top, "days": DAYS},
        "queries": {name: timed(fn, runs) for name, fn in queries.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    result = run(args.events, args.runs, args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
