"""The collector's view of the site registry: a small cached interface, no Django."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """What the collector needs to know about a site."""

    site_id: int
    tenant_id: int
    key: str
    allowed_domains: tuple[str, ...]

    def allows_url(self, url: str) -> bool:
        """Return True if ``url`` is http(s) on an allowed domain."""
        return url_allowed(self.allowed_domains, url)


def host_allowed(domains: tuple[str, ...], host: str) -> bool:
    """Return True if ``host`` is one of ``domains`` (``*.example.com`` covers subdomains)."""
    return _host_allowed(domains, host.lower().rstrip("."))


@lru_cache(maxsize=4096)
def url_allowed(domains: tuple[str, ...], url: str) -> bool:
    # A site's beacons name the same pages over and over: parse each URL once.
    host = url_host(url)
    return host is not None and _host_allowed(domains, host)


@lru_cache(maxsize=8192)
def _host_allowed(domains: tuple[str, ...], host: str) -> bool:
    for domain in domains:
        if domain.startswith("*."):
            if host.endswith(domain[1:]) or host == domain[2:]:
                return True
        elif host == domain:
            return True
    return False


def url_host(url: str) -> str | None:
    """Return the lower-case host of an http(s) URL, or None for anything else.

    Hot path: every event's URL passes here, so split by hand instead of urlsplit, and refuse
    userinfo (``https://a.example@evil.example/``) rather than guess which host is meant.
    """
    if url.startswith("https://"):
        rest = url[8:]
    elif url.startswith("http://"):
        rest = url[7:]
    else:
        return None
    end = len(rest)
    for stop in "/?#\\":
        index = rest.find(stop)
        if 0 <= index < end:
            end = index
    authority = rest[:end]
    if "@" in authority or not authority:
        return None
    if authority.startswith("["):
        host = authority[: authority.find("]") + 1]
    else:
        host = authority.rsplit(":", 1)[0] if ":" in authority else authority
    return host.lower().rstrip(".") or None


SiteLookup = Callable[[str], "SiteInfo | None"]


class CachedSiteRegistry:
    """Cache ``lookup`` results: hits for ``ttl`` seconds, misses for ``negative_ttl``.

    A miss runs the (blocking) lookup in a thread so the event loop never waits on the
    metadata database; unknown keys are cached too so a flood of bad keys costs no queries.
    """

    def __init__(
        self,
        lookup: SiteLookup,
        *,
        ttl: float = 10.0,
        negative_ttl: float = 2.0,
        max_entries: int = 100_000,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, SiteInfo | None]] = {}

    def cached(self, key: str) -> SiteInfo | Literal[False] | None:
        """Return the cached answer for ``key`` without awaiting, or False if there is none."""
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return False

    async def get(self, key: str) -> SiteInfo | None:
        cached = self.cached(key)
        if cached is not False:
            return cached
        site = await asyncio.to_thread(self._lookup, key)
        now = time.monotonic()
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[key] = (now + (self._ttl if site else self._negative_ttl), site)
        return site

    def invalidate(self, key: str | None = None) -> None:
        """Forget one key (after a rotation) or everything."""
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(key, None)


class StaticSiteRegistry:
    """A fixed in-memory registry, for benchmarks and unit tests."""

    def __init__(self, sites: list[SiteInfo]) -> None:
        self._sites = {site.key: site for site in sites}

    def __call__(self, key: str) -> SiteInfo | None:
        return self._sites.get(key)
