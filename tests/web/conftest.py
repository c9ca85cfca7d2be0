"""Fixtures of the web app tests (defined in members.py, shared with tests/isolation)."""

from tests.web.members import members, owner_client

__all__ = ["members", "owner_client"]
