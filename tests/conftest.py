"""Suite-wide fixtures: a private data directory, the event store, and two tenants."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Settings are read once, when Django first imports them: point them at a private data
# directory before anything imports heliograph.web.settings.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="heliograph-test-"))
os.environ["HELIOGRAPH_DATA_DIR"] = str(_DATA_DIR)

import pytest  # noqa: E402
from django.conf import settings as _django_settings  # noqa: E402

from heliograph.core.config import Settings, load_settings  # noqa: E402

# pytest-django imports heliograph.web.settings before this file (in its
# pytest_load_initial_conftests hook), so Django's HELIOGRAPH was read without the line above,
# from ./heliograph-data: point it at the private directory too, or keys and secrets written
# through it (process_keyring(settings.HELIOGRAPH)) would outlive the run.
_django_settings.HELIOGRAPH = load_settings()


@pytest.fixture(scope="session")
def settings_obj() -> Settings:
    """The Settings of the test process (its data directory is private to this run)."""
    return load_settings()


@pytest.fixture(scope="session")
def event_store(settings_obj: Settings) -> Iterator[Settings]:
    """Open the process-wide event store once (chDB allows one data directory per process)."""
    from heliograph.store import api as store

    store.open_store(settings_obj)
    yield settings_obj
    store.close_store()


@dataclass(frozen=True)
class TwoSites:
    """Two tenants, each with one site; tests use both to prove isolation."""

    a: object
    b: object


@pytest.fixture
def two_sites(db: None) -> TwoSites:
    """Tenant A with site on a.example, tenant B with a site on b.example."""
    from heliograph.web.sites.services import site_create
    from heliograph.web.tenants.services import tenant_create

    tenant_a = tenant_create(name="Tenant A")
    tenant_b = tenant_create(name="Tenant B")
    return TwoSites(
        a=site_create(tenant=tenant_a, name="A site", domains=["a.example", "localhost"]),
        b=site_create(tenant=tenant_b, name="B site", domains=["b.example"]),
    )
