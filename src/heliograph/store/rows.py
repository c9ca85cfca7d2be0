"""Encode EventRows as one insert payload for a tenant, and the statement that loads it.

msgspec writes the rows as JSON (strings escaped, UUIDs and datetimes in standard form). The
payload is data to ClickHouse, never SQL: chDB streams it into a staging table, a server
receives it as the body of an ``input()`` insert. Either way one ``INSERT ... SELECT`` moves the
rows into ``events``: the tenant_id is a bound parameter from the scope, so a row cannot name its
own tenant, and every number is range-checked with accurateCast, because plain JSON input would
wrap x = 2**32 to 0 silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

import msgspec

from heliograph.core.events import EVENT_TYPES, EventRow
from heliograph.core.tenancy import TenantScope, require_scope

# Column order of the events table (schema version 1; version 2 added no column to it).
COLUMNS: tuple[str, ...] = ("tenant_id", *EventRow.__struct_fields__)

# How the JSON rows are read: numbers wide, datetimes as text (RFC 3339 with a zone).
_NUMBERS = ("site_id", "x", "y", "vw", "vh", "dw", "dh", "depth")
_READ_AS = {"event_id": "UUID", **{n: "Int64" for n in _NUMBERS}}
ROW_STRUCTURE = ", ".join(f"{n} {_READ_AS.get(n, 'String')}" for n in COLUMNS[1:])

_TYPE_ENUM = ", ".join(f"'{name}' = {n}" for n, name in enumerate(EVENT_TYPES, 1))
# How each column is computed from a JSON row; a column not named here is copied as read.
_CHECKED = {
    "tenant_id": "{tenant_id:UInt64}",
    "site_id": "accurateCast(site_id, 'UInt64')",
    "ts": "parseDateTime64BestEffort(ts, 3, 'UTC')",
    "received": "parseDateTime64BestEffort(received, 3, 'UTC')",
    # An unknown type fails the cast (and the insert) instead of being stored.
    "type": f"toString(CAST(type AS Enum8({_TYPE_ENUM})))",
    **{n: f"accurateCast({n}, 'UInt32')" for n in ("x", "y", "vw", "vh", "dw", "dh")},
    "depth": "least(accurateCast(depth, 'UInt8'), 100)",
}
_SELECT_ROWS = "SELECT " + ", ".join(_CHECKED.get(n, n) for n in COLUMNS)
_INSERT = f"INSERT INTO events ({', '.join(COLUMNS)})\n{_SELECT_ROWS}"
# The materialized views that keep session and page-view state (schema/rollups.py) read the
# state they update, so one insert must reach them as one block, in one thread: squash by rows
# only, up to far more rows than a batch holds (api.WRITE_CHUNK).
ONE_BLOCK = (
    "SETTINGS max_insert_threads = 1, min_insert_block_size_rows = 4194304,"
    " min_insert_block_size_bytes = 0"
)
# chDB: the rows are first streamed into this in-memory table (see backends/embedded.py).
STAGING_TABLE = "events_staging"
STAGING_DDL = f"CREATE TABLE IF NOT EXISTS {STAGING_TABLE} ({ROW_STRUCTURE}) ENGINE = Memory"
STAGE_ROWS = f"INSERT INTO {STAGING_TABLE}"
COUNT_STAGED = f"SELECT count() FROM {STAGING_TABLE}"  # noqa: S608  (constants only)
CLEAR_STAGING = f"TRUNCATE TABLE {STAGING_TABLE}"
INSERT_FROM_STAGING = f"{_INSERT}\nFROM {STAGING_TABLE}\n{ONE_BLOCK}"
# ClickHouse server: the rows are the HTTP body after FORMAT.
INSERT_FROM_BODY = f"{_INSERT}\nFROM input('{ROW_STRUCTURE}')\n{ONE_BLOCK}\nFORMAT JSONEachRow"

_encoder = msgspec.json.Encoder()
_event_ids = attrgetter("event_id")


@dataclass(frozen=True, slots=True)
class EventBatch:
    """JSON rows (an array of objects) of one tenant, ready for a backend to insert."""

    tenant_id: int
    payload: bytes
    rows: int


def unique_events(events: Sequence[EventRow]) -> Sequence[EventRow]:
    """Drop repeats of an event id within one batch (beacon retries), keeping the first."""
    if len(set(map(_event_ids, events))) == len(events):
        return events
    seen: set[uuid.UUID] = set()
    kept: list[EventRow] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            kept.append(event)
    return kept


def build_batch(scope: TenantScope, events: Sequence[EventRow]) -> EventBatch:
    """Return the insert payload of ``events`` for ``scope``."""
    scope = require_scope(scope)
    if not all(isinstance(e, EventRow) for e in events):
        raise TypeError("write_events takes EventRow objects")
    rows = unique_events(events)
    return EventBatch(scope.tenant_id, _encoder.encode(rows), len(rows))
