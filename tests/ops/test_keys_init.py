"""``heliograph keys init``: a new KEK file, owner-only, never over an existing one."""

from __future__ import annotations

from pathlib import Path

import pytest

from heliograph.cli import main
from heliograph.core.crypto.kek import load_kek_file


def test_init_writes_an_owner_only_key_file_and_never_overwrites_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "etc" / "kek.json"
    assert main(["keys", "init", "--file", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_bytes()
    assert load_kek_file(path).current.key_id == "kek-1"
    assert main(["keys", "init", "--file", str(path)]) == 2
    assert "exists" in capsys.readouterr().err
    assert path.read_bytes() == before
