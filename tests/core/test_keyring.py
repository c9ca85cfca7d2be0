"""Envelope encryption: binding, rotation without downtime, KEK rewrap, crypto-shredding."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from heliograph.core.crypto.aead import DecryptionError, new_key
from heliograph.core.crypto.kek import (
    KekSet,
    LocalKek,
    create_kek_file,
    load_kek_file,
    write_kek_file,
)
from heliograph.core.crypto.keyring import KeyDestroyed, Keyring
from heliograph.core.errors import ConfigError


@pytest.fixture
def kek() -> KekSet:
    return KekSet(LocalKek("kek-1", new_key()))


@pytest.fixture
def keyring(tmp_path: Path, kek: KekSet) -> Keyring:
    return Keyring(tmp_path / "keys" / "keyring.json", kek)


def test_round_trip_and_no_plaintext_in_the_key_store(keyring: Keyring) -> None:
    blob = keyring.encrypt(1, "spool", b"https://a.example/secret-page")
    assert b"secret-page" not in blob
    assert keyring.decrypt(1, "spool", blob) == b"https://a.example/secret-page"
    assert len(keyring.status()) == 1
    raw = keyring.path.read_bytes()
    assert keyring.status()[0].key_id.encode() in raw


@pytest.mark.parametrize(("tenant", "purpose"), [(2, "spool"), (1, "export")])
def test_ciphertext_is_bound_to_tenant_and_purpose(
    keyring: Keyring, tenant: int, purpose: str
) -> None:
    blob = keyring.encrypt(1, "spool", b"data")
    keyring.encrypt(2, "spool", b"gives tenant 2 a key too")
    with pytest.raises(DecryptionError):
        keyring.decrypt(tenant, purpose, blob)


def test_tampered_ciphertext_is_refused(keyring: Keyring) -> None:
    blob = bytearray(keyring.encrypt(1, "spool", b"data"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        keyring.decrypt(1, "spool", bytes(blob))
    with pytest.raises(DecryptionError):
        keyring.decrypt(1, "spool", b"HGE1")


def test_tenant_key_rotation_keeps_old_data_readable_until_retired(keyring: Keyring) -> None:
    old = keyring.encrypt(1, "spool", b"before")
    old_key = keyring.status()[0].key_id
    new_key_id = keyring.rotate_tenant_key(1)
    new = keyring.encrypt(1, "spool", b"after")
    assert new_key_id != old_key
    assert keyring.decrypt(1, "spool", old) == b"before"
    assert keyring.decrypt(1, "spool", new) == b"after"
    # Background re-encryption then retires the old key.
    rewritten = keyring.encrypt(1, "spool", keyring.decrypt(1, "spool", old))
    keyring.retire_tenant_key(1, old_key)
    assert keyring.decrypt(1, "spool", rewritten) == b"before"
    with pytest.raises(DecryptionError):
        keyring.decrypt(1, "spool", old)
    with pytest.raises(ValueError, match="active"):
        keyring.retire_tenant_key(1, new_key_id)


def test_kek_rotation_rewraps_and_the_old_kek_can_go(tmp_path: Path) -> None:
    first = LocalKek("kek-1", new_key())
    path = tmp_path / "keyring.json"
    ring = Keyring(path, KekSet(first))
    blob = ring.encrypt(3, "store", b"payload")
    second = LocalKek("kek-2", new_key())
    ring.keks = KekSet(second, (first,))
    assert ring.rewrap_all() == 1
    assert {info.kek_id for info in ring.status()} == {"kek-2"}
    retired = Keyring(path, KekSet(second))  # a new process without the old KEK
    assert retired.decrypt(3, "store", blob) == b"payload"
    assert retired.verify() == []
    assert Keyring(path, KekSet(first)).verify()  # the old KEK alone no longer unwraps


def test_destroying_a_tenant_shreds_only_its_data(keyring: Keyring) -> None:
    mine = keyring.encrypt(5, "spool", b"tenant five")
    theirs = keyring.encrypt(6, "spool", b"tenant six")
    keyring.rotate_tenant_key(5)
    assert keyring.destroy_tenant(5) == 2
    with pytest.raises(KeyDestroyed):
        keyring.decrypt(5, "spool", mine)
    with pytest.raises(KeyDestroyed):
        keyring.encrypt(5, "spool", b"no new data for a deleted tenant")
    assert keyring.is_shredded(5)
    assert keyring.decrypt(6, "spool", theirs) == b"tenant six"
    # A second process reading the same store agrees.
    other = Keyring(keyring.path, keyring.keks)
    with pytest.raises(KeyDestroyed):
        other.decrypt(5, "spool", mine)


def test_two_keyrings_on_one_store_see_each_others_keys(keyring: Keyring) -> None:
    other = Keyring(keyring.path, keyring.keks)
    blob = other.encrypt(9, "spool", b"from the other process")
    assert keyring.decrypt(9, "spool", blob) == b"from the other process"


def test_concurrent_first_use_makes_one_active_key(keyring: Keyring) -> None:
    threads = [threading.Thread(target=keyring.encrypt, args=(4, "p", b"x")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [k.state for k in keyring.status() if k.tenant_id == 4] == ["active"]


def test_kek_file_must_be_private_and_well_formed(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    keks = create_kek_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_kek_file(path).current.key_id == keks.current.key_id
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_kek_file(path)
    path.chmod(0o600)
    path.write_text(json.dumps({"current": "nope", "keys": {}}))
    with pytest.raises(ConfigError, match="does not hold it"):
        load_kek_file(path)
    write_kek_file(path, "a", {"a": b"short"})
    with pytest.raises(ConfigError, match="32 bytes"):
        load_kek_file(path)


def test_kek_repr_hides_the_secret() -> None:
    secret = new_key()
    assert secret.hex() not in repr(LocalKek("k", secret))
