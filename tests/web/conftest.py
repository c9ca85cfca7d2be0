"""Fixtures of the web app tests (defined in members.py, shared with tests/isolation)."""

from pathlib import Path

import pytest

from tests.web.members import members, owner_client

__all__ = ["members", "own_security_log_head", "owner_client"]


@pytest.fixture(autouse=True)
def own_security_log_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps the security log's head record in a file of its own: the database is
    rolled back or flushed between tests, and a head left by another test would not match it."""
    path = tmp_path / "security-log.head"
    monkeypatch.setattr("heliograph.web.audit.head.head_path", lambda: path)
    return path
