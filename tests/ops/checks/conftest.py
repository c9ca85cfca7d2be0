"""Fixtures for deployment checks: the shipped production configuration, materialised."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.checks.production import materialise


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    """The shipped production configuration, its files created under a private root."""
    return materialise(tmp_path / "root")
