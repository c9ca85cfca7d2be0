"""SIGKILL the collector under concurrent load: every acknowledged event lands exactly once."""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
from collections import Counter

import pytest

from .conftest import Instance

pytestmark = pytest.mark.slow
EVENTS_PER_BATCH = 5


def batch(site_key: str, pid: str) -> bytes:
    now = int(time.time() * 1000)
    events = [
        {
            "type": "pageview",
            "ts": now,
            "sid": "s",
            "vid": "v",
            "pid": pid,
            "url": "https://a.example/p",
            "vw": 800,
            "vh": 600,
            "dw": 800,
            "dh": 2000,
        },
        *(
            {
                "type": "click",
                "ts": now + i,
                "sid": "s",
                "vid": "v",
                "pid": pid,
                "url": "https://a.example/p",
                "sel": f"main > a:nth-of-type({i})",
                "x": i,
                "y": i,
            }
            for i in range(EVENTS_PER_BATCH - 1)
        ),
    ]
    return json.dumps({"site": site_key, "events": events}).encode()


def hammer(instance: Instance, site_key: str, acked: list[str], stop: threading.Event) -> None:
    """Send batches until the server dies; remember the page-view id of each 202."""
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
    try:
        while not stop.is_set():
            pid = secrets.token_hex(8)
            try:
                connection.request(
                    "POST",
                    "/collect",
                    batch(site_key, pid),
                    {"Content-Type": "text/plain", "Origin": "https://a.example"},
                )
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                return  # the server is gone; anything unanswered was never acknowledged
            if response.status == 202:
                acked.append(pid)
    finally:
        connection.close()


def test_sigkill_during_load_loses_and_duplicates_nothing(instance: Instance) -> None:
    tenant_id, key = instance.create_site("Tenant A", "a.example")
    other_tenant, _ = instance.create_site("Tenant B", "b.example")
    instance.start()
    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=hammer, args=(instance, key, acked, stop)) for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acked) < 1500 and time.monotonic() < deadline:
        time.sleep(0.05)
    instance.kill()  # mid-load: requests in flight, a segment open, the loader possibly busy
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acked) >= 200, "the load never got going"

    instance.start()
    spool = instance.data_dir / "spool"
    deadline = time.monotonic() + 60
    while any(spool.glob("*.seg")) or any(spool.glob("*.open")):
        assert time.monotonic() < deadline, sorted(p.name for p in spool.iterdir())
        time.sleep(0.2)
    instance.stop()

    rows = instance.events(tenant_id)
    per_pageview = Counter(str(row["pageview_id"]) for row in rows)
    missing = [pid for pid in acked if per_pageview[pid] != EVENTS_PER_BATCH]
    assert not missing, f"{len(missing)} acknowledged batches not stored exactly once"
    # Batches written but never answered may be stored too, but each exactly once as well.
    assert set(per_pageview.values()) == {EVENTS_PER_BATCH}
    assert len({row["event_id"] for row in rows}) == len(rows)
    quarantine = spool / "quarantine"
    assert not quarantine.exists() or not any(quarantine.iterdir())
    assert instance.events(other_tenant) == []
