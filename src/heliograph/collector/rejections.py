"""Rejected beacons, counted per site and reason and summarised into the security event log.

One record per bad beacon would let a flood of garbage flood the log too; a summary per
(site, reason) per interval keeps the signal (who is probing, with what) at a bounded cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import UTC, datetime

from heliograph.core import security_events
from heliograph.core.security_events import SecurityEvent

log = logging.getLogger("heliograph.collector")

Key = tuple[str, int | None, str]  # site key as sent, tenant id if the key was known, reason


class Rejections:
    """Count rejections; turn them into security events on demand."""

    def __init__(self) -> None:
        self.counts: Counter[Key] = Counter()
        self.since = datetime.now(UTC)

    def add(self, site: str, tenant_id: int | None, code: str) -> None:
        self.counts[(site[:64], tenant_id, code)] += 1

    def drain(self) -> list[SecurityEvent]:
        counts, self.counts = self.counts, Counter()
        since, self.since = self.since, datetime.now(UTC)
        return [
            SecurityEvent(
                action="collector.rejected",
                category="web",
                outcome="failure",
                tenant_id=tenant_id,
                http_method="POST",
                http_path="/collect",
                message=f"{count} beacon(s) rejected: {code}",
                labels={
                    "site_key": site,
                    "reason": code,
                    "count": count,
                    "since": since.isoformat(timespec="seconds"),
                },
            )
            for (site, tenant_id, code), count in sorted(counts.items(), key=str)
        ]

    async def flush_forever(self, interval: float) -> None:
        """Every ``interval`` seconds, write the summary (in a thread: the sink may block)."""
        while True:
            await asyncio.sleep(interval)
            await self.flush()

    async def flush(self) -> None:
        events = self.drain()
        if not events:
            return
        try:
            await asyncio.to_thread(security_events.record_many, events)
        except Exception:  # the log sink failing must never take the collector down
            log.exception("collector.rejection_summary_failed")

    @staticmethod
    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
