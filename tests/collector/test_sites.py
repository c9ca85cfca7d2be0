"""Allowed-domain matching and the cached site registry."""

from __future__ import annotations

import asyncio

import pytest

from heliograph.collector.sites import CachedSiteRegistry, SiteInfo, url_host

SITE = SiteInfo(site_id=1, tenant_id=1, key="k", allowed_domains=("shop.example", "*.blog.example"))


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Shop.Example/a?b#c", "shop.example"),
        ("http://shop.example:8080/", "shop.example"),
        ("https://shop.example.", "shop.example"),
        ("https://[::1]:8443/x", "[::1]"),
        ("https://shop.example@evil.example/", None),
        ("https://evil.example\\@shop.example/", "evil.example"),
        ("javascript:alert(1)", None),
        ("//shop.example/", None),
        ("https:///path", None),
        ("ftp://shop.example/", None),
    ],
)
def test_url_host(url: str, host: str | None) -> None:
    assert url_host(url) == host


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://shop.example/cart", True),
        ("https://www.shop.example/cart", False),
        ("https://blog.example/", True),
        ("https://en.blog.example/post", True),
        ("https://evilblog.example/", False),
        ("https://shop.example.evil.example/", False),
        ("https://shop.example@evil.example/", False),
    ],
)
def test_allows_url(url: str, allowed: bool) -> None:
    assert SITE.allows_url(url) is allowed


def test_registry_caches_hits_and_misses() -> None:
    calls: list[str] = []

    def lookup(key: str) -> SiteInfo | None:
        calls.append(key)
        return SITE if key == "k" else None

    registry = CachedSiteRegistry(lookup)

    async def run() -> None:
        for _ in range(3):
            assert await registry.get("k") is SITE
            assert await registry.get("missing") is None

    asyncio.run(run())
    assert calls == ["k", "missing"]
    registry.invalidate("k")
    asyncio.run(registry.get("k"))
    assert calls == ["k", "missing", "k"]
