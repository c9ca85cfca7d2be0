"""Env files are read strictly; a malformed line is refused with its number."""

from __future__ import annotations

from pathlib import Path

import pytest

from heliograph.ops.checks.envfile import EnvFileError, parse_env_file, rebase_paths


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "heliograph.env"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_names_values_comments_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# a comment\n\nHELIOGRAPH_ENV=production\n  # indented comment\n"
        "HELIOGRAPH_TRUSTED_PROXIES=\nDATABASE_URL=postgres://h@db/h?a=b#c\n",
    )
    assert parse_env_file(path) == {
        "HELIOGRAPH_ENV": "production",
        "HELIOGRAPH_TRUSTED_PROXIES": "",
        "DATABASE_URL": "postgres://h@db/h?a=b#c",
    }


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("HELIOGRAPH_ENV production", "expected NAME=VALUE"),
        ("HELIOGRAPH_ENV = production", "not a variable name"),
        ("export HELIOGRAPH_ENV=production", "drop 'export'"),
        ("1ABC=x", "not a variable name"),
        ('HELIOGRAPH_PUBLIC_URL="https://a.example"', "quoted"),
        ("HELIOGRAPH_ENV=production # on servers", "inline comment"),
        ("HELIOGRAPH_ENV=production ", "blanks or a carriage return"),
        ("HELIOGRAPH_ENV=production\r", "blanks or a carriage return"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number(
    tmp_path: Path, line: str, complaint: str
) -> None:
    path = write(tmp_path, f"# header\nHELIOGRAPH_PORT=443\n{line}\n")
    with pytest.raises(EnvFileError) as refused:
        parse_env_file(path)
    assert f"{path}:3:" in str(refused.value)
    assert complaint in str(refused.value)


def test_a_variable_set_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "HELIOGRAPH_PORT=443\n\nHELIOGRAPH_PORT=8443\n")
    with pytest.raises(EnvFileError, match=r":3: HELIOGRAPH_PORT is set again \(first on line 1"):
        parse_env_file(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="no such env file"):
        parse_env_file(tmp_path / "absent.env")


def test_rebase_moves_absolute_paths_only(tmp_path: Path) -> None:
    env = {
        "HELIOGRAPH_DATA_DIR": "/var/lib/heliograph",
        "HELIOGRAPH_KEK_FILE": "/etc/heliograph/keys/kek.json",
        "HELIOGRAPH_TLS_CERT_FILE": "relative/cert.pem",
        "HELIOGRAPH_PUBLIC_URL": "https://a.example/path",
    }
    assert rebase_paths(env, tmp_path) == {
        "HELIOGRAPH_DATA_DIR": f"{tmp_path}/var/lib/heliograph",
        "HELIOGRAPH_KEK_FILE": f"{tmp_path}/etc/heliograph/keys/kek.json",
        "HELIOGRAPH_TLS_CERT_FILE": "relative/cert.pem",
        "HELIOGRAPH_PUBLIC_URL": "https://a.example/path",
    }
