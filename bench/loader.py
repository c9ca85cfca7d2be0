"""Loader throughput: sealed spool segments into a fresh embedded event store (chDB).

Fills a spool with N synthetic events (heliograph.simulate.simulate_into_spool, the same traffic
model as `heliograph simulate`), opens a fresh store with heliograph.store.api.open_store, then
times one Loader(spool_dir).run_once() and checks that the store counts exactly N events.

To show where the time goes, the time spent inside store.api.write_events during the load is
measured (the store's share: Arrow batch, chDB insert); the rest is the loader's own work (read,
decrypt, decode, to_rows). Before the load the segments are also read, decoded and converted
once without writing, as a cross-check of that pure-Python share. With --profile, run_once runs
under cProfile and the top functions are reported too.

Run:  cd /work/main && uv run python bench/loader.py [--quick] [--events N] [--out FILE.json]
Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # bench/ is not a package
    TENANT_ID,
    bench_settings,
    bench_site,
    cpu_ticks,
    decode_record,
    load_average,
    log,
    machine_info,
    make_tempdir,
    spool_codec,
    wait_for_quiet,
    write_result,
)


def convert_only(spool_dir: Path, codec: Any) -> dict[str, Any]:
    """Read, decode and convert every sealed segment to EventRows, as the loader does."""
    from heliograph.collector.loader import to_rows
    from heliograph.collector.spool import read_records, sealed_segments

    started = time.perf_counter()
    records = rows = 0
    read_s = decode_s = 0.0
    for path in sealed_segments(spool_dir):
        t0 = time.perf_counter()
        result = read_records(path)
        t1 = time.perf_counter()
        for record in result.records:
            rows += sum(len(to_rows(batch)) for batch in decode_record(codec, record))
        decode_s += time.perf_counter() - t1
        read_s += t1 - t0
        records += len(result.records)
    elapsed = time.perf_counter() - started
    return {
        "records": records,
        "events": rows,
        "seconds": round(elapsed, 3),
        "read_and_crc_seconds": round(read_s, 3),
        "decode_and_to_rows_seconds": round(decode_s, 3),  # includes decryption
        "events_per_s": round(rows / elapsed, 1),
    }


class GcTimer:
    """Add up the time the cyclic garbage collector runs, per generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            generation = info["generation"]
            self.seconds[generation] += time.perf_counter() - self._started
            self.collections[generation] += 1

    def report(self) -> dict[str, Any]:
        return {
            "seconds": round(sum(self.seconds), 3),
            "collections_per_generation": self.collections,
            "seconds_per_generation": [round(v, 3) for v in self.seconds],
        }


class TimedCall:
    """Wrap a function and add up the wall time of its calls."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def top_functions(profile: cProfile.Profile, limit: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    rows.sort(key=lambda row: row["tottime_s"], reverse=True)
    return rows[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load")
    parser.add_argument("--quick", action="store_true", help="200,000 events")
    parser.add_argument("--days", type=float, default=30.0, help="days the traffic spans")
    parser.add_argument("--seed", type=int, default=20241129)
    parser.add_argument("--profile", action="store_true", help="cProfile run_once (slower)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before the load, wait up to S seconds for other processes to go quiet",
    )
    parser.add_argument("--out", help="also write the JSON document to this file")
    parser.add_argument("--tmpdir", help="where to put the data directory (default: $TMPDIR)")
    args = parser.parse_args(argv)
    total = 200_000 if args.quick else args.events

    from heliograph.collector.loader import Loader
    from heliograph.collector.sites import SiteInfo
    from heliograph.core.tenancy import TenantScope
    from heliograph.simulate import simulate_into_spool
    from heliograph.store import api as store

    workdir = make_tempdir("hg-bench-loader-", args.tmpdir)
    try:
        machine = machine_info()
        settings = bench_settings(workdir / "data")
        codec = spool_codec(settings)  # None on versions with plain spool records
        with_codec = () if codec is None else (codec,)
        site = bench_site()
        spool_dir = settings.spool_dir

        log(f"simulating {total:,} events into {spool_dir}")
        started = time.perf_counter()
        written = simulate_into_spool(
            site, *with_codec, spool_dir, total, days=args.days, seed=args.seed
        )
        simulate_s = time.perf_counter() - started
        segments = list(spool_dir.glob("*.seg"))
        spool_bytes = sum(path.stat().st_size for path in segments)

        log("converting segments to rows without writing (pure-Python share)")
        conversion = convert_only(spool_dir, codec)

        log("opening a fresh store")
        started = time.perf_counter()
        store.open_store(settings)
        open_s = time.perf_counter() - started
        try:
            # Warm up on another tenant's site in another spool: the first insert imports
            # pyarrow/pandas modules lazily (seconds when bytecode is not cached); that one-time
            # cost is reported here, not folded into the measured load.
            log("warm-up load (another tenant, another spool)")
            warm_site = SiteInfo(
                site_id=site.site_id + 1,
                tenant_id=site.tenant_id + 1,
                key=site.key + "-warm",
                allowed_domains=site.allowed_domains,
            )
            warm_spool = workdir / "warm-spool"
            simulate_into_spool(
                warm_site, *with_codec, warm_spool, 2_000, days=1, seed=1, quiet=True
            )
            started = time.perf_counter()
            warm = Loader(warm_spool, *with_codec).run_once()
            warm_s = time.perf_counter() - started

            quiet = wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
            log("loading")
            loader = Loader(spool_dir, *with_codec)
            # Time the store's share from inside the load: wrap the store.api function the
            # loader calls (measurement only; rows and results pass through untouched).
            write_timer = TimedCall(store.write_events)
            store.write_events = write_timer  # type: ignore[assignment]
            gc_timer = GcTimer()
            gc.callbacks.append(gc_timer)
            profile = cProfile.Profile() if args.profile else None
            load = load_average()
            busy_before = cpu_ticks()[0]
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            if profile is not None:
                profile.enable()
            result = loader.run_once()
            if profile is not None:
                profile.disable()
            load_s = time.perf_counter() - started
            store.write_events = write_timer.function  # type: ignore[assignment]
            gc.callbacks.remove(gc_timer)
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            machine_cores = (cpu_ticks()[0] - busy_before) / os.sysconf("SC_CLK_TCK") / load_s
            own_cores = (
                cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
            ) / load_s
            stored = store.count_events(TenantScope(TENANT_ID), site_id=site.site_id)
            # Segments or markers left behind (the loader's lock file stays, empty).
            left = [p.name for p in spool_dir.iterdir() if p.is_file() and p.name != "loader.lock"]
            store_bytes = sum(
                p.stat().st_size for p in settings.store_dir.rglob("*") if p.is_file()
            )
        finally:
            store.close_store()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    events_per_s = result.events / load_s
    log(
        f"loaded {result.events:,} events from {result.segments} segments in {load_s:.2f} s: "
        f"{events_per_s:,.0f} events/s (store counts {stored:,})"
    )
    conversion_share = conversion["seconds"] / load_s
    output: dict[str, Any] = {
        "benchmark": "loader",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "settings": {
            "events": total,
            "quick": args.quick,
            "days": args.days,
            "seed": args.seed,
            "store_backend": settings.store_backend,
            "spool_records_encrypted": codec is not None,
            "profile": args.profile,
            "wait_quiet_s": args.wait_quiet,
        },
        "spool": {
            "events": written,
            "segments": len(segments),
            "records": conversion["records"],
            "bytes": spool_bytes,
            "simulate_seconds": round(simulate_s, 3),
        },
        "open_store_seconds": round(open_s, 3),
        "warmup_load": {"events": warm.events, "seconds": round(warm_s, 3)},
        "load": {
            "segments": result.segments,
            "events": result.events,
            "skipped_duplicates": result.skipped_duplicates,
            "seconds": round(load_s, 3),
            "events_per_s": round(events_per_s, 1),
            "cpu_cores": {
                "loader_process": round(own_cores, 2),
                "other": round(max(0.0, machine_cores - own_cores), 2),
            },
            "loadavg_before": load,
            "quiet_wait": quiet,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "breakdown": {
            "read_decode_to_rows": conversion,
            "read_decode_to_rows_share_of_load": round(conversion_share, 3),
            # Measured inside the load: time spent in store.api.write_events (Arrow batch,
            # chDB insert) and everything else (read, decrypt, decode, to_rows, markers).
            "store_write_events": {
                "calls": write_timer.calls,
                "seconds": round(write_timer.seconds, 3),
                "rows_per_s": round(result.events / write_timer.seconds, 1)
                if write_timer.seconds
                else None,
                "share_of_load": round(write_timer.seconds / load_s, 3),
            },
            "loader_side_seconds": round(load_s - write_timer.seconds, 3),
            # Time the cyclic GC ran during the load (it scans every live tracked object, and
            # the loader keeps a whole segment's rows alive before writing them).
            "gc_during_load": gc_timer.report(),
        },
        "check": {
            "store_count": stored,
            "expected": written,
            "ok": stored == written == result.events and not left,
            "files_left_in_spool": left,
            "store_bytes_on_disk": store_bytes,
        },
    }
    if profile is not None:
        output["profile_top_tottime"] = top_functions(profile, 25)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(30)
        log(text.getvalue())
    write_result(output, args.out)
    return 0 if output["check"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
