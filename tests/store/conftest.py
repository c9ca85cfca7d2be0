"""Store fixtures: one chDB store per test process, fresh tenants per test, event factories.

chDB opens one data directory per process, so the store is opened once for the session (or
reused if another test module already opened it) and every test takes tenant ids of its own.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from heliograph.core.config import Settings
from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope
from heliograph.store import api

T0 = datetime(2026, 1, 5, tzinfo=UTC)
_tenant_ids = itertools.count(1000)

EventFactory = Callable[..., EventRow]


def event(**fields: Any) -> EventRow:
    """Return a page view of site 1 at T0 unless ``fields`` say otherwise."""
    defaults: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "site_id": 1,
        "ts": T0,
        "type": "pageview",
        "session_id": "s",
        "visitor_id": "v",
        "pageview_id": "p",
        "path": "/",
    }
    defaults.update(fields)
    defaults.setdefault("received", defaults["ts"])
    defaults.setdefault("url", "https://shop.example" + defaults["path"])
    return EventRow(**defaults)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Open the process-wide store in a temporary directory for the whole session."""
    if api.store_ready():  # another module opened it: share it, tenants keep tests apart
        yield Path(api._opened).parent  # store_dir is data_dir / "events"
        return
    data_dir = tmp_path_factory.mktemp("heliograph")
    api.open_store(Settings(data_dir=data_dir))
    yield data_dir
    api.close_store()


@pytest.fixture
def new_scope(store: Path) -> Callable[[], TenantScope]:
    """Return a factory of tenant scopes no other test uses."""
    return lambda: TenantScope(next(_tenant_ids))


@pytest.fixture
def two_tenants(new_scope: Callable[[], TenantScope]) -> tuple[TenantScope, TenantScope]:
    """Two fresh tenants, each with data on site 1 (fixtures always make two tenants)."""
    a, b = new_scope(), new_scope()
    api.write_events(a, [event(path="/a-only", visitor_id="va")])
    api.write_events(b, [event(path="/b-only", visitor_id="vb")])
    return a, b
