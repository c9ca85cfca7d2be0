"""Fixtures for the collector: a real spool in a temporary directory, two static sites."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from heliograph.collector.app import Collector
from heliograph.collector.schema import SpoolCodec
from heliograph.collector.sites import CachedSiteRegistry, SiteInfo, StaticSiteRegistry
from heliograph.collector.spool import SpoolWriter
from heliograph.core.config import CollectorLimits
from heliograph.core.crypto.aead import new_key
from heliograph.core.crypto.kek import KekSet, LocalKek
from heliograph.core.crypto.keyring import Keyring

SITE_A = SiteInfo(
    site_id=11, tenant_id=1, key="key-a", allowed_domains=("a.example", "*.a.example")
)
SITE_B = SiteInfo(site_id=22, tenant_id=2, key="key-b", allowed_domains=("b.example",))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_codec(directory: Path) -> SpoolCodec:
    """A codec with a fresh key encryption key and a key store of its own in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    kek = KekSet(LocalKek("test", new_key()))
    return SpoolCodec(Keyring(directory / "keys" / "keyring.json", kek))


def make_collector(spool_dir: Path, limits: CollectorLimits | None = None) -> Collector:
    spool = SpoolWriter(spool_dir, segment_bytes=1 << 20, segment_seconds=0.2)
    return Collector(
        registry=CachedSiteRegistry(StaticSiteRegistry([SITE_A, SITE_B])),
        spool=spool,
        codec=make_codec(spool_dir.with_name(spool_dir.name + "-keys")),
        limits=limits or CollectorLimits(),
    )


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[Collector]:
    app = make_collector(tmp_path / "spool")
    await app.spool.start()
    yield app
    await app.spool.close()


@pytest.fixture
async def client(collector: Collector) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=collector, client=("203.0.113.9", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as http:
        yield http


def event(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "pageview",
        "ts": 1_700_000_000_000,
        "sid": "s1",
        "vid": "v1",
        "pid": "p1",
        "url": "https://a.example/pricing",
        "vw": 1280,
        "vh": 720,
        "dw": 1280,
        "dh": 3000,
    }
    base.update(overrides)
    return base
