"""The loader: sealed spool segments into the event store, exactly once, crash-safe.

Before touching the store for a segment the loader writes a ``.loading`` marker; it deletes the
segment and then the marker once every row is in.  If a crash leaves a marker behind, the next
run asks the store which of that segment's event ids it already has and inserts only the rest,
so a re-run never duplicates and never drops an event.  Event ids derive from the batch id the
collector drew and the event's index, so they are the same on every run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from heliograph.collector import schema
from heliograph.collector.spool import fsync_dir, read_records, seal_orphans, sealed_segments
from heliograph.core.crypto.aead import DecryptionError
from heliograph.core.crypto.keyring import KeyDestroyed
from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store

log = logging.getLogger("heliograph.loader")

MARKER_SUFFIX = ".loading"
WRITE_CHUNK = 50_000
# The only query parameters a stored page URL keeps: campaign tags that say where a visit came
# from and name no one. Everything else in a query string (e-mail addresses, search terms,
# reset tokens, order numbers; also utm_term and utm_content, which often carry search
# keywords or a subscriber's address), every fragment and every path parameter
# (";jsessionid=...") is dropped before the store.
CAMPAIGN_PARAMETERS = frozenset({"utm_source", "utm_medium", "utm_campaign"})
_QUERY_SEPARATORS = re.compile(r"[&;]")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one pass of the loader did."""

    segments: int
    events: int
    skipped_duplicates: int


def event_id(batch_id: bytes, index: int) -> uuid.UUID:
    """Derive a stable event id from the batch id and the event's position in it."""
    return uuid.UUID(bytes=batch_id[:14] + index.to_bytes(2, "big"))


def to_rows(batch: schema.SpoolBatch) -> list[EventRow]:
    """Turn one spooled batch into store rows."""
    received = datetime.fromtimestamp(batch.received_ms / 1000, UTC)
    rows = []
    for index, event in enumerate(batch.events):
        page = _split(event.url)
        referrer_host = _host(event.ref)
        if referrer_host and referrer_host == page.hostname:
            referrer_host = ""  # navigation inside the site is not a referral
        rows.append(
            EventRow(
                event_id=event_id(batch.batch_id, index),
                site_id=batch.site_id,
                ts=datetime.fromtimestamp(event.ts / 1000, UTC),
                received=received,
                type=event.type,
                session_id=event.sid,
                visitor_id=event.vid or batch.visitor_hash,
                pageview_id=event.pid,
                url=stored_url(event.url),
                path=page.path or "/",
                referrer=stored_referrer(event.ref),
                referrer_host=referrer_host,
                selector=event.sel,
                x=max(event.x, 0),
                y=max(event.y, 0),
                vw=event.vw,
                vh=event.vh,
                dw=event.dw,
                dh=event.dh,
                depth=event.depth,
                device=batch.device,
                browser=batch.browser,
                os=batch.os,
            )
        )
    return rows


class _Parts:
    __slots__ = ("hostname", "path")

    def __init__(self, hostname: str, path: str) -> None:
        self.hostname = hostname
        self.path = path


@lru_cache(maxsize=4096)  # a batch's events share their page's URL
def stored_url(url: str) -> str:
    """A page URL as the store keeps it: no fragment, no path parameters, and of its query only
    the campaign parameters (CAMPAIGN_PARAMETERS), in their order."""
    if "?" not in url and "#" not in url and ";" not in url:
        return url
    base, _, query = url.partition("#")[0].partition("?")
    base = _without_path_parameters(base)
    kept = [
        item
        for item in _QUERY_SEPARATORS.split(query)
        if item.partition("=")[0] in CAMPAIGN_PARAMETERS
    ]
    return base + "?" + "&".join(kept) if kept else base


def stored_referrer(url: str) -> str:
    """A referrer as the store keeps it: without user name and password, path parameters,
    query or fragment (another site's search terms and ids are not ours to keep)."""
    if not any(mark in url for mark in "?#;@"):
        return url
    url = _without_path_parameters(url.partition("#")[0].partition("?")[0])
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if separator and "@" in authority:
        return scheme + separator + authority.rpartition("@")[2] + slash + path
    return url


def _without_path_parameters(text: str) -> str:
    """``text`` without what follows ";" in each of its "/"-separated parts."""
    if ";" not in text:
        return text
    return "/".join(part.partition(";")[0] for part in text.split("/"))


def _split(url: str) -> _Parts:
    try:
        parts = urlsplit(url)
        return _Parts((parts.hostname or "").lower(), _without_path_parameters(parts.path))
    except ValueError:
        return _Parts("", "/")


def _host(url: str) -> str:
    return _split(url).hostname if url else ""


class Loader:
    """Move sealed segments from one spool directory into the store."""

    def __init__(self, spool_dir: Path, codec: schema.SpoolCodec) -> None:
        self.spool_dir = spool_dir
        self.codec = codec
        self.quarantine = spool_dir / "quarantine"

    def run_once(self) -> LoadResult:
        """Seal orphaned segments, load every sealed one, and report what was done."""
        if not self.spool_dir.exists():
            return LoadResult(0, 0, 0)
        self._drop_stale_markers()
        seal_orphans(self.spool_dir)
        segments = events = skipped = 0
        for path in sealed_segments(self.spool_dir):
            loaded, duplicates = self._load_segment(path)
            segments += 1
            events += loaded
            skipped += duplicates
        return LoadResult(segments, events, skipped)

    def _load_segment(self, path: Path) -> tuple[int, int]:
        marker = path.with_suffix(MARKER_SUFFIX)
        recovering = marker.exists()
        if not recovering:
            _touch_durably(marker)
        result = read_records(path)
        by_tenant, undecodable = self._decode(path, result.records)
        loaded = skipped = 0
        for tenant_id, rows in by_tenant.items():
            scope = TenantScope(tenant_id)
            if recovering:
                present = store.existing_event_ids(scope, [row.event_id for row in rows])
                skipped += len(present)
                rows = [row for row in rows if row.event_id not in present]
            keyring = self.codec.keyring
            if keyring.is_shredded(tenant_id):
                continue  # deleted since these records were opened
            for start in range(0, len(rows), WRITE_CHUNK):
                loaded += store.write_events(scope, rows[start : start + WRITE_CHUNK])
            if keyring.is_shredded(tenant_id):
                # Deleted while we were writing: the deletion's erase may have run before our
                # insert, so erase again. Checked after the write, this closes the race.
                store.erase_tenant(scope)
        if result.torn or undecodable:
            self._quarantine(path, f"torn={result.torn} undecodable={undecodable}")
        else:
            path.unlink()
        marker.unlink()
        log.info(
            "loader.segment_loaded segment=%s events=%d duplicates=%d", path.name, loaded, skipped
        )
        return loaded, skipped

    def _decode(self, path: Path, records: list[bytes]) -> tuple[dict[int, list[EventRow]], int]:
        by_tenant: dict[int, list[EventRow]] = defaultdict(list)
        undecodable = 0
        for record in records:
            try:
                batches = self.codec.open(record)
            except KeyDestroyed:
                # The tenant was deleted and its keys destroyed: this data is gone by design.
                log.info("loader.record_of_shredded_tenant segment=%s", path.name)
                continue
            except (msgspec.MsgspecError, DecryptionError):
                # A record that passed its CRC but does not decode or authenticate was written
                # by another version or with a lost key: load the rest, quarantine the segment.
                log.error("loader.undecodable_record segment=%s", path.name)
                undecodable += 1
                continue
            for batch in batches:
                by_tenant[batch.tenant_id].extend(to_rows(batch))
        return by_tenant, undecodable

    def _quarantine(self, path: Path, reason: str) -> None:
        self.quarantine.mkdir(exist_ok=True)
        shutil.move(path, self.quarantine / path.name)
        log.error("loader.segment_quarantined segment=%s reason=%s", path.name, reason)

    def _drop_stale_markers(self) -> None:
        for marker in self.spool_dir.glob("*" + MARKER_SUFFIX):
            if not marker.with_suffix(".seg").exists():
                marker.unlink()


def _touch_durably(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
