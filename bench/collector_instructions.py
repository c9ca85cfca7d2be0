"""Instructions per request through uvicorn's HTTP protocol, counted by valgrind: the collector
against the bare ASGI ceiling, without sockets, wrk or the other tenants of a shared VM.

Wall-clock figures on the 2-core development VMs move by +-20-50 % from run to run; instruction
counts do not (the same code and input give the same count), so a change to the collector's hot
path can be judged by this before it is confirmed under wrk (bench/collector.py). What it leaves
out is the kernel (socket reads and writes, epoll, fsync), which costs every server the same per
request, and cache misses, which grow with the code a request runs.

Each server runs in-process: uvicorn's HttpToolsProtocol is fed complete requests through a
fake transport on ``--connections`` connections at once, exactly as uvloop would feed it, and
the collector is built as bench/collector.py builds it (real spool with fsync, records sealed
with AES-256-GCM). The count is the difference between two runs that differ only in the number
of requests, so start-up and imports cancel out.

    uv run python bench/collector_instructions.py --out bench/results/collector_instructions.json

Reported for all threads and for the event loop's thread alone, which bounds requests per
second on one worker. Needs valgrind (Debian package valgrind); each server takes about 40 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    ENV_DATA,
    ORIGIN,
    USER_AGENT,
    beacon_body,
    log,
    machine_info,
    write_result,
)

SERVERS = ("bare", "floor", "collector")  # floor: bare + the fsync'd spool (_common.floor_app)


class _Transport(asyncio.Transport):
    """What uvicorn's protocol writes to; notes when a response body has been written."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        self.done: asyncio.Future[None] | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        peers = {"peername": ("127.0.0.1", 40000 + self.index), "sockname": ("127.0.0.1", 8000)}
        return peers.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data).endswith(b"}") and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


async def _drive(server: str, events: int, connections: int, requests: int) -> None:
    """Serve ``requests`` POSTs of one beacon (after two warm-up rounds) and return."""
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    import _common

    factories = {"floor": _common.floor_app, "collector": _common.collector_app}
    app: Any = _common.bare_app if server == "bare" else factories[server]()
    config = Config(
        app, http="httptools", loop="uvloop", lifespan="on", access_log=False, proxy_headers=False
    )  # as heliograph.server serves (--no-proxy-headers)
    config.load()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    body = beacon_body(events)
    request = (
        b"POST /collect HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: %d\r\n"
        b"Content-Type: text/plain\r\nOrigin: %s\r\nUser-Agent: %s\r\n\r\n%s"
        % (len(body), ORIGIN.encode(), USER_AGENT.encode(), body)
    )
    loop = asyncio.get_running_loop()
    state = ServerState()
    links = []
    for index in range(connections):
        protocol = HttpToolsProtocol(config=config, server_state=state, app_state={}, _loop=loop)
        transport = _Transport(index)
        protocol.connection_made(transport)
        links.append((protocol, transport))

    async def one_round() -> None:
        waiting = []
        for protocol, transport in links:
            transport.done = loop.create_future()
            waiting.append(transport.done)
            protocol.data_received(request)
        await asyncio.gather(*waiting)

    for _ in range(2 + requests // connections):
        await one_round()
    await lifespan.shutdown()


def _count(
    server: str, events: int, connections: int, requests: int, work: Path
) -> tuple[int, int]:
    """Instructions valgrind counts for a whole run of the child process: (all threads, the
    event loop's thread alone)."""
    out = work / f"callgrind-{server}-{events}-{requests}.out"
    env = {**os.environ, "PYTHONHASHSEED": "0", ENV_DATA: str(work / f"data-{requests}")}
    command = [
        "valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
        sys.executable, __file__, "--child", server,
        "--events", str(events), "--connections", str(connections), "--requests", str(requests),
    ]  # fmt: skip
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=900)
    per_thread: dict[int, int] = {}
    for path in work.glob(out.name + "-*"):
        thread = total = None
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("thread:"):
                thread = int(line.split()[1])
            elif line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
        if thread is not None and total is not None:
            per_thread[thread] = total
    if 1 not in per_thread:
        raise RuntimeError(f"no per-thread totals for {out}")
    return sum(per_thread.values()), per_thread[1]  # thread 1 runs the event loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20, help="events per beacon")
    parser.add_argument("--connections", type=int, default=64, help="requests in flight")
    parser.add_argument("--requests", type=int, default=1024, help="requests counted")
    parser.add_argument("--out", help="also write the JSON document to this file")
    parser.add_argument("--child", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import uvloop

        uvloop.run(_drive(args.child, args.events, args.connections, args.requests))
        return
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="hg-instr-"))
    base = args.connections * 2  # a short run: start-up, imports and warm-up only
    per_request: dict[str, int] = {}
    loop_thread: dict[str, int] = {}
    for server in SERVERS:
        log(f"counting {server} ...")
        short = _count(server, args.events, args.connections, base, work)
        full = _count(server, args.events, args.connections, base + args.requests, work)
        per_request[server] = round((full[0] - short[0]) / args.requests)
        loop_thread[server] = round((full[1] - short[1]) / args.requests)
        log(f"  {server}: {per_request[server]:,} per request, {loop_thread[server]:,} on the loop")
    shutil.rmtree(work, ignore_errors=True)
    result = {
        "benchmark": "collector_instructions",
        "machine": machine_info(),
        "settings": {
            "events_per_batch": args.events,
            "connections": args.connections,
            "requests": args.requests,
            "body_bytes": len(beacon_body(args.events)),
        },
        # All threads: the work a request causes anywhere in the process.
        "instructions_per_request": per_request,
        # The event loop's thread alone: what bounds requests per second on one worker (the
        # spool's writer thread seals and checksums with the GIL released, beside the loop).
        "loop_thread_instructions_per_request": loop_thread,
        "ratio_bare_to_collector": round(per_request["bare"] / per_request["collector"], 3),
        "ratio_bare_to_floor": round(per_request["bare"] / per_request["floor"], 3),
        "loop_thread_ratio_bare_to_collector": round(
            loop_thread["bare"] / loop_thread["collector"], 3
        ),
        "note": (
            "valgrind counts each byte of a `rep movsb` copy as an instruction, so large copies "
            "(the spool's group records) weigh more here than they cost"
        ),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
