"""The loader: sealed spool segments into the event store, exactly once, crash-safe.

Before touching the store for a segment the loader writes a ``.loading`` marker; it deletes the
segment and then the marker once every row is in.  For every segment it asks the store which
of the segment's event ids it already has and inserts only the rest, so a re-run after a crash
mid-load never duplicates and never drops an event, and neither does a segment that reaches
the spool twice (copied, restored, replayed: that is also recorded as a security event).
Event ids derive from the batch id the collector drew and the event's index, so they are the
same on every run.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from heliograph.collector import schema
from heliograph.collector.spool import fsync_dir, read_records, seal_orphans, sealed_segments
from heliograph.core import security_events
from heliograph.core.crypto.aead import DecryptionError
from heliograph.core.crypto.keyring import KeyDestroyed
from heliograph.core.events import EventRow
from heliograph.core.security_events import SecurityEvent
from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store

log = logging.getLogger("heliograph.loader")

MARKER_SUFFIX = ".loading"
LOCK_NAME = "loader.lock"
WRITE_CHUNK = 50_000
# The only query parameters a stored page URL keeps: campaign tags that say where a visit came
# from and name no one. Everything else in a query string (e-mail addresses, search terms,
# reset tokens, order numbers; also utm_term and utm_content, which often carry search
# keywords or a subscriber's address), every fragment and every path parameter
# (";jsessionid=...") is dropped before the store.
CAMPAIGN_PARAMETERS = frozenset({"utm_source", "utm_medium", "utm_campaign"})
_QUERY_SEPARATORS = re.compile(r"[&;]")
# File extensions that follow "name@2x" and the like in asset names; none is a top-level domain.
_NOT_TLDS = (
    "js|mjs|cjs|css|map|json|xml|txt|pdf|html?|php|aspx?|jsp"
    "|png|jpe?g|gif|svg|webp|avif|ico|bmp|woff2?|ttf|otf|eot|wasm|mp[34]|webm"
)
# An e-mail address as sites put them in paths ("/unsubscribe/ana@example.com") and ids:
# - plain or URL-encoded: "@" as "%40" (or "%2540", encoded twice), dots as "%2E", non-ASCII
#   letters as themselves or %-escapes;
# - CSS-escaped, as a selector holds an id or class: "ana\.b\@example\.com".
# The domain must end in a label of letters that is not a file extension, so package versions
# ("react@18.2.0", "vue@next.js"), handles ("/@ana"), retina images ("logo@2x.png") and CSS
# at-rule classes ("\@container") stay. Linear time: a match starts only where a run of
# address characters starts (the lookbehind), and the parts of the domain cannot overlap
# ("%40", "%25" and "%2E" are never part of a label), so no input makes it backtrack far.
_EMAIL = re.compile(
    r"""
    (?<![\w.!$%'*+^`{|}~\\-])
    (?:
        [\w!$%'*+^`{|}~-] [\w.!$%'*+^`{|}~-]*?
        (?:@|%40|%2540)
        (?!\d+x\.)
        (?: (?: [\w-] | %(?!40|25|2[Ee])[0-9A-Fa-f]{2} )+ (?:\.|%2[Ee]) )+
        (?!(?:NOT_TLDS)\b)
        (?: [^\W\d_] | %(?!40|25|2[Ee])[0-9A-Fa-f]{2} ){2,}
    |
        (?: [\w!$%'*+^`{|}~-] | \\[^\s] ) (?: [\w!$%'*+^`{|}~-] | \\[^\s@] )*?
        \\@
        (?!\d+x\\\.)
        (?: [\w-]+ \\\. )+
        (?!(?:NOT_TLDS)\b)
        [^\W\d_]{2,}
    )
    """.replace("NOT_TLDS", _NOT_TLDS),
    re.VERBOSE,
)
EMAIL_MARK = "(email)"
_INVISIBLE = {ord("\t"): None, ord("\n"): None, ord("\r"): None}
# A URL with none of these characters is stored as it came (stored_url, stored_referrer).
_REWRITTEN = "?#;@%\t\n\r"


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
                selector=without_emails(event.sel),
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


@dataclass(frozen=True, slots=True)
class _Parts:
    hostname: str
    path: str


@lru_cache(maxsize=4096)  # a batch's events share their page's URL
def stored_url(url: str) -> str:
    """A page URL as the store keeps it: no fragment, no path parameters, no e-mail address,
    and of its query only the campaign parameters (CAMPAIGN_PARAMETERS), in their order.

    It has no user name or password: the collector refuses page URLs with any (url_host)."""
    if not any(mark in url for mark in _REWRITTEN):
        return url
    # Tabs and line breaks go first, as urlsplit (and a browser) drops them: the stored path,
    # made by urlsplit, and the stored URL then hold the same characters.
    base, _, query = url.translate(_INVISIBLE).partition("#")[0].partition("?")
    base = without_emails(_without_path_parameters(base))
    kept = [
        without_emails(item)
        for item in _QUERY_SEPARATORS.split(query)
        if item.partition("=")[0] in CAMPAIGN_PARAMETERS
    ]
    return base + "?" + "&".join(kept) if kept else base


def stored_referrer(url: str) -> str:
    """A referrer as the store keeps it: without user name and password, path parameters,
    e-mail addresses, query or fragment (another site's search terms and ids are not ours to
    keep)."""
    if not any(mark in url for mark in _REWRITTEN):
        return url
    url = _without_path_parameters(url.translate(_INVISIBLE).partition("#")[0].partition("?")[0])
    return without_emails(_without_credentials(url))


def without_emails(text: str) -> str:
    """``text`` with every e-mail address in it (plain, URL-encoded or CSS-escaped) replaced
    by EMAIL_MARK: a path or a selector that names a person keeps its shape, not the name."""
    if "@" not in text and "%40" not in text and "%2540" not in text:
        return text
    return _scrubbed(text)


@lru_cache(maxsize=1024)  # paths and selectors repeat from event to event
def _scrubbed(text: str) -> str:
    return _EMAIL.sub(EMAIL_MARK, text)


def _without_credentials(url: str) -> str:
    """``url`` without the user name and password of its authority ("https://ana:pw@host")."""
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


@lru_cache(maxsize=4096)  # a batch's events share their page's URL (shared: never changed)
def _split(url: str) -> _Parts:
    """The lower-case host of ``url`` and its path as stored (no path parameters, no e-mail
    address)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return _Parts("", "/")
    return _Parts(host, without_emails(_without_path_parameters(parts.path)))


def _host(url: str) -> str:
    return _split(url).hostname if url else ""


class Loader:
    """Move sealed segments from one spool directory into the store."""

    def __init__(self, spool_dir: Path, codec: schema.SpoolCodec) -> None:
        self.spool_dir = spool_dir
        self.codec = codec
        self.quarantine = spool_dir / "quarantine"

    def run_once(self) -> LoadResult:
        """Seal orphaned segments, load every sealed one, and report what was done.

        One loader at a time per spool (an exclusive lock on ``loader.lock`` in it): two would
        load the same segment side by side, and one could take the other's half-written record
        for a loaded one. A pass that finds the lock taken does nothing.
        """
        if not self.spool_dir.exists():
            return LoadResult(0, 0, 0)
        fd = os.open(self.spool_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("loader.busy spool=%s: another loader holds its lock", self.spool_dir)
                return LoadResult(0, 0, 0)
            return self._run_locked()
        finally:
            os.close(fd)  # releases the lock

    def _run_locked(self) -> LoadResult:
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
        for tenant_id, records in by_tenant.items():
            scope = TenantScope(tenant_id)
            keyring = self.codec.keyring
            if keyring.is_shredded(tenant_id):
                continue  # deleted since these records were opened
            distinct = _distinct(records)
            fresh = _not_yet_stored(scope, distinct, recovering=recovering)
            in_segment = sum(map(len, records)) - sum(map(len, distinct))
            stored = sum(map(len, distinct)) - len(fresh)
            skipped += in_segment + stored
            # After a crash mid-load, events already in the store are what the check is for.
            if in_segment or (stored and not recovering):
                _repeated(
                    path, tenant_id, stored=0 if recovering else stored, in_segment=in_segment
                )
            for start in range(0, len(fresh), WRITE_CHUNK):
                loaded += store.write_events(scope, fresh[start : start + WRITE_CHUNK])
            if keyring.is_shredded(tenant_id):
                # Deleted while we were writing: the deletion's erase may have run before our
                # insert, so erase again. Checked after the write, this closes the race.
                store.erase_tenant(scope)
        if result.torn or undecodable:
            self._quarantine(path, result.torn, undecodable)
        else:
            path.unlink()
        marker.unlink()
        log.info(
            "loader.segment_loaded segment=%s events=%d duplicates=%d", path.name, loaded, skipped
        )
        return loaded, skipped

    def _decode(
        self, path: Path, records: list[bytes]
    ) -> tuple[dict[int, list[list[EventRow]]], int]:
        """The rows of each tenant, one list per record (a record is one tenant's), and how
        many records did not open."""
        by_tenant: dict[int, list[list[EventRow]]] = defaultdict(list)
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
            rows = [row for batch in batches for row in to_rows(batch)]
            if rows:
                by_tenant[batches[0].tenant_id].append(rows)
        return by_tenant, undecodable

    def _quarantine(self, path: Path, torn: bool, undecodable: int) -> None:
        """Keep a damaged segment aside (its intact records are loaded), and say so in the
        security event log. A torn one ends in a record cut short or corrupt; an undecodable
        record passed its checksum but did not authenticate or decode: changed by someone,
        sealed under a key this data directory does not have, or written by another version."""
        self.quarantine.mkdir(exist_ok=True)
        shutil.move(path, self.quarantine / path.name)
        log.error(
            "loader.segment_quarantined segment=%s torn=%s undecodable=%d",
            path.name,
            torn,
            undecodable,
        )
        _report(
            SecurityEvent(
                action="loader.segment_quarantined",
                category="file",
                outcome="failure",
                message=f"spool segment {path.name} quarantined: torn={torn} "
                f"undecodable_records={undecodable}",
                labels={"segment": path.name, "torn": torn, "undecodable_records": undecodable},
            )
        )

    def _drop_stale_markers(self) -> None:
        for marker in self.spool_dir.glob("*" + MARKER_SUFFIX):
            if not marker.with_suffix(".seg").exists():
                marker.unlink()


def _distinct(records: list[list[EventRow]]) -> list[list[EventRow]]:
    """The records (each a record's rows) without the repeats of a record earlier in the list:
    a repeat has the same event ids, and no two different records share one."""
    distinct: dict[uuid.UUID, list[EventRow]] = {}
    for rows in records:
        distinct.setdefault(rows[0].event_id, rows)
    return list(distinct.values())


def _not_yet_stored(
    scope: TenantScope, records: list[list[EventRow]], *, recovering: bool
) -> list[EventRow]:
    """The rows of ``records`` (each a record's rows, no record twice) that the store does not
    have yet.

    Every segment is checked, not only one that a crash left half-loaded: a segment or a record
    that reaches the spool a second time (copied, restored from a backup, replayed) must not
    count its events twice. The roll-ups are summed at insert, so a repeat would stay in the
    dashboards even after the events table merged it away.

    Outside recovery, one id per record is asked about (its first event's), not one per event.
    That holds while (1) a record's rows are written together and in order, (2) only a crash
    stops that half-way, and a crash leaves the segment's marker (recovery then asks about every
    event), (3) one loader works on a spool at a time (run_once's lock), and (4) nothing
    deletes single events from the store (erasure is per tenant). A change to any of these
    must change this check.
    """
    if recovering:  # any record may be half-written: ask about every event
        rows = [row for group in records for row in group]
        present = _stored(scope, rows)
        return [row for row in rows if row.event_id not in present]
    present = _stored(scope, [group[0] for group in records])
    return [row for group in records if group[0].event_id not in present for row in group]


def _stored(scope: TenantScope, rows: list[EventRow]) -> set[uuid.UUID]:
    """Which of the rows' event ids the store has. The rows' times bound the lookup (the
    collector keeps an event's time within a day before its receipt), so the store reads the
    month partitions and the days of its sort key that hold them, not all of the tenant's."""
    if not rows:
        return set()
    start = min(row.ts for row in rows)
    end = max(row.ts for row in rows) + timedelta(milliseconds=1)
    return store.existing_event_ids(scope, [row.event_id for row in rows], start=start, end=end)


def _repeated(path: Path, tenant_id: int, *, stored: int, in_segment: int) -> None:
    log.warning(
        "loader.events_repeated segment=%s tenant=%d already_stored=%d repeated_in_segment=%d",
        path.name,
        tenant_id,
        stored,
        in_segment,
    )
    _report(
        SecurityEvent(
            action="loader.events_repeated",
            category="file",
            outcome="failure",
            tenant_id=tenant_id,
            message=f"spool segment {path.name}: {stored} event(s) already in the store and "
            f"{in_segment} repeated within the segment; not loaded again",
            labels={
                "segment": path.name,
                "already_stored": stored,
                "repeated_in_segment": in_segment,
            },
        )
    )


def _report(event: SecurityEvent) -> None:
    """Record a security event; a log that cannot take it must not stop the loading (the
    warning or error logged beside it still says what happened)."""
    try:
        security_events.record(event)
    except Exception:
        log.exception("loader.security_event_not_recorded action=%s", event.action)


def _touch_durably(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
