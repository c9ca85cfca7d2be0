"""Secrets by file: HELIOGRAPH_SECRET_KEY_FILE and HELIOGRAPH_SMTP_PASSWORD_FILE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from heliograph.core.config import load_settings
from heliograph.core.errors import ConfigError

SECRET = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"


def secret_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


def smtp_env(tmp_path: Path, password_file: Path) -> dict[str, str]:
    return {
        "HELIOGRAPH_DATA_DIR": str(tmp_path / "data"),
        "HELIOGRAPH_SECRET_KEY": SECRET,
        "HELIOGRAPH_SMTP_HOST": "smtp.example.com",
        "HELIOGRAPH_SMTP_USER": "heliograph@example.com",
        "HELIOGRAPH_SMTP_PASSWORD_FILE": str(password_file),
        "HELIOGRAPH_MAIL_FROM": "heliograph@example.com",
    }


def test_the_secret_key_is_read_from_its_file_without_the_newline(tmp_path: Path) -> None:
    path = secret_file(tmp_path, SECRET + "\n")
    settings = load_settings(
        {"HELIOGRAPH_DATA_DIR": str(tmp_path), "HELIOGRAPH_SECRET_KEY_FILE": str(path)}
    )
    assert settings.secret_key == SECRET
    assert not (tmp_path / "secret_key").exists()  # nothing generated


def test_the_smtp_password_is_read_from_its_file(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "p@ss word\r\n")
    assert load_settings(smtp_env(tmp_path, path)).smtp.password == "p@ss word"


def test_production_accepts_the_secret_key_file(tmp_path: Path) -> None:
    env = {
        "HELIOGRAPH_ENV": "production",
        "HELIOGRAPH_DATA_DIR": str(tmp_path),
        "HELIOGRAPH_SECRET_KEY_FILE": str(secret_file(tmp_path, SECRET)),
        "HELIOGRAPH_KEK_FILE": str(tmp_path / "kek.json"),
    }
    assert load_settings(env).secret_key == SECRET


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = secret_file(tmp_path, "a password", mode)
    with pytest.raises(ConfigError, match=r"must not be readable by group or others \(chmod 600"):
        load_settings(smtp_env(tmp_path, path))


def test_a_missing_or_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(smtp_env(tmp_path, tmp_path / "absent"))
    with pytest.raises(ConfigError, match="is empty"):
        load_settings(smtp_env(tmp_path, secret_file(tmp_path, "\n")))


def test_inline_and_file_together_are_refused(tmp_path: Path) -> None:
    env = {
        "HELIOGRAPH_DATA_DIR": str(tmp_path),
        "HELIOGRAPH_SECRET_KEY": SECRET,
        "HELIOGRAPH_SECRET_KEY_FILE": str(secret_file(tmp_path, SECRET)),
    }
    with pytest.raises(ConfigError, match="set only one of HELIOGRAPH_SECRET_KEY and"):
        load_settings(env)


def test_a_short_secret_in_a_file_is_refused_like_an_inline_one(tmp_path: Path) -> None:
    env = {
        "HELIOGRAPH_DATA_DIR": str(tmp_path),
        "HELIOGRAPH_SECRET_KEY_FILE": str(secret_file(tmp_path, "short")),
    }
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_settings(env)
