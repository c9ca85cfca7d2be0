"""The collector against the bare ASGI ceiling in short interleaved slices: a ratio with a
confidence interval on a VM whose speed drifts.

bench/collector.py runs each server for 10 s, one after the other. On the shared 2-vCPU VMs
the machine's speed moves by 10-20 % within minutes (the same server's CPU per request moves as
much), so two runs a minute apart can put one ratio either side of 0.5. Here the three
servers (bare, floor, collector, as in collector.py) run side by side for the whole
configuration, pinned to the same CPU, and wrk loads one at a time: a round is one slice of
``--slice`` seconds per server, in the order bare, floor, collector and then backwards in the
next round (so a steady drift hits each server alike). Each round gives one ratio from slices
seconds apart; the result is the median of the rounds' ratios with a distribution-free 95 %
confidence interval for it (order statistics of the binomial), and the rounds themselves.

    uv run python bench/collector_paired.py --out bench/results/collector_paired.json

A server that is not loaded sits idle in epoll (its spool writer wakes a few times a second to
seal idle segments). After the rounds, every beacon the collector acknowledged must be in its
spool, as in collector.py.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import collector as single  # bench/collector.py: servers, wrk, pinning
from _common import beacon_body, log, machine_info, make_tempdir, write_result

SERVERS = tuple(single.SERVERS)  # bare, floor, collector


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of ``values``: the narrowest pair
    of order statistics (k-th smallest and k-th largest) whose coverage is still at least
    ``confidence``; None if there are too few values for it (fewer than 6 at 95 %)."""
    ordered = sorted(values)
    n = len(ordered)
    best = None
    for k in range(1, n // 2 + 1):
        # P(X_(k) <= median <= X_(n-k+1)) = 1 - 2 * P(Binomial(n, 1/2) <= k - 1)
        tail = sum(math.comb(n, i) for i in range(k)) / 2**n
        if 1 - 2 * tail >= confidence:
            best = (ordered[k - 1], ordered[n - k])
        else:
            break
    return best


def run_configuration(
    batch: int, connections: int | list[int], *, rounds: int, seconds: int, warmup: int,
    threads: int, workdir: Path,
) -> dict[str, Any]:  # fmt: skip
    """One configuration. With a list of connection counts (--capacity), each round loads
    every server at each of them, and a server's figure for the round is its best slice: its
    capacity, whatever concurrency it needs to reach it."""
    counts = connections if isinstance(connections, list) else [connections]
    script = single.write_lua(workdir, beacon_body(batch), f"b{batch}")
    servers = {name: single.start_server(name, workdir) for name in SERVERS}
    slices: list[dict[str, Any]] = []
    acknowledged = 0
    variants = [(name, count) for name in SERVERS for count in counts]
    try:
        for name, count in variants:
            wrk = single.run_wrk(
                servers[name].port, script, connections=count, threads=threads,
                seconds=warmup,
            )  # fmt: skip
            if name == "collector":
                acknowledged += wrk["requests"] - wrk["errors"]["status"]
        for index in range(rounds):
            order = variants if index % 2 == 0 else variants[::-1]
            for name, count in order:
                server = servers[name]
                cpu_before = server.cpu_seconds()
                wrk = single.run_wrk(
                    server.port, script, connections=count, threads=threads,
                    seconds=seconds,
                )  # fmt: skip
                cpu = server.cpu_seconds() - cpu_before
                errors = wrk["errors"]
                if name == "collector":
                    acknowledged += wrk["requests"] - errors["status"]
                slices.append({
                    "round": index,
                    "server": name,
                    "connections": count,
                    "requests_per_s": round(wrk["requests"] / (wrk["duration_us"] / 1e6), 1),
                    "server_cpu_us_per_request": round(cpu * 1e6 / max(1, wrk["requests"]), 1),
                    "p50_ms": round(wrk["latency_us"]["p50"] / 1000, 3),
                    "p99_ms": round(wrk["latency_us"]["p99"] / 1000, 3),
                    "non_2xx": errors["status"],
                    "socket_errors": sum(errors.values()) - errors["status"],
                })  # fmt: skip
    finally:
        exit_codes = {name: single.stop_server(server) for name, server in servers.items()}
    spooled = servers["collector"].count_spool()

    # Each server's best slice of each round (its only slice, without --capacity).
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for item in slices:
        kept = by_round.setdefault(item["round"], {}).get(item["server"])
        if kept is None or item["requests_per_s"] > kept["requests_per_s"]:
            by_round[item["round"]][item["server"]] = item
    ratios = {
        f"{a}_over_{b}": [
            round(by_round[i][a]["requests_per_s"] / by_round[i][b]["requests_per_s"], 3)
            for i in sorted(by_round)
        ]
        for a, b in (("collector", "bare"), ("floor", "bare"), ("collector", "floor"))
    }
    summary: dict[str, dict[str, Any]] = {}
    for key, values in ratios.items():
        interval = median_interval(values)
        summary[key] = {
            "median": round(statistics.median(values), 3),
            "ci95": list(interval) if interval else None,
            "min": min(values),
            "max": max(values),
        }
    # Every acknowledged beacon is on disk; at most one per connection per slice may be there
    # without its 202 having reached wrk before it stopped.
    slack = sum(counts) * (rounds + 1)
    spool_ok = (
        spooled is not None
        and spooled["torn_segments"] == 0
        and 0 <= spooled["records"] - acknowledged <= slack
        and all(s["non_2xx"] == 0 and s["socket_errors"] == 0 for s in slices)
    )
    best = [item for round_ in by_round.values() for item in round_.values()]
    rates = {
        name: round(statistics.median(s["requests_per_s"] for s in best if s["server"] == name))
        for name in SERVERS
    }
    cpu_per_request = {
        name: round(
            statistics.median(s["server_cpu_us_per_request"] for s in best if s["server"] == name),
            1,
        )
        for name in SERVERS
    }
    # Without --capacity, one count; with it, how often each count gave a server's best slice.
    best_connections = {
        name: {
            str(count): sum(1 for s in best if s["server"] == name and s["connections"] == count)
            for count in counts
        }
        for name in SERVERS
    }
    headline = summary["collector_over_bare"]
    log(
        f"  batch={batch} c={','.join(map(str, counts))}: "
        f"collector/bare median {headline['median']} "
        f"(95 % CI {headline['ci95']}), floor/bare {summary['floor_over_bare']['median']}; "
        f"req/s {rates}; spool ok={spool_ok}"
    )
    return {
        "batch_events": batch,
        "connections": connections,
        "ratios": summary,
        "round_ratios": ratios,
        "median_requests_per_s": rates,
        "median_server_cpu_us_per_request": cpu_per_request,
        "best_slice_connections": best_connections,
        "spool": {
            "acknowledged_batches": acknowledged,
            "records_after_shutdown": spooled["records"] if spooled else None,
            "torn_segments": spooled["torn_segments"] if spooled else None,
            "ok": spool_ok,
        },
        "server_exit_codes": exit_codes,
        "slices": slices,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", default="32,64,128", help="comma-separated")
    parser.add_argument("--batches", default="20", help="comma-separated events per batch")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per configuration")
    parser.add_argument("--slice", type=int, default=3, help="seconds per server per round")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per server")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="one configuration per batch size: each server at every connection count in "
        "each round, its best slice counting (capacity against capacity)",
    )
    parser.add_argument("--out", help="also write the JSON document to this file")
    parser.add_argument("--tmpdir", help="where to put spools and scripts (default: $TMPDIR)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed")
    if args.rounds < 1 or args.slice < 1 or args.warmup < 1:
        parser.error("--rounds, --slice and --warmup must be 1 or more (wrk takes whole seconds)")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        parser.error("needs two or more CPUs: the servers on one, wrk on the others")
    single.AFFINITY["server"], single.AFFINITY["wrk"] = {cpus[0]}, set(cpus[1:])
    try:
        connection_counts = [int(c) for c in args.connections.split(",") if c]
        batches = [int(b) for b in args.batches.split(",") if b]
    except ValueError:
        parser.error("--connections and --batches take comma-separated integers")

    workdir = make_tempdir("hg-bench-paired-", args.tmpdir)
    try:
        machine = machine_info(workdir)
        log(f"machine: {machine['nproc']} x {machine['cpu_model']}, kernel {machine['kernel']}")
        plans: list[int | list[int]] = (
            [connection_counts] if args.capacity else list(connection_counts)
        )
        configurations = [
            run_configuration(
                batch,
                connections,
                rounds=args.rounds,
                seconds=args.slice,
                warmup=args.warmup,
                threads=args.threads,
                workdir=workdir,
            )
            for batch in batches
            for connections in plans
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "benchmark": "collector_paired",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "settings": {
            "rounds": args.rounds,
            "slice_s": args.slice,
            "warmup_s": args.warmup,
            "wrk_threads": args.threads,
            "cpus": {"servers": [cpus[0]], "wrk": cpus[1:]},
            "order": "bare, floor, collector; reversed every other round",
            "capacity": args.capacity,
            "servers": "as bench/collector.py: one uvicorn worker each, all three running",
        },
        "configurations": configurations,
        "all_spool_checks_ok": all(c["spool"]["ok"] for c in configurations),
    }
    write_result(result, args.out)
    return 0 if result["all_spool_checks_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
