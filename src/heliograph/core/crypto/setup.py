"""Build the process's keyring from Settings."""

from __future__ import annotations

import base64
import binascii

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
    return Keyring(settings.keyring_path, load_keks(settings))
