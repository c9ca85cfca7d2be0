"""Cross-tenant probes of the event store: tenant A never sees tenant B's rows.

Both tenants write to the same site id with recognisable markers (paths, selectors, visitors,
referrers, devices). Every store API read is then made as A, as B and as an empty tenant C, and
must return only that tenant's markers and counts. A spy on the backend also checks that every
statement the store executed was bound to the scope that asked for it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from heliograph.core.config import Settings
from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope
from heliograph.store import api
from heliograph.store.sql import TABLES, ScopedStatement

T0 = datetime(2026, 2, 2, tzinfo=UTC)
WINDOW = {"site_id": 1, "start": T0, "end": T0 + timedelta(days=1)}
# Not on 15-minute boundaries: the dashboards also read the rows their roll-ups are kept from.
RAGGED = {
    "site_id": 1,
    "start": T0 - timedelta(seconds=7),
    "end": T0 + timedelta(hours=5, minutes=3),
}
# Tenant ids no other test module uses (the store may be shared with tests/store).
A, B, C = TenantScope(910_001), TenantScope(910_002), TenantScope(910_003)
SITE_ID = 1


def _rows(tag: str, sessions: int) -> list[EventRow]:
    """Return page views, clicks and scrolls whose every string carries ``tag``."""
    rows = []
    for n in range(sessions):
        common: dict[str, Any] = {
            "site_id": SITE_ID,
            "session_id": f"{tag}-s{n}",
            "visitor_id": f"{tag}-v{n}",
            "pageview_id": f"{tag}-p{n}",
            "url": f"https://{tag}.example/{tag}",
            "path": f"/{tag}",
            "device": f"{tag}-device",
            "browser": f"{tag}-browser",
            "os": f"{tag}-os",
            "received": T0,
        }
        at = T0 + timedelta(minutes=n)
        rows += [
            EventRow(
                event_id=uuid.uuid4(),
                ts=at,
                type="pageview",
                referrer_host=f"{tag}.referrer",
                **common,
            ),
            EventRow(
                event_id=uuid.uuid4(),
                ts=at,
                type="click",
                selector=f"#{tag}",
                x=10,
                y=10,
                dw=800,
                dh=800,
                **common,
            ),
            EventRow(event_id=uuid.uuid4(), ts=at, type="scroll", depth=60, **common),
        ]
    return rows


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, list[EventRow]]]:
    """Open (or share) the store and write two tenants' rows; C stays empty."""
    opened = not api.store_ready()
    if opened:
        api.open_store(Settings(data_dir=tmp_path_factory.mktemp("isolation")))
    data = {A.tenant_id: _rows("alpha", 3), B.tenant_id: _rows("bravo", 5)}
    for tenant_id, rows in data.items():
        api.write_events(TenantScope(tenant_id), rows)
    yield data
    if opened:
        api.close_store()


def _all_reads(scope: TenantScope, path: str) -> dict[str, Any]:
    return {
        "count": api.count_events(scope),
        "count_site": api.count_events(scope, site_id=SITE_ID),
        "activity": api.site_activity(scope, site_id=SITE_ID),
        "overview": api.overview(scope, **WINDOW),
        "overview_hour": api.overview(scope, **WINDOW, tz="Europe/Paris", interval="hour"),
        "top_pages": api.top_pages(scope, **WINDOW),
        "entry_pages": api.entry_pages(scope, **WINDOW),
        "exit_pages": api.exit_pages(scope, **WINDOW),
        "referrers": api.referrers(scope, **WINDOW),
        "devices": api.devices(scope, **WINDOW),
        "click_map": api.click_map(scope, **WINDOW, path=path),
        "scroll_map": api.scroll_map(scope, **WINDOW, path=path),
        "overview_ragged": api.overview(scope, **RAGGED),
        "top_pages_ragged": api.top_pages(scope, **RAGGED),
        "entry_pages_ragged": api.entry_pages(scope, **RAGGED),
        "devices_ragged": api.devices(scope, **RAGGED),
        "scroll_map_ragged": api.scroll_map(scope, **RAGGED, path=path),
        "export": tuple(api.export_events(scope)),
    }


@pytest.mark.parametrize(
    ("scope", "mine", "theirs", "sessions"),
    [
        (A, "alpha", "bravo", 3),
        (B, "bravo", "alpha", 5),
    ],
)
def test_a_tenant_sees_only_its_own_rows(
    tenants: dict[int, list[EventRow]], scope: TenantScope, mine: str, theirs: str, sessions: int
) -> None:
    reads = _all_reads(scope, f"/{mine}")
    text = repr(reads)
    assert theirs not in text
    assert mine in text
    assert reads["count"] == reads["count_site"] == len(reads["export"]) == 3 * sessions
    assert reads["activity"].events == 3 * sessions
    assert (reads["overview"].pageviews, reads["overview"].visitors) == (sessions, sessions)
    assert sum(p.pageviews for p in reads["overview_hour"].series) == sessions
    assert reads["top_pages"] == (api.PageStat(f"/{mine}", sessions, sessions),)
    assert reads["referrers"] == (api.ReferrerStat(f"{mine}.referrer", sessions, sessions),)
    assert reads["click_map"].clicks == sessions
    assert reads["scroll_map"].pageviews == sessions
    assert reads["overview_ragged"].pageviews == reads["overview"].pageviews
    assert reads["overview_ragged"].sessions == reads["overview"].sessions == sessions
    assert reads["scroll_map_ragged"] == reads["scroll_map"]


def test_the_other_tenants_path_is_empty_for_me(tenants: dict[int, list[EventRow]]) -> None:
    assert api.click_map(A, **WINDOW, path="/bravo").clicks == 0
    assert api.scroll_map(A, **WINDOW, path="/bravo").pageviews == 0
    assert api.click_map(B, **WINDOW, path="/alpha").clicks == 0


def test_an_empty_tenant_sees_nothing(tenants: dict[int, list[EventRow]]) -> None:
    reads = _all_reads(C, "/alpha")
    # The maps echo the asked path.
    maps = (reads.pop("click_map"), reads.pop("scroll_map"), reads.pop("scroll_map_ragged"))
    assert "alpha" not in repr(reads)
    assert "bravo" not in repr(reads)
    assert (maps[0].clicks, maps[0].selectors, maps[1].pageviews) == (0, (), 0)
    assert reads["count"] == 0
    assert reads["activity"] == api.Activity(None, None, 0)
    assert reads["overview"].pageviews == 0
    assert reads["top_pages"] == reads["referrers"] == reads["export"] == ()


def test_known_ids_are_per_tenant(tenants: dict[int, list[EventRow]]) -> None:
    ids_a = [r.event_id for r in tenants[A.tenant_id]]
    ids_b = [r.event_id for r in tenants[B.tenant_id]]
    assert api.existing_event_ids(A, ids_a + ids_b) == set(ids_a)
    assert api.existing_event_ids(B, ids_a) == set()
    assert api.existing_event_ids(C, ids_a + ids_b) == set()


def test_every_executed_statement_is_bound_to_the_asking_tenant(
    tenants: dict[int, list[EventRow]], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = api._backend  # the probe wraps the executor on purpose
    assert backend is not None
    seen: list[ScopedStatement] = []
    real_select = backend.select

    def spy(stmt: ScopedStatement) -> list[list[Any]]:
        seen.append(stmt)
        return real_select(stmt)

    monkeypatch.setattr(backend, "select", spy)
    _all_reads(A, "/alpha")
    api.existing_event_ids(A, [uuid.uuid4()])
    assert len(seen) >= 15
    read = set()
    for stmt in seen:
        assert stmt.tenant_id == A.tenant_id
        assert stmt.params["tenant_id"] == A.tenant_id
        tables = re.findall(r"\bFROM (\w+)", stmt.sql)
        assert tables
        for table in tables:
            assert table in TABLES
            assert f"FROM {table} WHERE tenant_id = {{tenant_id:UInt64}}" in stmt.sql
        read.update(tables)
    # The dashboards read the roll-ups and entity states as well as the events.
    assert {"events", "sessions", "page_views", "clicks", "traffic_slots", "overview_slots"} <= read
