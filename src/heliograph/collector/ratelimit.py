"""Token buckets per site and per client, in memory, bounded in size."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable


class TokenBuckets:
    """Allow ``rate`` requests per second per key with bursts up to ``burst``.

    A plain dict kept in least-recently-used order (a key is re-inserted on every use), so the
    oldest key is the first one when the table is full.
    """

    def __init__(self, *, rate: float, burst: int, max_keys: int = 200_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def take(self, key: Hashable, now: float | None = None) -> float:
        """Spend a token for ``key``; return 0 if allowed, else seconds until one is free."""
        if now is None:
            now = time.monotonic()
        buckets = self._buckets
        entry = buckets.pop(key, None)
        if entry is not None:
            tokens = entry[0] + (now - entry[1]) * self.rate
            if tokens > self.burst:
                tokens = self.burst
        else:
            tokens = self.burst
            if len(buckets) >= self.max_keys:
                del buckets[next(iter(buckets))]  # least recently used key goes first
        if tokens >= 1.0:
            buckets[key] = (tokens - 1.0, now)
            return 0.0
        buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after_header(wait: float) -> bytes:
    """Format a Retry-After value in whole seconds (at least 1)."""
    return str(max(1, math.ceil(wait))).encode()
