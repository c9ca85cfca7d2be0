"""Key encryption keys: local (key file or environment) behind an interface a KMS can fill.

A KMS adapter (Vault transit, AWS KMS) implements :class:`KeyEncryptionKey` by sending the data
key to the KMS to wrap and unwrap it; the root key then never leaves the KMS.
"""

from __future__ import annotations

import base64
import binascii
import json
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from heliograph.core.crypto.aead import KEY_BYTES, new_key, seal, unseal
from heliograph.core.errors import ConfigError
from heliograph.core.files import replace_durably


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys; ``key_id`` names it inside every wrapped key."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class LocalKek:
    """A 256-bit key held by this process (from a 0600 key file or an environment variable)."""

    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ConfigError(f"key encryption key {self.key_id!r} must be 32 bytes")

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        return seal(self.secret, data_key, self._associated(context))

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        return unseal(self.secret, wrapped, self._associated(context))

    def _associated(self, context: bytes) -> bytes:
        return b"heliograph-kek|" + self.key_id.encode() + b"|" + context

    def __repr__(self) -> str:  # never print the secret
        return f"LocalKek({self.key_id!r})"


@dataclass(frozen=True, slots=True)
class KekSet:
    """The current key encryption key and the older ones still needed to unwrap."""

    current: KeyEncryptionKey
    previous: tuple[KeyEncryptionKey, ...] = ()

    def by_id(self, key_id: str) -> KeyEncryptionKey | None:
        for kek in (self.current, *self.previous):
            if kek.key_id == key_id:
                return kek
        return None


def _decode_secret(name: str, raw: str) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} must be 32 bytes in base64") from None


def load_kek_file(path: Path) -> KekSet:
    """Read ``{"current": ID, "keys": {ID: base64}}`` from a file only its owner can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"key file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"key file {path} must not be readable by group or others (chmod 600)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        keys: Mapping[str, str] = document["keys"]
        current_id: str = document["current"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"key file {path} is not a Heliograph key file") from None
    kek = {kid: LocalKek(kid, _decode_secret(f"{path}:{kid}", raw)) for kid, raw in keys.items()}
    if current_id not in kek:
        raise ConfigError(f"key file {path} names current key {current_id!r} but does not hold it")
    return KekSet(kek[current_id], tuple(v for k, v in sorted(kek.items()) if k != current_id))


def write_kek_file(path: Path, current_id: str, keys: Mapping[str, bytes]) -> None:
    """Write a key file atomically with mode 0600."""
    document = {
        "current": current_id,
        "keys": {kid: base64.b64encode(secret).decode() for kid, secret in keys.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    replace_durably(path, json.dumps(document).encode())


def create_kek_file(path: Path) -> KekSet:
    """Create a key file with one fresh key (embedded defaults: first start)."""
    write_kek_file(path, "kek-1", {"kek-1": new_key()})
    return load_kek_file(path)


def read_key_file_secrets(path: Path) -> tuple[str, dict[str, bytes]]:
    """Return the current id and every secret of a key file (for rotation)."""
    kekset = load_kek_file(path)
    keys = {
        k.key_id: k.secret for k in (kekset.current, *kekset.previous) if isinstance(k, LocalKek)
    }
    return kekset.current.key_id, keys
