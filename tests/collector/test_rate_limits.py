"""Per-site and per-client rate limits answer 429 with Retry-After and recover."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from heliograph.collector.ratelimit import TokenBuckets
from heliograph.core.config import CollectorLimits

from .conftest import event, make_collector

pytestmark = pytest.mark.anyio
HEADERS = {"Origin": "https://a.example", "Content-Type": "text/plain"}
BODY = json.dumps({"site": "key-a", "events": [event()]})


def test_bucket_refills_over_time() -> None:
    buckets = TokenBuckets(rate=2.0, burst=2)
    assert buckets.take("k", now=0.0) == 0
    assert buckets.take("k", now=0.0) == 0
    assert buckets.take("k", now=0.0) == pytest.approx(0.5)
    assert buckets.take("k", now=0.5) == 0
    assert buckets.take("other", now=0.5) == 0


def test_bucket_table_is_bounded() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=10)
    for i in range(100):
        buckets.take(f"k{i}", now=0.0)
    assert len(buckets._buckets) == 10


async def test_client_over_its_rate_gets_429(tmp_path: Path) -> None:
    app = make_collector(tmp_path, CollectorLimits(client_rate_per_s=0.01, client_burst=3))
    await app.spool.start()
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 1))
    other = httpx.ASGITransport(app=app, client=("198.51.100.8", 1))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://c") as client,
        httpx.AsyncClient(transport=other, base_url="http://c") as second,
    ):
        statuses = [
            (await client.post("/collect", content=BODY, headers=HEADERS)).status_code
            for _ in range(4)
        ]
        assert statuses == [202, 202, 202, 429]
        limited = await client.post("/collect", content=BODY, headers=HEADERS)
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # Another client of the same site is not punished for the first one.
        assert (await second.post("/collect", content=BODY, headers=HEADERS)).status_code == 202
    await app.spool.close()


async def test_site_over_its_rate_gets_429(tmp_path: Path) -> None:
    app = make_collector(tmp_path, CollectorLimits(site_rate_per_s=0.01, site_burst=2))
    await app.spool.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        statuses = [
            (await c.post("/collect", content=BODY, headers=HEADERS)).status_code for _ in range(3)
        ]
    assert statuses == [202, 202, 429]
    await app.spool.close()
