"""Raw-event exports of one tenant, written AES-256-GCM encrypted under the tenant's data key.

An export file never holds plaintext: ``HGX1`` and the export id, then frames of
``u32 length | ciphertext``. Each frame is a gzip'd slice of NDJSON (one event per line), sealed
by the keyring for the tenant with associated data naming the export, the frame's index and
whether it is the last frame; frame 0 carries the export's description. So a frame moved to
another export or position, a file cut short, or a file of another tenant fails to open, and
destroying the tenant's data keys (tenant deletion) makes every export of it unreadable
wherever copies went (crypto-shredding).
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import msgspec

from heliograph.core.config import Settings
from heliograph.core.crypto.aead import DecryptionError
from heliograph.core.crypto.keyring import Keyring, key_id_of
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.errors import NotFound
from heliograph.core.tenancy import TenantScope, require_scope
from heliograph.store import api as store

MAGIC = b"HGX1"
_LENGTH = struct.Struct("<I")
_ID = re.compile(r"[0-9a-f]{32}")
FRAME_EVENTS = 5_000
_MAX_FRAME = 64 * 1024 * 1024


class ExportUnreadable(DecryptionError):
    """An export file was altered, cut short, or its tenant's keys are gone."""


class ExportInfo(msgspec.Struct, frozen=True):
    """What an export holds (frame 0 of the file, encrypted like the rest)."""

    export_id: str
    tenant_id: int
    site_id: int | None
    created: datetime
    events: int = 0


@dataclass(frozen=True, slots=True)
class _Frame:
    index: int
    last: bool


_encode = msgspec.json.Encoder().encode
_info_decoder = msgspec.json.Decoder(ExportInfo)


def exports_dir(settings: Settings, tenant_id: int) -> Path:
    return settings.data_dir / "exports" / str(int(tenant_id))


def _purpose(export_id: str, frame: _Frame) -> str:
    return f"export|{export_id}|{frame.index}|{int(frame.last)}"


def _check_id(export_id: str) -> str:
    if not _ID.fullmatch(export_id):
        raise NotFound("no such export")
    return export_id


def create_export(
    settings: Settings, scope: TenantScope, *, site_id: int | None = None
) -> ExportInfo:
    """Write every stored event of the tenant (or of one site) to a new encrypted export."""
    scope = require_scope(scope)
    keyring = process_keyring(settings)
    export_id = secrets.token_hex(16)
    directory = exports_dir(settings, scope.tenant_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = directory / f"{export_id}.hgx"
    partial = directory / f".{export_id}.partial"
    created = datetime.now(UTC)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    events = 0
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC + export_id.encode())
            # Frame 0 is written last-but-known: count first, so the description is exact.
            frames: list[bytes] = []
            lines: list[bytes] = []
            for row in store.export_events(scope, site_id=site_id):
                lines.append(_encode(row))
                events += 1
                if len(lines) == FRAME_EVENTS:
                    frames.append(gzip.compress(b"\n".join(lines) + b"\n", 6, mtime=0))
                    lines = []
            if lines:
                frames.append(gzip.compress(b"\n".join(lines) + b"\n", 6, mtime=0))
            info = ExportInfo(export_id, scope.tenant_id, site_id, created, events)
            _write_frames(out, keyring, scope, export_id, [_encode(info), *frames])
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return info


def _write_frames(
    out: BinaryIO, keyring: Keyring, scope: TenantScope, export_id: str, payloads: list[bytes]
) -> None:
    """Seal and write the frames after the file's head, then make them durable."""
    for index, payload in enumerate(payloads):
        frame = _Frame(index, index == len(payloads) - 1)
        sealed = keyring.encrypt(scope.tenant_id, _purpose(export_id, frame), payload)
        out.write(_LENGTH.pack(len(sealed)) + sealed)
    out.flush()
    os.fsync(out.fileno())


def _frames(path: Path, export_id: str) -> Iterator[tuple[int, bytes, bool]]:
    data = path.read_bytes()
    head = MAGIC + export_id.encode()
    if not data.startswith(head):
        raise ExportUnreadable("not a Heliograph export, or another export's file")
    offset, index = len(head), 0
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise ExportUnreadable("export is cut short")
        (length,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if length > _MAX_FRAME or start + length > len(data):
            raise ExportUnreadable("export is cut short")
        offset = start + length
        yield index, data[start:offset], offset == len(data)
        index += 1


def _open_frames(
    keyring: Keyring, scope: TenantScope, export_id: str, path: Path
) -> Iterator[bytes]:
    seen_last = False
    for index, sealed, last in _frames(path, export_id):
        try:
            yield keyring.decrypt(scope.tenant_id, _purpose(export_id, _Frame(index, last)), sealed)
        except DecryptionError as error:
            raise ExportUnreadable(f"frame {index} of export {export_id}: {error}") from error
        seen_last = last
    if not seen_last:
        raise ExportUnreadable("export is empty")


def _path(settings: Settings, scope: TenantScope, export_id: str) -> Path:
    path = exports_dir(settings, scope.tenant_id) / f"{_check_id(export_id)}.hgx"
    if not path.is_file():
        raise NotFound("no such export")
    return path


def export_info(settings: Settings, scope: TenantScope, export_id: str) -> ExportInfo:
    """Describe one export of the tenant (NotFound if it has none of that id)."""
    scope = require_scope(scope)
    path = _path(settings, scope, export_id)
    frames = _open_frames(process_keyring(settings), scope, export_id, path)
    return _info_decoder.decode(next(frames))


def read_export(settings: Settings, scope: TenantScope, export_id: str) -> Iterator[bytes]:
    """Yield the export's NDJSON in pieces, after checking every frame decrypts in order."""
    scope = require_scope(scope)
    path = _path(settings, scope, export_id)
    frames = _open_frames(process_keyring(settings), scope, export_id, path)
    next(frames)  # the description
    for payload in frames:
        yield gzip.decompress(payload)


def list_exports(settings: Settings, scope: TenantScope) -> list[ExportInfo]:
    """Return the tenant's exports, newest first (unreadable files are skipped)."""
    scope = require_scope(scope)
    found = []
    for path in exports_dir(settings, scope.tenant_id).glob("*.hgx"):
        try:
            found.append(export_info(settings, scope, path.stem))
        except (ExportUnreadable, NotFound):
            continue
    return sorted(found, key=lambda info: info.created, reverse=True)


def export_key_ids(settings: Settings, tenant_id: int) -> dict[str, int]:
    """Count the tenant's export frames by the data key that sealed them (for retirement)."""
    counts: dict[str, int] = {}
    for path in exports_dir(settings, tenant_id).glob("*.hgx"):
        try:
            for _, sealed, _ in _frames(path, path.stem):
                key_id = key_id_of(sealed)
                counts[key_id] = counts.get(key_id, 0) + 1
        except (ExportUnreadable, DecryptionError):
            counts["unreadable"] = counts.get("unreadable", 0) + 1
    return counts


def reencrypt_exports(settings: Settings, scope: TenantScope) -> int:
    """Rewrite every export of the tenant under its active data key; return how many.

    Each file is decrypted and written again to a temporary file that replaces it atomically.
    """
    scope = require_scope(scope)
    keyring = process_keyring(settings)
    done = 0
    for path in sorted(exports_dir(settings, scope.tenant_id).glob("*.hgx")):
        export_id = path.stem
        payloads = list(_open_frames(keyring, scope, export_id, path))
        temporary = path.with_name(f".{export_id}.rewrap")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC + export_id.encode())
            _write_frames(out, keyring, scope, export_id, payloads)
        os.replace(temporary, path)
        done += 1
    return done


__all__ = [
    "ExportInfo",
    "ExportUnreadable",
    "create_export",
    "export_info",
    "export_key_ids",
    "list_exports",
    "read_export",
    "reencrypt_exports",
]
