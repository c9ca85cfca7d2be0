"""`heliograph check` end to end: the shipped configuration, exit codes, text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heliograph import cli
from tests.ops.checks.production import SHIPPED, materialise

Capture = pytest.CaptureFixture[str]


def check(*args: str) -> int:
    return cli.main(["check", *args])


def test_the_shipped_production_configuration_passes(tmp_path: Path, capsys: Capture) -> None:
    root = tmp_path / "root"
    materialise(root)
    code = check("--env-file", str(SHIPPED), "--root", str(root), "--format", "json")
    report = json.loads(capsys.readouterr().out)
    failing = {c["id"]: c["message"] for c in report["checks"] if c["status"] != "pass"}
    assert failing == {}
    assert (code, report["ok"], report["environment"]) == (0, True, "production")


def test_an_insecure_production_configuration_fails_naming_the_check(
    tmp_path: Path, capsys: Capture
) -> None:
    root = tmp_path / "root"
    env = materialise(root)
    Path(env["HELIOGRAPH_TLS_KEY_FILE"]).chmod(0o644)
    assert check("--env-file", str(SHIPPED), "--root", str(root)) == 1
    out = capsys.readouterr().out
    assert "ERROR     HG-TLS-003" in out
    assert "fix: chmod 600 the key file" in out


def test_the_development_defaults_explain_without_blocking(tmp_path: Path, capsys: Capture) -> None:
    env_file = tmp_path / "dev.env"
    env_file.write_text(f"HELIOGRAPH_DATA_DIR={tmp_path / 'data'}\n")
    assert check("--env-file", str(env_file)) == 0
    out = capsys.readouterr().out
    assert "development configuration" in out
    assert "WARNING   HG-TLS-001" in out
    assert "ERROR" not in out
    assert check("--env-file", str(env_file), "--strict") == 1
    assert not (tmp_path / "data").exists()


def test_a_malformed_env_file_is_a_usage_error(tmp_path: Path, capsys: Capture) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text("HELIOGRAPH_ENV=production\nHELIOGRAPH_PORT 443\n")
    assert check("--env-file", str(env_file)) == 2
    assert f"{env_file}:2: expected NAME=VALUE" in capsys.readouterr().err


def test_an_unknown_silenced_id_is_a_usage_error(tmp_path: Path, capsys: Capture) -> None:
    env_file = tmp_path / "dev.env"
    env_file.write_text(f"HELIOGRAPH_DATA_DIR={tmp_path}\nHELIOGRAPH_CHECKS_SILENCED=HG-NOPE-001\n")
    assert check("--env-file", str(env_file)) == 2
    assert "unknown check ids: HG-NOPE-001" in capsys.readouterr().err
