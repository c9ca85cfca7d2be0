"""Durable whole-file replacement."""

from __future__ import annotations

from pathlib import Path

from heliograph.core.files import replace_durably


def test_replace_durably_swaps_the_whole_file_private(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old, and longer than the new content")
    replace_durably(path, b"new")
    assert path.read_bytes() == b"new"
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary left
