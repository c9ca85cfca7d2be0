"""The embedded event store's files, encrypted with AES-256 on a ClickHouse encrypted disk.

chDB runs ClickHouse's storage engine in this process and accepts a server configuration file,
so the same ``encrypted`` disk type a ClickHouse server offers is available here: every file
of every MergeTree table (column data, marks, indexes, checksums, part metadata) is written
through AES-256-CTR with a random IV per file. The configuration overrides the ``default``
storage policy, so every table, materialized view target and future migration lands on the
encrypted disk without naming it. Only table definitions (DDL, no customer data) stay in clear
under ``metadata/``.

Keys: the disk keys are derived (HKDF-SHA-256, ``Keyring.derived_keys``) from the platform's
data keys in the keyring, which the key encryption key wraps; the configuration file names
environment variables only, which this process sets before it opens the store, so no key is
ever written to disk. Every live platform data key gives one disk key: files written under an
older key stay readable, new files use the active one, and ``reencrypt_store`` (OPTIMIZE ...
FINAL) rewrites every part under the active key so the old one can be retired.

ClickHouse's encrypted disk offers CTR modes only (no authentication tag); integrity of parts
rests on ClickHouse's own checksums, which detect corruption but are not a MAC. This is the
documented trade-off for the store (docs/security/encryption.md); every other file Heliograph
writes is AES-256-GCM.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

ENCRYPTED_DIR = "encrypted-disk"
CONFIG_FILE = "chdb-config.xml"
STORE_KEY_LABEL = "event store disk"
_ENV_PREFIX = "HELIOGRAPH_STORE_DISK_KEY_"
_HEADER_MAGIC = b"ENC"
_HEADER_BYTES = 64


class LegacyStoreError(RuntimeError):
    """A store made before encryption at rest: it is refused rather than served in clear."""


@dataclass(frozen=True, slots=True)
class DiskKey:
    """One AES-256 key of the encrypted disk, named by a stable number."""

    disk_id: int
    current: bool
    secret: bytes = field(repr=False)

    @staticmethod
    def id_for(key_id: str) -> int:
        """Return the disk's number for a keyring data key id (stable, 32 bits)."""
        return int.from_bytes(hashlib.sha256(key_id.encode()).digest()[:4], "big")


def prepare(store_dir: Path, keys: list[DiskKey]) -> Path:
    """Write the chDB configuration for ``keys``, export the keys to this process's
    environment, and return the configuration file's path."""
    if not keys or sum(key.current for key in keys) != 1:
        raise ValueError("the encrypted disk needs its keys with exactly one current")
    store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    encrypted = store_dir / ENCRYPTED_DIR
    if (store_dir / "metadata").is_dir() and not encrypted.is_dir():
        raise LegacyStoreError(
            f"the event store at {store_dir} was created before encryption at rest and holds "
            "plaintext; move it aside and reload its data (docs/security/encryption.md)"
        )
    encrypted.mkdir(exist_ok=True, mode=0o700)
    for key in keys:
        os.environ[f"{_ENV_PREFIX}{key.disk_id}"] = key.secret.hex()
    current = next(key for key in keys if key.current)
    key_lines = "\n".join(
        f'        <key_hex id="{key.disk_id}" from_env="{_ENV_PREFIX}{key.disk_id}"></key_hex>'
        for key in keys
    )
    config = f"""<clickhouse>
  <storage_configuration>
    <disks>
      <store_files>
        <type>local</type>
        <path>{escape(str(encrypted))}/</path>
      </store_files>
      <encrypted>
        <type>encrypted</type>
        <disk>store_files</disk>
        <path>aes256/</path>
        <algorithm>AES_256_CTR</algorithm>
{key_lines}
        <current_key_id>{current.disk_id}</current_key_id>
      </encrypted>
    </disks>
    <policies>
      <default>
        <volumes><main><disk>encrypted</disk></main></volumes>
      </default>
    </policies>
  </storage_configuration>
</clickhouse>
"""
    path = store_dir / CONFIG_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(config, encoding="utf-8")
    temporary.chmod(0o600)
    os.replace(temporary, path)
    return path


def forget(keys: list[DiskKey]) -> None:
    """Remove the keys from this process's environment (after the store is closed)."""
    for key in keys:
        os.environ.pop(f"{_ENV_PREFIX}{key.disk_id}", None)


def file_fingerprints(store_dir: Path) -> Counter[str]:
    """Count the encrypted disk's files by the key fingerprint in their header.

    ClickHouse writes a 64-byte header on every encrypted file: ``ENC``, version, algorithm,
    a 128-bit fingerprint of the key, the IV. One fingerprint means every file is under one
    key; a file without the header would be a plaintext file and is counted as ``"plain"``.

    A running store creates and removes part directories (``tmp_insert_*``, merges) while
    this walks; a file or directory that vanishes under the walk is skipped, not an error.
    """
    counts: Counter[str] = Counter()
    root = store_dir / ENCRYPTED_DIR
    for directory, _dirs, names in os.walk(root):  # scandir errors on vanished dirs are ignored
        for name in names:
            header = _read_header(Path(directory) / name)
            if header is not None:
                _count_header(counts, header)
    return counts


def _read_header(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEADER_BYTES)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _count_header(counts: Counter[str], header: bytes) -> None:
    if not header:
        counts["empty"] += 1
    elif header[:3] != _HEADER_MAGIC or len(header) < 23:
        counts["plain"] += 1
    else:
        counts[header[7:23].hex()] += 1
