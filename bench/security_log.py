"""Security events per second through the security log's database sink, against two baselines
in the same run: a plain insert of the same rows, and the hash chain without the head record.

Each security event the web app records (a failed sign-in, a refused API token, a key change)
is appended by ``web.audit.log.DatabaseSink``: under a process lock (and PostgreSQL's advisory
lock) it reads the head record outside the database (``<data dir>/security-log.head``, checked
with its HMAC), checks that the database still holds the head's record, chains the event onto
the newest record, commits, and then moves the head on (a durable replace of the head file:
two fsyncs). Three ways of storing the same events, alternating round by round:

- ``insert``: ``SecurityEventRecord`` rows created in a transaction each, chained in memory
  (no lock, no read of the newest record): what the database alone costs.
- ``chain``: the sink with the head record left out (its check and its write): the hash chain.
- ``full``: the sink as it runs.

Run:  cd /work/main && uv run python bench/security_log.py [--events N] [--database-url URL]
      [--out FILE.json]
A PostgreSQL URL names a server: the benchmark creates its own database there and drops it
afterwards. Without one, it uses SQLite in a temporary data directory. Prints one JSON
document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import log, machine_info, make_tempdir, write_result  # bench/ is not a package

VARIANTS = ("insert", "chain", "full")


@contextlib.contextmanager
def _bench_database(url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``url``, dropped on the way out."""
    import psycopg

    parts = urlsplit(url)
    name = f"hg_bench_security_log_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        with contextlib.suppress(Exception):  # Django may not have been set up
            from django.db import connections

            connections.close_all()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _setup(data_dir: Path, database_url: str) -> None:
    os.environ["HELIOGRAPH_DATA_DIR"] = str(data_dir)
    # Never an inherited DATABASE_URL: the benchmark appends thousands of events to the log.
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{data_dir / 'heliograph.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "heliograph.web.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    from heliograph.web.audit import log as audit_log

    audit_log.install()


def _event(number: int) -> Any:
    from heliograph.core.security_events import SecurityEvent

    return SecurityEvent(
        action="user.login",
        category="authentication",
        outcome="failure",
        source_ip="203.0.113.9",
        http_method="POST",
        http_path="/sign-in/",
        http_status=200,
        labels={"attempt": number},
    )


def _inserter() -> Callable[[int], None]:
    """Store events as records, a transaction each, chained in memory onto the newest record:
    no lock, no read of the newest record, no head."""
    from django.db import transaction

    from heliograph.core.security_events import GENESIS
    from heliograph.web.audit.log import chain_record
    from heliograph.web.audit.models import SecurityEventRecord

    newest = SecurityEventRecord.objects.order_by("-seq").values_list("hash", flat=True).first()
    previous = newest or GENESIS

    def insert(number: int) -> None:
        nonlocal previous
        with transaction.atomic():
            previous = chain_record(_event(number), previous).hash

    return insert


def _append_one(number: int) -> None:
    from heliograph.core import security_events

    security_events.record(_event(number))


@contextlib.contextmanager
def _without_head() -> Iterator[None]:
    """The sink with the head record's check and write left out (the ablation of ``chain``)."""
    from heliograph.web.audit import head

    check_end, advance = head.check_end, head.advance_after_commit
    head.check_end = lambda newest, hash_at: (True, newest())  # type: ignore[assignment]
    head.advance_after_commit = lambda seq, digest: None  # type: ignore[assignment]
    try:
        yield
    finally:
        head.check_end, head.advance_after_commit = check_end, advance  # type: ignore[assignment]


def _measure(store: Callable[[int], None], count: int, start: int) -> dict[str, float]:
    latencies: list[float] = []
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for number in range(start, start + count):
        began = time.perf_counter()
        store(number)
        latencies.append(time.perf_counter() - began)
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    latencies.sort()
    return {
        "events": count,
        "events_per_s": round(count / wall, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1e3, 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3, 3),
        "cpu_us_per_event": round(cpu * 1e6 / count, 1),
    }


def _run_variant(variant: str, count: int, start: int) -> dict[str, float]:
    if variant == "insert":
        return _measure(_inserter(), count, start)
    if variant == "chain":
        with _without_head():
            return _measure(_append_one, count, start)
    return _measure(_append_one, count, start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500, help="events per variant per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, variants alternating")
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server's URL (default: SQLite)"
    )
    parser.add_argument("--tmpdir", help="where to put the data directory (default: $TMPDIR)")
    parser.add_argument("--out", help="also write the JSON document to this file")
    args = parser.parse_args(argv)
    if args.events < 1 or args.rounds < 1:
        parser.error("--events and --rounds must be at least 1")
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL (postgresql://...)")

    workdir = make_tempdir("hg-bench-security-log-", args.tmpdir)
    try:
        with contextlib.ExitStack() as stack:
            database_url = ""
            if args.database_url:
                database_url = stack.enter_context(_bench_database(args.database_url))
            _setup(workdir / "data", database_url)
            from django.db import connection

            from heliograph.web.audit import log as audit_log

            log(f"security log on {connection.vendor}, {args.events} events per variant")
            _run_variant("full", 50, 0)  # warm-up: the head file, the keyring, the ORM
            runs: list[dict[str, Any]] = []
            number = 50
            for repeat in range(args.rounds):
                for variant in VARIANTS:
                    run = _run_variant(variant, args.events, number)
                    number += args.events
                    runs.append({"repeat": repeat, "variant": variant, **run})
                    log(
                        f"  {variant:6s} {run['events_per_s']:8,.0f} events/s  "
                        f"p50={run['p50_ms']:.2f} ms p99={run['p99_ms']:.2f} ms  "
                        f"cpu={run['cpu_us_per_event']:.0f} µs/event"
                    )
            report = audit_log.verify()
            vendor = connection.vendor
            server_version = (
                connection.pg_version  # type: ignore[attr-defined]
                if vendor == "postgresql"
                else connection.Database.sqlite_version
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {}
    for variant in VARIANTS:
        mine = [run for run in runs if run["variant"] == variant]
        summary[variant] = {
            "median_events_per_s": statistics.median(run["events_per_s"] for run in mine),
            "median_p50_ms": statistics.median(run["p50_ms"] for run in mine),
            "median_cpu_us_per_event": statistics.median(run["cpu_us_per_event"] for run in mine),
        }
    result = {
        "benchmark": "security_log",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "settings": {
            "database": vendor,
            "database_version": server_version,
            "events_per_variant_per_round": args.events,
            "rounds": args.rounds,
            "variants": {
                "insert": "SecurityEventRecord rows, a transaction each, chained in memory",
                "chain": "DatabaseSink.append with the head record's check and write left out",
                "full": "DatabaseSink.append as the web app runs it",
            },
        },
        "summary": summary,
        "full_over_chain": round(
            summary["full"]["median_events_per_s"] / summary["chain"]["median_events_per_s"], 3
        ),
        "chain_over_insert": round(
            summary["chain"]["median_events_per_s"] / summary["insert"]["median_events_per_s"], 3
        ),
        "runs": runs,
        # Every variant chains its records, and each round ends with "full", which moves the
        # head to the newest record: the log must verify whole.
        "verify_after": {
            "ok": report.ok,
            "records": report.records,
            "first_bad_seq": report.first_bad_seq,
            "head_status": report.head_status,
            "head_problem": report.head_problem,
        },
    }
    write_result(result, args.out)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
