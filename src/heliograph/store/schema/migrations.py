"""Numbered, append-only schema migrations of the event store.

A migration is never edited once released: change the schema by appending a new one. Applied
versions are recorded in ``heliograph_schema``; ``migrate`` is idempotent, so every start-up
may call it. Version 2 (schema/rollups.py) adds the dashboards' roll-ups and session state and
backfills them from the stored events (about 45-80 s for 10M events on two cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from heliograph.store.schema import rollups

if TYPE_CHECKING:
    from heliograph.store.backends.base import Backend

VERSION_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS heliograph_schema
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""

# ReplacingMergeTree keyed on the event id (last in the sort key) lets background merges drop
# an event that was loaded twice; the loader's existing_event_ids check is the primary defence.
# tenant_id leads the key so one tenant's rows are contiguous and every scoped read prunes on it.
EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events
(
    tenant_id UInt64,
    site_id UInt64,
    event_id UUID,
    ts DateTime64(3, 'UTC'),
    received DateTime64(3, 'UTC'),
    type LowCardinality(String),
    session_id String,
    visitor_id String,
    pageview_id String,
    url String CODEC(ZSTD(1)),
    path String,
    referrer String CODEC(ZSTD(1)),
    referrer_host LowCardinality(String),
    selector String,
    x UInt32,
    y UInt32,
    vw UInt32,
    vh UInt32,
    dw UInt32,
    dh UInt32,
    depth UInt8,
    device LowCardinality(String),
    browser LowCardinality(String),
    os LowCardinality(String),
    -- Fixed-width keys computed on insert: grouping and counting distinct visitors, sessions
    -- and page views on UInt64 is 25-35% faster than on the id strings (bench/store_queries.py).
    visitor_key UInt64 MATERIALIZED cityHash64(visitor_id),
    session_key UInt64 MATERIALIZED cityHash64(session_id),
    pageview_key UInt64 MATERIALIZED cityHash64(pageview_id)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, site_id, toDate(ts), type, path, event_id)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: a version number, a name, and the statements that make it."""

    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create events", (EVENTS_DDL,)),
    Migration(2, "dashboard roll-ups and session state", rollups.STATEMENTS),
)


def applied_version(backend: Backend) -> int:
    """Return the highest applied schema version, 0 for an empty store."""
    rows = backend.unscoped_execute("SELECT max(version) FROM heliograph_schema")
    return int(rows[0][0]) if rows else 0


def migrate(backend: Backend) -> int:
    """Create or upgrade the schema to the newest version; return that version."""
    backend.unscoped_execute(VERSION_TABLE_DDL)
    current = applied_version(backend)
    for step in MIGRATIONS:
        if step.version <= current:
            continue
        for statement in step.statements:
            backend.unscoped_execute(statement)
        backend.unscoped_execute(
            "INSERT INTO heliograph_schema (version, name) SELECT {version:UInt32}, {name:String}",
            {"version": step.version, "name": step.name},
        )
        current = step.version
    return current
