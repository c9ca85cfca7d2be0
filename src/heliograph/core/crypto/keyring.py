"""Per-tenant data keys, wrapped by the key encryption key, kept in one key store file.

Every ciphertext names the data key that made it and is bound (AES-GCM associated data) to its
tenant and purpose, so a ciphertext copied to another tenant or field does not decrypt.
Destroying a tenant's data keys makes everything encrypted under them unreadable, wherever the
copies are: spool, store, exports, backups (crypto-shredding).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from heliograph.core.crypto.aead import DecryptionError, new_key, seal, unseal
from heliograph.core.crypto.kek import KekSet
from heliograph.core.files import replace_durably

MAGIC = b"HGE1"
# How long the active data key of a tenant is reused before the key file is checked again for
# another process's rotation or shredding.
ACTIVE_RECHECK_SECONDS = 1.0
PLATFORM = 0  # the tenant id of platform secrets (SMTP, webhooks): not any customer's
KeyState = Literal["active", "decrypt-only"]
Doc = dict[str, Any]  # the key store's JSON document and its entries


class KeyDestroyed(DecryptionError):
    """The tenant's data keys were destroyed: its data is unreadable by design."""


@dataclass(frozen=True, slots=True)
class DerivedKey:
    """A key derived from one data key for one use (see Keyring.derived_keys)."""

    key_id: str
    active: bool
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DataKeyInfo:
    """What the key store says about one data key (never the key itself)."""

    key_id: str
    tenant_id: int
    kek_id: str
    created: str
    state: KeyState


def _context(tenant_id: int, key_id: str) -> bytes:
    return f"tenant={tenant_id}|key={key_id}".encode()


@lru_cache(maxsize=4096)
def _header(key_id: str) -> bytes:
    return MAGIC + struct.pack("B", len(key_id)) + key_id.encode("ascii")


@lru_cache(maxsize=4096)
def _associated(tenant_id: int, purpose: str, key_id: str) -> bytes:
    return b"|".join((MAGIC, str(tenant_id).encode(), purpose.encode(), key_id.encode()))


def key_id_of(blob: bytes) -> str:
    """Return the data key id a ciphertext names (raises DecryptionError if it names none)."""
    if len(blob) < 5 or blob[:4] != MAGIC:
        raise DecryptionError("not a Heliograph ciphertext")
    length = blob[4]
    return blob[5 : 5 + length].decode("ascii", errors="replace")


class Keyring:
    """Encrypt and decrypt per tenant and purpose; rotate, retire and destroy data keys."""

    def __init__(
        self, path: Path, keks: KekSet, reload_keks: Callable[[], KekSet] | None = None
    ) -> None:
        self.path = path
        self.keks = keks
        # Re-reads the key encryption keys: another process may rotate them while this one
        # runs (heliograph keys rotate --kek), and then data keys arrive wrapped by a new one.
        self._reload_keks = reload_keks
        self._lock = threading.RLock()
        self._plain: dict[str, bytes] = {}
        self._doc: dict[str, Doc] = {}
        self._mtime = -1
        self._active_cache: dict[int, tuple[float, str, bytes]] = {}
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._reload()

    # -- encryption ----------------------------------------------------------------------

    def encrypt(self, tenant_id: int, purpose: str, plaintext: bytes) -> bytes:
        """Encrypt under the tenant's active data key (created on first use)."""
        key_id, key = self._active(tenant_id)
        return _header(key_id) + seal(key, plaintext, _associated(tenant_id, purpose, key_id))

    def decrypt(self, tenant_id: int, purpose: str, blob: bytes) -> bytes:
        """Decrypt a ciphertext made by :meth:`encrypt` for the same tenant and purpose."""
        key_id = key_id_of(blob)
        key = self._key(tenant_id, key_id)
        body = blob[5 + len(key_id) :]
        return unseal(key, body, _associated(tenant_id, purpose, key_id))

    def derived_keys(self, tenant_id: int, label: str) -> list[DerivedKey]:
        """Return one key per live data key of a tenant, derived for ``label`` (HKDF-SHA-256).

        For encryption done outside this module (the event store's encrypted disk): the data
        key itself is never handed out, and a derived key is useless for anything but
        ``label``. The active data key is created on first use; the list is oldest first.
        """
        self._active(tenant_id)
        with self._lock:
            self._reload()
            derived = []
            for entry in self._section("tenants").get(str(tenant_id), []):
                plain = self._plain_key(tenant_id, entry)
                hkdf = HKDF(
                    algorithm=hashes.SHA256(),
                    length=32,
                    salt=None,
                    info=b"|".join((MAGIC, str(tenant_id).encode(), label.encode())),
                )
                derived.append(
                    DerivedKey(str(entry["id"]), entry["state"] == "active", hkdf.derive(plain))
                )
            return derived

    # -- lifecycle -----------------------------------------------------------------------

    def rotate_tenant_key(self, tenant_id: int) -> str:
        """Make a new active data key; the old one stays for decryption until retired."""
        with self._editing() as doc:
            keys = self._tenant_keys(doc, tenant_id)
            for entry in keys:
                entry["state"] = "decrypt-only"
            key_id = self._new_entry(doc, keys, tenant_id)
        return key_id

    def retire_tenant_key(self, tenant_id: int, key_id: str) -> None:
        """Forget a decrypt-only data key once nothing is encrypted under it any more."""
        with self._editing() as doc:
            keys = self._tenant_keys(doc, tenant_id)
            entry = next((k for k in keys if k["id"] == key_id), None)
            if entry is None:
                raise KeyError(f"tenant {tenant_id} has no data key {key_id}")
            if entry["state"] == "active":
                raise ValueError("the active data key cannot be retired; rotate first")
            keys.remove(entry)
        self._plain.pop(key_id, None)

    def rewrap_all(self) -> int:
        """Re-wrap every data key under the current key encryption key; return how many."""
        count = 0
        with self._editing() as doc:
            for tenant, keys in self._all_keys(doc):
                for entry in keys:
                    if entry["kek"] != self.keks.current.key_id:
                        plain = self._unwrap(int(tenant), entry)
                        entry["wrapped"] = self._wrap(int(tenant), str(entry["id"]), plain)
                        entry["kek"] = self.keks.current.key_id
                        count += 1
        return count

    def destroy_tenant(self, tenant_id: int) -> int:
        """Destroy every data key of a tenant (crypto-shredding); return how many."""
        with self._editing() as doc:
            keys = self._tenant_keys(doc, tenant_id)
            destroyed = [str(entry["id"]) for entry in keys]
            keys.clear()
            doc.setdefault("shredded", {})[str(tenant_id)] = datetime.now(UTC).isoformat(
                timespec="seconds"
            )
        for key_id in destroyed:
            self._plain.pop(key_id, None)
        return len(destroyed)

    def is_shredded(self, tenant_id: int) -> bool:
        with self._lock:
            self._reload()
            return str(tenant_id) in self._section("shredded")

    def status(self) -> list[DataKeyInfo]:
        """Describe every data key."""
        with self._lock:
            self._reload()
            return [
                DataKeyInfo(str(e["id"]), int(t), str(e["kek"]), str(e["created"]), e["state"])
                for t, keys in self._all_keys(self._doc)
                for e in keys
            ]

    def verify(self) -> list[str]:
        """Unwrap every data key; return a problem description for each one that fails."""
        problems = []
        with self._lock:
            self._reload()
            for tenant, keys in self._all_keys(self._doc):
                for entry in keys:
                    try:
                        self._unwrap(int(tenant), entry)
                    except (DecryptionError, LookupError) as error:
                        problems.append(f"data key {entry['id']} of tenant {tenant}: {error}")
        return problems

    # -- internals -----------------------------------------------------------------------

    def _active(self, tenant_id: int) -> tuple[str, bytes]:
        # Hot path (every spool record): reuse the answer for a moment instead of stat-ing the
        # key file per call. Changes made in this process clear the cache at once; another
        # process's rotation or shredding is seen within ACTIVE_RECHECK_SECONDS.
        cached = self._active_cache.get(tenant_id)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1], cached[2]
        key_id, key = self._find_active(tenant_id)
        self._active_cache[tenant_id] = (time.monotonic() + ACTIVE_RECHECK_SECONDS, key_id, key)
        return key_id, key

    def _find_active(self, tenant_id: int) -> tuple[str, bytes]:
        with self._lock:
            self._reload()
            for entry in self._section("tenants").get(str(tenant_id), []):
                if entry["state"] == "active":
                    return str(entry["id"]), self._plain_key(tenant_id, entry)
            if str(tenant_id) in self._section("shredded"):
                raise KeyDestroyed(f"tenant {tenant_id} was deleted; its keys are destroyed")
        with self._editing() as doc:
            if str(tenant_id) in doc.get("shredded", {}):
                raise KeyDestroyed(f"tenant {tenant_id} was deleted; its keys are destroyed")
            keys = self._tenant_keys(doc, tenant_id)
            active = [k for k in keys if k["state"] == "active"]
            key_id = str(active[0]["id"]) if active else self._new_entry(doc, keys, tenant_id)
        return key_id, self._key(tenant_id, key_id)

    def _key(self, tenant_id: int, key_id: str) -> bytes:
        with self._lock:
            cached = self._plain.get(key_id)
            if cached is not None:
                return cached
            self._reload()
            for entry in self._section("tenants").get(str(tenant_id), []):
                if entry["id"] == key_id:
                    return self._plain_key(tenant_id, entry)
            if str(tenant_id) in self._section("shredded"):
                raise KeyDestroyed(f"tenant {tenant_id} was deleted; its keys are destroyed")
            raise DecryptionError(f"no data key {key_id} for tenant {tenant_id}")

    def _plain_key(self, tenant_id: int, entry: Doc) -> bytes:
        key_id = str(entry["id"])
        if key_id not in self._plain:
            self._plain[key_id] = self._unwrap(tenant_id, entry)
        return self._plain[key_id]

    def _wrap(self, tenant_id: int, key_id: str, plain: bytes) -> str:
        wrapped = self.keks.current.wrap(plain, _context(tenant_id, key_id))
        return base64.b64encode(wrapped).decode()

    def refresh_keks(self) -> None:
        """Load the key encryption keys again from where they are configured."""
        if self._reload_keks is not None:
            self.keks = self._reload_keks()

    def _unwrap(self, tenant_id: int, entry: Doc) -> bytes:
        kek = self.keks.by_id(str(entry["kek"]))
        if kek is None:
            self.refresh_keks()
            kek = self.keks.by_id(str(entry["kek"]))
        if kek is None:
            raise LookupError(f"key encryption key {entry['kek']} is not configured")
        wrapped = base64.b64decode(str(entry["wrapped"]))
        return kek.unwrap(wrapped, _context(tenant_id, str(entry["id"])))

    def _new_entry(self, doc: Doc, keys: list[Doc], tenant_id: int) -> str:
        counter = int(doc.get("counter", 0))
        doc["counter"] = counter + 1
        key_id = f"t{tenant_id}-k{counter + 1}"
        keys.append(
            {
                "id": key_id,
                "kek": self.keks.current.key_id,
                "state": "active",
                "wrapped": self._wrap(tenant_id, key_id, new_key()),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        return key_id

    def _section(self, name: str) -> Doc:
        section: Doc = self._doc.get(name, {})
        return section

    @staticmethod
    def _tenant_keys(doc: Doc, tenant_id: int) -> list[Doc]:
        keys: list[Doc] = doc.setdefault("tenants", {}).setdefault(str(tenant_id), [])
        return keys

    @staticmethod
    def _all_keys(doc: Doc) -> list[tuple[str, list[Doc]]]:
        return list(doc.get("tenants", {}).items())

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._doc, self._mtime = {}, -1
            return
        if mtime != self._mtime:
            self._doc = json.loads(self.path.read_text(encoding="utf-8"))
            self._mtime = mtime

    @contextlib.contextmanager
    def _editing(self) -> Iterator[Doc]:
        """Lock the key store across processes, hand out its document, write it back durably."""
        lock_path = self.path.with_suffix(".lock")
        with self._lock:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self.refresh_keks()  # wrap new data keys under the newest current KEK
                self._active_cache.clear()
                self._mtime = -1
                self._reload()
                doc = json.loads(json.dumps(self._doc))  # edit a copy; publish atomically
                yield doc
                self._write(doc)
                self._doc = doc
                self._mtime = self.path.stat().st_mtime_ns
                self._active_cache.clear()
            finally:
                os.close(fd)

    def _write(self, doc: Doc) -> None:
        replace_durably(self.path, json.dumps(doc, indent=1, sort_keys=True).encode())
