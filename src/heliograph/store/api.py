"""The only door to the event store: open it, write a tenant's events, read its dashboards.

Every read and write takes a TenantScope and touches that tenant's rows only; results are plain
frozen dataclasses. Functions are synchronous and thread-safe (the web app and the loader call
from different threads; the backend serialises access to its connection).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from heliograph.core.config import Settings
from heliograph.core.crypto.keyring import PLATFORM
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope, require_scope
from heliograph.store.backends.base import Backend, StoreError
from heliograph.store.backends.disk_encryption import STORE_KEY_LABEL, DiskKey, file_fingerprints
from heliograph.store.queries import events as event_queries
from heliograph.store.queries import maps, traffic
from heliograph.store.queries.common import Window
from heliograph.store.results import (
    Activity,
    ClickBucket,
    ClickMap,
    DepthShare,
    Devices,
    NamedCount,
    Overview,
    PageStat,
    ReferrerStat,
    ScrollMap,
    SelectorStat,
    SeriesPoint,
)
from heliograph.store.rows import build_batch
from heliograph.store.schema import migrate
from heliograph.store.sql import TABLES as TENANT_TABLES

__all__ = [
    "Activity",
    "ClickBucket",
    "ClickMap",
    "DepthShare",
    "Devices",
    "NamedCount",
    "Overview",
    "PageStat",
    "ReferrerStat",
    "ScrollMap",
    "SelectorStat",
    "SeriesPoint",
    "StoreError",
    "click_map",
    "close_store",
    "count_events",
    "devices",
    "entry_pages",
    "existing_event_ids",
    "exit_pages",
    "export_events",
    "open_store",
    "overview",
    "referrers",
    "scroll_map",
    "site_activity",
    "store_ready",
    "top_pages",
    "write_events",
]

# Rows per insert: bounds the memory of one Arrow batch and makes parts of a useful size.
WRITE_CHUNK = 200_000

_state_lock = threading.Lock()
_backend: Backend | None = None
_opened: str = ""
_opened_settings: Settings | None = None


def _target(settings: Settings) -> str:
    if settings.store_backend == "clickhouse":
        return settings.clickhouse_url
    return str(settings.store_dir)


def _connect(settings: Settings) -> Backend:
    # Imported here so a process only loads the client library of the backend it uses.
    if settings.store_backend == "clickhouse":
        from heliograph.store.backends.server import ServerBackend

        return ServerBackend(settings.clickhouse_url)
    from heliograph.store.backends.embedded import EmbeddedBackend

    return EmbeddedBackend(settings.store_dir, disk_keys(settings))


_DISK_STATE = "disk-keys.json"


def _disk_state_path(settings: Settings) -> Path:
    return settings.store_dir / _DISK_STATE


def _read_disk_state(settings: Settings) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(_disk_state_path(settings).read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        state = {}
    return state


def _write_disk_state(settings: Settings, state: dict[str, Any]) -> None:
    path = _disk_state_path(settings)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, sort_keys=True), "utf-8")
    os.replace(temporary, path)


def _active_disk_key(settings: Settings) -> str:
    keyring = process_keyring(settings)
    return next(k.key_id for k in keyring.derived_keys(PLATFORM, STORE_KEY_LABEL) if k.active)


def disk_key_state(settings: Settings) -> dict[str, Any]:
    """Say which platform data keys the embedded store's files may still be encrypted under.

    ``keys_in_store`` lists every key that was current when the store was opened since the
    last complete re-encryption; a key outside it no longer protects any store file.
    """
    if settings.store_backend != "chdb":
        return {"backend": settings.store_backend, "keys_in_store": []}
    state = _read_disk_state(settings)
    files = store_file_keys(settings)
    written = list(state.get("written_under", []))
    current = written[-1] if written else None
    fingerprints = [name for name in files if name != "empty"]
    if state.get("reencrypted_under") == current and len(fingerprints) <= 1 and current:
        written = [current]
    return {"current": current, "keys_in_store": written, "file_fingerprints": files}


def disk_keys(settings: Settings) -> list[DiskKey]:
    """Return the embedded store's disk keys, derived from the platform's data keys."""
    keyring = process_keyring(settings)
    return [
        DiskKey(DiskKey.id_for(key.key_id), key.active, key.secret)
        for key in keyring.derived_keys(PLATFORM, STORE_KEY_LABEL)
    ]


def open_store(settings: Settings) -> None:
    """Open the process-wide store and create or upgrade its schema (idempotent)."""
    global _backend, _opened, _opened_settings
    with _state_lock:
        if _backend is not None:
            if _target(settings) == _opened:
                return
            # chDB holds one data directory per process: switching needs an explicit close.
            raise StoreError("another event store is open in this process: close_store() first")
        backend = _connect(settings)
        if settings.store_backend == "chdb":
            state = _read_disk_state(settings)
            active = _active_disk_key(settings)
            written = [k for k in state.get("written_under", []) if k != active] + [active]
            _write_disk_state(settings, {**state, "written_under": written})
        try:
            migrate(backend)
        except BaseException:
            backend.close()
            raise
        _backend, _opened, _opened_settings = backend, _target(settings), settings


def close_store() -> None:
    """Close the process-wide store; a closed store may be opened again."""
    global _backend, _opened, _opened_settings
    with _state_lock:
        if _backend is not None:
            _backend.close()
        _backend, _opened, _opened_settings = None, "", None


def store_ready() -> bool:
    """Return True if the store is open and answers (for /readyz)."""
    backend = _backend
    return backend is not None and backend.ping()


def _open_backend() -> Backend:
    backend = _backend
    if backend is None:
        raise StoreError("the event store is not open")
    return backend


def write_events(scope: TenantScope, events: Sequence[EventRow]) -> int:
    """Insert ``events`` for the scope's tenant; return the rows written.

    The tenant comes from the scope, never from a row. Repeats of an event id within the call
    are written once; ids already stored are the caller's to filter (existing_event_ids).
    """
    scope = require_scope(scope)
    backend = _open_backend()
    written = 0
    for at in range(0, len(events), WRITE_CHUNK):
        batch = build_batch(scope, events[at : at + WRITE_CHUNK])
        written += backend.insert(scope, batch)
    return written


def existing_event_ids(
    scope: TenantScope,
    ids: Sequence[uuid.UUID],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> set[uuid.UUID]:
    """Return which of ``ids`` the store already has for the scope's tenant.

    With ``start`` and ``end`` (both or neither), only events with ``start <= ts < end`` are
    looked at: a caller that knows the events' times reads a few days' rows, not all of them.
    """
    scope = require_scope(scope)
    return event_queries.existing_event_ids(_open_backend(), scope, ids, start, end)


def export_events(
    scope: TenantScope, *, site_id: int | None = None, page: int = 10_000
) -> Iterator[EventRow]:
    """Yield every stored event of the tenant (or of one site), in (site, time, id) order.

    For exports and end-to-end checks; reads ``page`` rows per query.
    """
    scope = require_scope(scope)
    return event_queries.export_events(_open_backend(), scope, site_id, page)


def erase_tenant(scope: TenantScope) -> int:
    """Delete every row of the tenant from every tenant table; return how many tables.

    Synchronous: when this returns, the rewritten parts no longer hold the tenant's rows (the
    replaced parts are removed by the engine shortly after; on the embedded store they are
    AES-256 encrypted like everything else). Used when a tenant is deleted.
    """
    scope = require_scope(scope)
    backend = _open_backend()
    tenant = int(scope.tenant_id)  # an int by TenantScope's own check, formatted as a number
    for table in sorted(TENANT_TABLES):
        # Mutations take no query parameters; the table names are this package's constants.
        backend.unscoped_execute(
            f"ALTER TABLE {table} DELETE WHERE tenant_id = {tenant} SETTINGS mutations_sync = 2"
        )
    return len(TENANT_TABLES)


def reencrypt_store() -> int:
    """Rewrite every part of every table of the embedded store under the active disk key.

    After a rotation of the platform data key new parts use the new key at once; this makes
    the old parts new too (OPTIMIZE ... FINAL), so the old key can be retired once the engine
    has removed the replaced parts. Returns how many tables were rewritten.
    """
    backend = _open_backend()
    tables = backend.unscoped_execute(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree'"
    )
    for row in tables:
        name = str(row[0])
        if not name.replace("_", "").isalnum():
            raise StoreError(f"unexpected table name {name!r}")
        backend.unscoped_execute(f"OPTIMIZE TABLE {name} FINAL")
    settings = _opened_settings
    if settings is not None and settings.store_backend == "chdb":
        state = _read_disk_state(settings)
        _write_disk_state(settings, {**state, "reencrypted_under": _active_disk_key(settings)})
    return len(tables)


def store_file_keys(settings: Settings) -> dict[str, int]:
    """Count the embedded store's files by the fingerprint of the key that encrypts them
    (``plain`` would be a file in clear); empty for a ClickHouse server."""
    if settings.store_backend != "chdb":
        return {}
    return dict(file_fingerprints(settings.store_dir))


def count_events(scope: TenantScope, *, site_id: int | None = None) -> int:
    """Return the number of events of the tenant, or of one of its sites."""
    scope = require_scope(scope)
    return event_queries.count_events(_open_backend(), scope, site_id)


def site_activity(scope: TenantScope, *, site_id: int) -> Activity:
    """Return the first and last event time of a site and its event count."""
    scope = require_scope(scope)
    return event_queries.site_activity(_open_backend(), scope, site_id)


def _window(scope: TenantScope, site_id: int, start: datetime, end: datetime) -> Window:
    return Window(require_scope(scope), site_id, start, end)


def overview(
    scope: TenantScope,
    *,
    site_id: int,
    start: datetime,
    end: datetime,
    tz: str = "UTC",
    interval: Literal["hour", "day"] = "day",
) -> Overview:
    """Return page views, visitors, sessions, bounce rate, scroll depth and a filled series."""
    window = _window(scope, site_id, start, end)
    return traffic.overview(_open_backend(), window, tz, interval)


def top_pages(
    scope: TenantScope, *, site_id: int, start: datetime, end: datetime, limit: int = 20
) -> tuple[PageStat, ...]:
    """Return the most viewed paths."""
    window = _window(scope, site_id, start, end)
    return traffic.top_pages(_open_backend(), window, limit)


def entry_pages(
    scope: TenantScope, *, site_id: int, start: datetime, end: datetime, limit: int = 20
) -> tuple[PageStat, ...]:
    """Return the paths sessions start on (``pageviews`` counts sessions)."""
    window = _window(scope, site_id, start, end)
    return traffic.entry_pages(_open_backend(), window, limit)


def exit_pages(
    scope: TenantScope, *, site_id: int, start: datetime, end: datetime, limit: int = 20
) -> tuple[PageStat, ...]:
    """Return the paths sessions end on (``pageviews`` counts sessions)."""
    window = _window(scope, site_id, start, end)
    return traffic.exit_pages(_open_backend(), window, limit)


def referrers(
    scope: TenantScope, *, site_id: int, start: datetime, end: datetime, limit: int = 20
) -> tuple[ReferrerStat, ...]:
    """Return referring hosts of sessions by visitors ("(direct)" for none or own site)."""
    window = _window(scope, site_id, start, end)
    return traffic.referrers(_open_backend(), window, limit)


def devices(
    scope: TenantScope, *, site_id: int, start: datetime, end: datetime, limit: int = 20
) -> Devices:
    """Return visitors by device class, browser and operating system."""
    window = _window(scope, site_id, start, end)
    return traffic.devices(_open_backend(), window, limit)


def click_map(
    scope: TenantScope,
    *,
    site_id: int,
    start: datetime,
    end: datetime,
    path: str,
    bucket_px: int = 20,
    limit: int = 50,
) -> ClickMap:
    """Return the click heatmap of one path: cells, top ``limit`` selectors, median page size."""
    window = _window(scope, site_id, start, end)
    return maps.click_map(_open_backend(), window, path, bucket_px, limit)


def scroll_map(
    scope: TenantScope, *, site_id: int, start: datetime, end: datetime, path: str
) -> ScrollMap:
    """Return the share of a path's page views reaching each tenth of scroll depth.

    A page view's depth is the maximum over its pageview and scroll rows, so one that never
    scrolled counts at its pageview row's depth (0 unless the tag recorded the first screen).
    """
    window = _window(scope, site_id, start, end)
    return maps.scroll_map(_open_backend(), window, path)
