"""Fixtures of the API tests (``members`` comes from tests/web/conftest.py)."""

from __future__ import annotations

import pytest

from heliograph.web.audit import log


@pytest.fixture(autouse=True)
def security_log() -> None:
    """Record security events in the database, as the running web app does."""
    log.install()
