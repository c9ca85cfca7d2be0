"""Shared helpers for the benchmarks in bench/: machine description, ASGI apps, beacon bodies.

This module is also what the benchmark's uvicorn subprocesses import (``--app-dir bench``), so
its top level imports nothing heavy; the heliograph imports happen inside the functions.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent

# The one site every benchmark uses.
SITE_KEY = "bench-site"
SITE_ID = 7
TENANT_ID = 3
SITE_HOST = "www.bench.example"
SITE_DOMAINS = ("bench.example", "*.bench.example")
ORIGIN = f"https://{SITE_HOST}"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

# Environment variables through which the parent configures the collector subprocess.
ENV_SPOOL = "HG_BENCH_SPOOL_DIR"
ENV_DATA = "HG_BENCH_DATA_DIR"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def log(message: str) -> None:
    """Progress goes to stderr; stdout is reserved for the JSON result."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return None


def _version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def fsync_probe(
    directory: Path, rounds: int = 200, size: int = 4096, *, over_zeros: bool = False
) -> dict[str, object]:
    """Time one durable write of ``size`` bytes, the floor of a group commit: appended to a file
    and fsync'd, or (``over_zeros``) written over zeros the file already has and fdatasync'd,
    as the spool does. ``cpu_us`` is the CPU time of the calling thread, kernel included."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    payload = os.urandom(size)
    samples = []
    try:
        if over_zeros:
            os.write(fd, bytes(rounds * size))
            os.fsync(fd)
        cpu_started = time.thread_time()
        for index in range(rounds):
            started = time.perf_counter()
            if over_zeros:
                os.pwrite(fd, payload, index * size)
                os.fdatasync(fd)
            else:
                os.write(fd, payload)
                os.fsync(fd)
            samples.append((time.perf_counter() - started) * 1000)
        cpu_us = (time.thread_time() - cpu_started) / rounds * 1e6
    finally:
        os.close(fd)
        path.unlink()
    samples.sort()
    return {
        "rounds": rounds,
        "bytes": size,
        "p50_ms": round(samples[len(samples) // 2], 4),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 4),
        "cpu_us": round(cpu_us, 1),
    }


def machine_info(probe_dir: Path | None = None) -> dict[str, object]:
    """Describe the machine and the software the numbers came from."""
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    info: dict[str, object] = {
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_mb": _mem_total_mb(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {
            name: _version(name)
            for name in ("uvicorn", "uvloop", "httptools", "msgspec", "chdb", "ua-parser")
        },
    }
    if shutil.which("wrk"):
        banner = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        info["wrk"] = (banner.stdout or banner.stderr).splitlines()[0].strip()
    if probe_dir is not None:
        info["fsync_4k_append"] = fsync_probe(probe_dir)
        info["fdatasync_4k_over_zeros"] = fsync_probe(probe_dir, over_zeros=True)
    info["git"] = git_state()
    return info


def cpu_ticks(cpu: int | None = None) -> tuple[int, int]:
    """(busy, total) clock ticks so far, from /proc/stat: of the whole machine, or of ``cpu``."""
    with open("/proc/stat", encoding="ascii") as handle:
        label = "cpu" if cpu is None else f"cpu{cpu}"
        line = next(line for line in handle if line.split(maxsplit=1)[0] == label)
    values = [int(v) for v in line.split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the whole machine kept busy over the next ``seconds``."""
    before = cpu_ticks()[0]
    time.sleep(seconds)
    return (cpu_ticks()[0] - before) / os.sysconf("SC_CLK_TCK") / seconds


def wait_for_quiet(max_wait: float, threshold: float = 0.2) -> dict[str, float]:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold`` cores.

    The machine may be shared with other people's test runs; measuring while they run measures
    them. Returns how long we waited and the last reading (in cores).
    """
    started = time.monotonic()
    reading = busy_cores()
    while reading >= threshold and time.monotonic() - started < max_wait:
        time.sleep(2.0)
        reading = busy_cores()
    waited = time.monotonic() - started
    if reading >= threshold and max_wait > 0:
        log(f"  machine still busy after {waited:.0f} s ({reading:.2f} cores); measuring anyway")
    return {"waited_s": round(waited, 1), "busy_cores_before": round(reading, 2)}


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def git_state() -> dict[str, object]:
    """The commit measured, and which files under src/ differ from it (others work here)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=False
        ).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip(), "src_changes": changed}


def make_tempdir(prefix: str, base: str | None = None) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def write_result(result: dict[str, object], out: str | None) -> None:
    """Print the JSON document on stdout and, with ``--out``, write it to that file too."""
    text = json.dumps(result, indent=2, sort_keys=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        log(f"wrote {path}")


# --------------------------------------------------------------------------- beacons


def _token(rng: random.Random) -> str:
    """A 22-character base64url id, the shape the tag draws for vid/sid/pid."""
    return base64.urlsafe_b64encode(rng.randbytes(16)).decode()[:22]


_SELECTORS = (
    "header > nav > a.cta",
    "main > section.hero > a.button",
    "main > section.pricing > div.plan:nth-of-type(2) > button.buy",
    "#search",
    "main > article > p:nth-of-type(3) > a",
    "header > nav > ul.menu > li:nth-of-type(4) > a",
    "footer > div.links > a:nth-of-type(2)",
    "main > section.features > div.card:nth-of-type(1)",
)


def beacon_events(count: int, *, seed: int = 1, now_ms: int | None = None) -> list[dict[str, Any]]:
    """Events as the tag sends them for one page view: a pageview, clicks, then a scroll.

    One event is just the pageview; two or more end with a scroll and have clicks between.
    Field order and shapes follow src/heliograph/collector/static/heliograph.js.
    """
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    vid, sid, pid = _token(rng), _token(rng), _token(rng)
    url = f"https://{SITE_HOST}/pricing"
    vw, vh, dw, dh = 1366, 768, 1366, 4210
    ts = now_ms - 60_000

    def common(kind: str) -> dict[str, Any]:
        return {
            "sid": sid, "type": kind, "ts": ts, "vid": vid, "pid": pid, "url": url,
            "vw": vw, "vh": vh, "dw": dw, "dh": dh,
        }  # fmt: skip

    events: list[dict[str, Any]] = [
        {"ref": "https://www.google.com/", **common("pageview")},
    ]
    clicks = max(0, count - 2)
    for _ in range(clicks):
        ts += rng.randint(400, 4000)
        events.append(
            {
                "sel": rng.choice(_SELECTORS),
                "x": rng.randint(0, vw),
                "y": rng.randint(0, dh),
                **common("click"),
            }
        )
    if count >= 2:
        ts += 500
        events.append({"depth": 87, **common("scroll")})
    return events


def beacon_body(count: int, *, seed: int = 1, wire: str = "runs") -> bytes:
    """The exact bytes the tag would POST for ``count`` events (compact JSON).

    ``wire="pages"`` gives tag 0.2.0's format (grouped by page view and URL, the viewport and
    document size on every event) and ``wire="events"`` the older flat format (every field on
    every event); the collector still accepts both from tags open in browsers.
    """
    from heliograph.simulate import beacon_payload  # how the tag groups a batch into runs

    events = beacon_events(count, seed=seed)
    payload: dict[str, Any]
    if wire == "events":
        payload = {"site": SITE_KEY, "events": events}
    elif wire == "pages":
        page = {"pid": events[0]["pid"], "url": events[0]["url"]}
        stated = ("sid", "vid", "pid", "url")
        own = [{k: v for k, v in e.items() if k not in stated} for e in events]
        ids = {"sid": events[0]["sid"], "vid": events[0]["vid"]}
        payload = {"site": SITE_KEY, **ids, "pages": [{**page, "events": own}]}
    else:
        payload = beacon_payload(SITE_KEY, events)
    return json.dumps(payload, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- ASGI apps


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ceiling: read the whole body, answer 202 with a tiny JSON body, nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    body = b'{"accepted":0}'
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bench_settings(data_dir: str | Path) -> Any:
    """Settings on embedded defaults for a temporary data directory."""
    from heliograph.core.config import load_settings

    return load_settings({"HELIOGRAPH_DATA_DIR": str(data_dir)})


def spool_codec(settings: Any) -> Any:
    """The spool codec (records sealed with the tenant's data key), as heliograph.server
    builds it; None on a version whose spool stores plain msgpack records."""
    try:
        from heliograph.collector.schema import SpoolCodec  # type: ignore[attr-defined]
        from heliograph.core.crypto.setup import open_keyring  # type: ignore[import-not-found]
    except ImportError:
        return None
    return SpoolCodec(open_keyring(settings))


def spool_codec_available() -> bool:
    """True if this version seals spool records (SpoolCodec, AES-256-GCM per tenant)."""
    from heliograph.collector import schema

    return hasattr(schema, "SpoolCodec")


def decode_record(codec: Any, record: bytes) -> list[Any]:
    """One spool record back to its SpoolBatches (one per beacon), through the codec when there
    is one."""
    from heliograph.collector import schema

    if codec is None:
        return [schema.spool_decoder.decode(record)]
    batches = codec.open(record)
    return batches if isinstance(batches, list) else [batches]  # older versions: one batch


def bench_site() -> Any:
    from heliograph.collector.sites import SiteInfo

    return SiteInfo(
        site_id=SITE_ID, tenant_id=TENANT_ID, key=SITE_KEY, allowed_domains=SITE_DOMAINS
    )


def collector_app() -> Any:
    """uvicorn ``--factory`` target: the real Collector with a real spool (default settings).

    The spool directory and segment settings come from ``load_settings`` on a temporary data
    directory (the parent passes it in HG_BENCH_DATA_DIR); only the rate limits are raised so
    that one load generator on one address is never throttled.
    """
    from heliograph.collector.app import Collector
    from heliograph.collector.sites import CachedSiteRegistry, StaticSiteRegistry
    from heliograph.collector.spool import SpoolWriter
    from heliograph.core.config import CollectorLimits

    settings = bench_settings(os.environ[ENV_DATA])
    spool_dir = Path(os.environ.get(ENV_SPOOL) or settings.spool_dir)
    limits = CollectorLimits(
        max_body_bytes=settings.limits.max_body_bytes,
        site_rate_per_s=1e9,
        site_burst=1_000_000_000,
        client_rate_per_s=1e9,
        client_burst=1_000_000_000,
    )
    from heliograph.server import tune_for_serving

    options: dict[str, Any] = {}
    codec = spool_codec(settings)
    if codec is not None:
        options["codec"] = codec
    collector = Collector(
        registry=CachedSiteRegistry(StaticSiteRegistry([bench_site()])),
        spool=SpoolWriter(
            spool_dir,
            segment_bytes=settings.spool_segment_bytes,
            segment_seconds=settings.spool_segment_seconds,
        ),
        limits=limits,
        **options,
    )
    tune_for_serving()  # as heliograph.server.serve does before it serves
    return collector


async def _body_read() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def floor_app() -> Any:
    """uvicorn ``--factory`` target: the durability floor. The bare app, plus what every
    acknowledged beacon costs whatever the collector checks: its body made durable through the
    real SpoolWriter (group commit, fsync, the writer thread) before the 202. It decodes,
    checks, enriches and encrypts nothing, so bare -> floor is the cost of durability alone,
    and floor -> collector the collector's own work.
    """
    from heliograph.collector.spool import SpoolWriter
    from heliograph.server import tune_for_serving

    settings = bench_settings(os.environ[ENV_DATA])
    spool = SpoolWriter(
        settings.spool_dir,
        segment_bytes=settings.spool_segment_bytes,
        segment_seconds=settings.spool_segment_seconds,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await spool.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await spool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["path"] == "/collect":
            await spool.submit(b"".join(chunks))
        await bare_app(scope, _body_read, send)  # then exactly what the bare app answers

    tune_for_serving()  # the writer thread gets the GIL back as soon as the collector's does
    return app


# --------------------------------------------------------------------------- spool


def count_spool(spool_dir: Path, codec: Any = None) -> dict[str, int]:
    """Count intact beacons (``records``: a group record counts each of its beacons), events and
    framed records (``frames``) in every segment (sealed and open) of a spool."""
    from heliograph.collector.spool import OPEN_SUFFIX, SEALED_SUFFIX, read_records

    records = events = segments = torn = frames = 0
    if not spool_dir.exists():
        return {"segments": 0, "frames": 0, "records": 0, "events": 0, "torn_segments": 0}
    for path in sorted(spool_dir.iterdir()):
        if path.suffix not in (OPEN_SUFFIX, SEALED_SUFFIX):
            continue
        try:
            result = read_records(path)
        except FileNotFoundError:  # renamed from .open to .seg between listing and reading
            sealed = path.with_suffix(SEALED_SUFFIX)
            result = read_records(sealed)
        segments += 1
        torn += int(result.torn and path.suffix == SEALED_SUFFIX)
        frames += len(result.records)
        for record in result.records:
            for batch in decode_record(codec, record):
                records += 1  # one per beacon, whether or not it shares its record
                events += len(batch.events)
    return {
        "segments": segments,
        "frames": frames,  # records as framed on disk: one per tenant per group commit
        "records": records,
        "events": events,
        "torn_segments": torn,
    }
