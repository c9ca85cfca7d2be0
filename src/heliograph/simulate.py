"""Realistic synthetic traffic: sessions, a long-tailed page distribution, clustered clicks."""

from __future__ import annotations

import http.client
import json
import math
import random
import secrets
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from heliograph.collector import schema
from heliograph.collector.enrich import classify_user_agent
from heliograph.collector.sites import SiteInfo
from heliograph.collector.spool import OPEN_SUFFIX, SEALED_SUFFIX, frame, fsync_dir

USER_AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        1366,
        768,
        34,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        1440,
        900,
        12,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        390,
        844,
        22,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        412,
        915,
        18,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 1920, 1080, 7),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        820,
        1180,
        4,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        1536,
        864,
        3,
    ),
)
REFERRERS = (
    ("", 40),
    ("https://www.google.com/", 30),
    ("https://duckduckgo.com/", 5),
    ("https://news.ycombinator.com/", 6),
    ("https://t.co/abc", 5),
    ("https://www.reddit.com/", 6),
    ("https://www.linkedin.com/", 4),
    ("https://github.com/", 4),
)
SECTIONS = ("products", "blog", "docs", "pricing", "about", "careers", "help", "changelog")
ELEMENTS = (
    # selector, x fraction of width, y offset from the top in px, width, height, weight
    ("header > nav > a:nth-of-type(1)", 0.10, 30, 80, 24, 6),
    ("header > nav > a:nth-of-type(2)", 0.20, 30, 80, 24, 4),
    ("header > nav > a.cta", 0.85, 30, 120, 36, 9),
    ("main > section.hero > a.button", 0.50, 420, 220, 52, 14),
    ("main > section.features > div:nth-of-type(1)", 0.20, 900, 300, 200, 3),
    ("main > section.features > div:nth-of-type(2)", 0.50, 900, 300, 200, 3),
    ("main > section.features > div:nth-of-type(3)", 0.80, 900, 300, 200, 3),
    ("main > section.pricing > button.buy", 0.50, 1500, 180, 48, 7),
    ("#search", 0.70, 30, 200, 32, 5),
    ("footer > a:nth-of-type(1)", 0.30, -80, 100, 20, 1),
    ("footer > a:nth-of-type(2)", 0.60, -80, 100, 20, 1),
)


@dataclass(frozen=True, slots=True)
class SimBatch:
    """One beacon's worth of events from one visitor."""

    user_agent: str
    events: list[dict[str, object]]


class TrafficModel:
    """Draw sessions of page views, clicks and scrolls with realistic shapes."""

    def __init__(
        self, host: str, *, days: float, seed: int | None = None, pages: int = 300
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311  simulation, not security
        self.host = host
        self.days = days
        self.end = time.time()
        self.paths = ["/"] + [self._path(i) for i in range(1, pages)]
        self.page_weights = [1 / (rank + 1) ** 1.1 for rank in range(pages)]  # Zipf-like tail
        self.heights = [self.rng.randint(1200, 7000) for _ in range(pages)]
        self.visitors = [secrets.token_hex(8) for _ in range(max(50, int(2000 * days)))]
        self.ua_weights = [ua[3] for ua in USER_AGENTS]

    def _path(self, i: int) -> str:
        section = SECTIONS[i % len(SECTIONS)]
        return f"/{section}/" if i < len(SECTIONS) else f"/{section}/item-{i}"

    def _when(self) -> float:
        # Busier in daytime: accept a uniform draw with a sinusoidal daily weight.
        while True:
            ts = self.end - self.rng.random() * self.days * 86400
            hour = (ts % 86400) / 3600
            if self.rng.random() < 0.55 + 0.45 * math.sin((hour - 8) / 24 * 2 * math.pi):
                return ts

    def sessions(self) -> Iterator[SimBatch]:
        """Yield batches forever, one session at a time."""
        while True:
            yield from self._session()

    def _session(self) -> Iterator[SimBatch]:
        rng = self.rng
        ua, vw, vh, _ = rng.choices(USER_AGENTS, weights=self.ua_weights)[0]
        vid = rng.choice(self.visitors)
        sid = secrets.token_hex(8)
        ts = self._when()
        ref = rng.choices(REFERRERS, weights=[r[1] for r in REFERRERS])[0][0]
        page_views = 1 if rng.random() < 0.42 else min(1 + int(rng.expovariate(0.45)), 25)
        index = rng.choices(range(len(self.paths)), weights=self.page_weights)[0]
        for _ in range(page_views):
            url = f"https://{self.host}{self.paths[index]}"
            events = self._page_view(url, ref, sid, vid, vw, vh, self.heights[index], ts)
            yield SimBatch(ua, events)
            ref = url
            ts += rng.uniform(5, 240)
            index = rng.choices(range(len(self.paths)), weights=self.page_weights)[0]

    def _page_view(
        self, url: str, ref: str, sid: str, vid: str, vw: int, vh: int, dh: int, ts: float
    ) -> list[dict[str, object]]:
        rng = self.rng
        pid = secrets.token_hex(8)
        base = {
            "sid": sid,
            "vid": vid,
            "pid": pid,
            "url": url,
            "vw": vw,
            "vh": vh,
            "dw": vw,
            "dh": dh,
        }
        events: list[dict[str, object]] = [
            {"type": "pageview", "ts": int(ts * 1000), "ref": ref, **base}
        ]
        for _ in range(rng.choices((0, 1, 2, 3, 5), weights=(35, 30, 18, 10, 7))[0]):
            sel, fx, top, width, height, _ = rng.choices(
                ELEMENTS, weights=[e[5] for e in ELEMENTS]
            )[0]
            x = int(fx * vw + rng.gauss(0, width / 4))
            y = int((top if top > 0 else dh + top) + rng.gauss(0, height / 3))
            ts += rng.uniform(1, 30)
            events.append(
                {
                    "type": "click",
                    "ts": int(ts * 1000),
                    "sel": sel,
                    "x": max(0, min(x, vw)),
                    "y": max(0, min(y, dh)),
                    **base,
                }
            )
        reach = min(1.0, vh / dh + rng.betavariate(1.3, 1.8) * (1 - vh / dh))
        events.append(
            {"type": "scroll", "ts": int((ts + 1) * 1000), "depth": int(reach * 100), **base}
        )
        return events


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done, self.started = total, label, 0, time.monotonic()
        self._last = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last > 0.2 or self.done >= self.total:
            self._last = now
            share = min(1.0, self.done / self.total)
            rate = self.done / max(now - self.started, 1e-9)
            bar = "#" * int(share * 30)
            sys.stderr.write(
                f"\r{self.label} [{bar:<30}] {self.done:,}/{self.total:,} {rate:,.0f} events/s"
            )
            sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")


def _take(model: TrafficModel, total: int) -> Iterator[SimBatch]:
    sent = 0
    for batch in model.sessions():
        if sent >= total:
            return
        batch.events[:] = batch.events[: total - sent]
        sent += len(batch.events)
        yield batch


# Beacons per spool record when simulating straight into the spool: what one group commit holds
# for one site under load (17 to 67 at 32 to 128 concurrent requests in bench/collector.py).
SIM_GROUP = 32


def simulate_into_spool(
    site: SiteInfo,
    codec: schema.SpoolCodec,
    spool_dir: Path,
    total: int,
    *,
    days: float,
    seed: int | None = None,
    quiet: bool = False,
) -> int:
    """Write ``total`` events as sealed spool segments (the loader picks them up)."""
    spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    model = TrafficModel(site.allowed_domains[0].removeprefix("*."), days=days, seed=seed)
    progress = Progress(total, "simulate")
    written = 0
    segment: list[bytes] = []
    group: list[bytes] = []
    for batch in _take(model, total):
        # As the collector writes them: one record per group commit of the tenant's beacons.
        group.append(schema.encode_received(_received(site, batch)))
        written += len(batch.events)
        if not quiet:
            progress.advance(len(batch.events))
        if len(group) >= SIM_GROUP:
            segment.append(frame(codec.seal_group(site.tenant_id, group)))
            group = []
        if len(segment) * SIM_GROUP >= 20_000:
            _write_segment(spool_dir, segment)
            segment = []
    if group:
        segment.append(frame(codec.seal_group(site.tenant_id, group)))
    if segment:
        _write_segment(spool_dir, segment)
    if not quiet:
        progress.finish()
    return written


def _received(site: SiteInfo, batch: SimBatch) -> schema.ReceivedBeacon:
    """The spool record the collector would write for this batch, had the tag sent it."""
    client = classify_user_agent(batch.user_agent)
    payload = beacon_payload(site.key, batch.events)
    return schema.ReceivedBeacon(
        batch_id=secrets.token_bytes(16),
        tenant_id=site.tenant_id,
        site_id=site.site_id,
        received_ms=max(int(event["ts"]) for event in batch.events),  # type: ignore[call-overload]
        visitor_hash="",
        device=client.device,
        browser=client.browser,
        os=client.os,
        session="",
        wire=schema.WIRE_RUNS if "runs" in payload else schema.WIRE_EVENTS,
        body=json.dumps(payload, separators=(",", ":")).encode(),
    )


def _write_segment(spool_dir: Path, records: list[bytes]) -> None:
    name = f"{time.time_ns():020d}-sim{secrets.token_hex(4)}"
    temporary = spool_dir / (name + OPEN_SUFFIX)
    with temporary.open("wb") as handle:
        handle.write(b"".join(records))
        handle.flush()
        import os

        os.fsync(handle.fileno())
    temporary.rename(spool_dir / (name + SEALED_SUFFIX))
    fsync_dir(spool_dir)


# What a run states once (with the batch's sid and vid), and what each event type carries.
RUN_KEYS = ("pid", "url", "vw", "vh", "dw", "dh")
EVENT_KEYS = {"pageview": ("ref",), "click": ("sel", "x", "y"), "scroll": ("depth",)}
_ABSENT = {"ref": "", "sel": "", "x": 0, "y": 0, "depth": 0}


def beacon_payload(site_key: str, events: list[dict[str, object]]) -> dict[str, object]:
    """The body the tag would send for these events: the "runs" format (session and visitor
    once, each run of one page view, URL, viewport and document size once, with its events as
    columns), or the flat format for a batch mixing sessions or visitors."""
    first = events[0]
    if any((e["sid"], e["vid"]) != (first["sid"], first["vid"]) for e in events):
        return {"site": site_key, "events": events}
    runs: list[tuple[dict[str, object], dict[str, list[object]]]] = []  # (run, its columns)
    columns: dict[str, list[object]] = {}
    key: tuple[object, ...] | None = None
    for event in events:
        size = tuple(event.get(name, 0) for name in RUN_KEYS)
        if size != key:
            key, columns = size, {"type": [], "ts": []}
            runs.append((dict(zip(RUN_KEYS, key, strict=True)), columns))
        kind = str(event["type"])
        columns["type"].append(kind)
        columns["ts"].append(event["ts"])
        for name in EVENT_KEYS[kind]:
            columns.setdefault(name, []).append(event.get(name, _ABSENT[name]))
    return {
        "site": site_key,
        "sid": first["sid"],
        "vid": first["vid"],
        "runs": [{**run, **columns} for run, columns in runs],
    }


def simulate_via_collector(
    site_key: str,
    host: str,
    base_url: str,
    total: int,
    *,
    days: float,
    concurrency: int = 8,
    seed: int | None = None,
    quiet: bool = False,
) -> tuple[int, int]:
    """Send ``total`` events through the collector; return (accepted, rejected batches)."""
    model = TrafficModel(host, days=days, seed=seed)
    progress = Progress(total, "simulate")
    target = urlsplit(base_url)
    origin = f"https://{host}"

    def send(batch: SimBatch) -> tuple[int, int]:
        body = json.dumps(beacon_payload(site_key, batch.events)).encode()
        for _attempt in range(20):
            connection = http.client.HTTPConnection(
                target.hostname or "127.0.0.1", target.port or 80, timeout=30
            )
            connection.request(
                "POST",
                "/collect",
                body,
                {"Content-Type": "text/plain", "Origin": origin, "User-Agent": batch.user_agent},
            )
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 429:
                break
            time.sleep(float(response.getheader("Retry-After", "1")))
        accepted = len(batch.events) if response.status == 202 else 0
        if not quiet:
            progress.advance(len(batch.events))
        return accepted, 0 if response.status == 202 else 1

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(send, _take(model, total)))
    if not quiet:
        progress.finish()
    return sum(r[0] for r in results), sum(r[1] for r in results)
