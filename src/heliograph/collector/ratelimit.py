"""Token buckets per site and per client, in memory, bounded in size."""

from __future__ import annotations

import math
import time
from collections import OrderedDict


class TokenBuckets:
    """Allow ``rate`` requests per second per key with bursts up to ``burst``."""

    def __init__(self, *, rate: float, burst: int, max_keys: int = 200_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend a token for ``key``; return 0 if allowed, else seconds until one is free."""
        now = time.monotonic() if now is None else now
        tokens, stamp = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # least recently used key goes first


def retry_after_header(wait: float) -> bytes:
    """Format a Retry-After value in whole seconds (at least 1)."""
    return str(max(1, math.ceil(wait))).encode()
