"""Plain event reads: counts, known ids (for the loader), a site's first and last event."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope, require_scope
from heliograph.store.backends.base import Backend
from heliograph.store.results import Activity
from heliograph.store.sql import EventQuery, check_limit, positive_int, uuid_tuple

# Ids per lookup: keeps each parameter a few hundred kilobytes at most.
ID_CHUNK = 5000


def count_events(backend: Backend, scope: TenantScope, site_id: int | None) -> int:
    """Return how many events the tenant (or one of its sites) has."""
    stmt = EventQuery(scope, site_id=site_id).select("count()").build()
    return int(backend.select(stmt)[0][0])


def existing_event_ids(
    backend: Backend,
    scope: TenantScope,
    ids: Sequence[uuid.UUID],
    start: datetime | None = None,
    end: datetime | None = None,
) -> set[uuid.UUID]:
    """Return which of ``ids`` the tenant already has (among events in [start, end) if given:
    the partition and the sort key's day then prune what is read)."""
    scope = require_scope(scope)  # fail on a bad scope even when ids is empty
    wanted = uuid_tuple(ids)
    found: set[uuid.UUID] = set()
    for at in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[at : at + ID_CHUNK]
        stmt = (
            EventQuery(scope, start=start, end=end)
            .where("event_id IN {ids:Array(UUID)}", ids=chunk)
            .select("DISTINCT toString(event_id)")
            .build()
        )
        found.update(uuid.UUID(row[0]) for row in backend.select(stmt))
    return found


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ms: int, events: int) -> datetime | None:
    return _EPOCH + timedelta(milliseconds=ms) if events else None


def site_activity(backend: Backend, scope: TenantScope, site_id: int) -> Activity:
    """Return when a site was first and last seen, and its number of events (daily roll-up)."""
    stmt = (
        EventQuery(scope, site_id=positive_int(site_id, "site_id"), table="site_days")
        .select(
            "sum(events)",
            "toUnixTimestamp64Milli(min(first_ts))",
            "toUnixTimestamp64Milli(max(last_ts))",
        )
        .build()
    )
    events, first, last = backend.select(stmt)[0]
    return Activity(_utc(int(first), int(events)), _utc(int(last), int(events)), int(events))


_EXPORT_COLUMNS = (
    "site_id",
    "toString(event_id)",
    "toUnixTimestamp64Milli(ts)",
    "toUnixTimestamp64Milli(received)",
    "type",
    "session_id",
    "visitor_id",
    "pageview_id",
    "url",
    "path",
    "referrer",
    "referrer_host",
    "selector",
    "x",
    "y",
    "vw",
    "vh",
    "dw",
    "dh",
    "depth",
    "device",
    "browser",
    "os",
)


def _event_row(row: list[Any]) -> EventRow:
    """Rebuild an EventRow from a row of _EXPORT_COLUMNS."""
    (
        site,
        event_id,
        ts,
        received,
        type_,
        session,
        visitor,
        pageview,
        url,
        path,
        referrer,
        referrer_host,
        selector,
        x,
        y,
        vw,
        vh,
        dw,
        dh,
        depth,
        device,
        browser,
        os_name,
    ) = row
    return EventRow(
        event_id=uuid.UUID(event_id),
        site_id=int(site),
        ts=_EPOCH + timedelta(milliseconds=int(ts)),
        received=_EPOCH + timedelta(milliseconds=int(received)),
        type=type_,
        session_id=session,
        visitor_id=visitor,
        pageview_id=pageview,
        url=url,
        path=path,
        referrer=referrer,
        referrer_host=referrer_host,
        selector=selector,
        x=int(x),
        y=int(y),
        vw=int(vw),
        vh=int(vh),
        dw=int(dw),
        dh=int(dh),
        depth=int(depth),
        device=device,
        browser=browser,
        os=os_name,
    )


def export_events(
    backend: Backend, scope: TenantScope, site_id: int | None, page: int
) -> Iterator[EventRow]:
    """Yield every event of the tenant (or one site) in (site, time, id) order, page by page."""
    check_limit(page)
    after: list[Any] | None = None
    while True:
        query = EventQuery(scope, site_id=site_id)
        if after is not None:
            # Keyset pagination: resume strictly after the last row of the previous page.
            query.where(
                "(site_id, ts, event_id) > ({after_site:UInt64}, {after_ts:DateTime64(3, 'UTC')},"
                " {after_id:UUID})",
                after_site=int(after[0]),
                after_ts=_EPOCH + timedelta(milliseconds=int(after[2])),
                after_id=uuid.UUID(after[1]),
            )
        stmt = (
            query.select("DISTINCT " + ", ".join(_EXPORT_COLUMNS))
            .order_by("site_id", "ts", "event_id")
            .limit(page)
            .build()
        )
        rows = backend.select(stmt)
        yield from map(_event_row, rows)
        if len(rows) < page:
            return
        after = rows[-1]
