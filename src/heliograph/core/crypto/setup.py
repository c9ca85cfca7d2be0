"""Build the process's keyring from Settings."""

from __future__ import annotations

import base64
import binascii
import threading
from pathlib import Path

from heliograph.core.config import Settings
from heliograph.core.crypto.kek import KekSet, LocalKek, create_kek_file, load_kek_file
from heliograph.core.crypto.keyring import Keyring
from heliograph.core.errors import ConfigError


def load_keks(settings: Settings) -> KekSet:
    """Return the configured key encryption keys (embedded default: create a key file)."""
    if settings.kek_env:
        try:
            secret = base64.b64decode(settings.kek_env, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("HELIOGRAPH_KEK must be 32 bytes in base64") from None
        return KekSet(LocalKek("env", secret))
    if settings.kek_file is not None:
        return load_kek_file(settings.kek_file)
    path = settings.default_kek_file
    return load_kek_file(path) if path.exists() else create_kek_file(path)


def open_keyring(settings: Settings) -> Keyring:
    """Open the data-key store of this data directory."""
    return Keyring(settings.keyring_path, load_keks(settings), lambda: load_keks(settings))


_PROCESS_KEYRINGS: dict[Path, Keyring] = {}
_PROCESS_LOCK = threading.Lock()


def process_keyring(settings: Settings) -> Keyring:
    """Return this process's keyring for the settings' data directory (opened once).

    Everything in one process (collector, loader, web app, CLI) shares one Keyring object, so a
    rotation made through it is seen by all of them at once.
    """
    path = settings.keyring_path
    with _PROCESS_LOCK:
        keyring = _PROCESS_KEYRINGS.get(path)
        if keyring is None:
            keyring = _PROCESS_KEYRINGS[path] = open_keyring(settings)
        return keyring
