"""The embedded store's files are AES-256 encrypted; keys rotate; a deleted tenant's rows go."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import event
from heliograph.core.config import Settings
from heliograph.core.crypto.keyring import PLATFORM
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.tenancy import TenantScope
from heliograph.store import api
from heliograph.store.backends.base import StoreError
from heliograph.store.backends.disk_encryption import LegacyStoreError


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(path)
    return hits


@pytest.fixture
def private_store(store: Path, tmp_path: Path) -> Iterator[Settings]:
    """Give one test a store of its own (chDB opens one directory per process)."""
    api.close_store()
    settings = Settings(data_dir=tmp_path / "data")
    try:
        yield settings
    finally:
        api.close_store()
        api.open_store(Settings(data_dir=store))


def _canary_events(scope: TenantScope, canary: str, count: int = 50) -> int:
    rows = [
        event(
            path=f"/{canary}/{i}",
            url=f"https://shop.example/{canary}/{i}?q={canary}",
            referrer=f"https://ref.example/{canary}",
            referrer_host="ref.example",
            selector=f"main > a.{canary}",
            type="click" if i % 2 else "pageview",
            pageview_id=f"p{i // 2}",
        )
        for i in range(count)
    ]
    return api.write_events(scope, rows)


def test_no_store_file_holds_event_text_in_clear(private_store: Settings) -> None:
    api.open_store(private_store)
    canary = "cnry" + secrets.token_hex(8)
    scope = TenantScope(1)
    assert _canary_events(scope, canary) == 50
    assert api.count_events(scope) == 50  # readable through the store...
    api.close_store()  # ...and flushed: nothing is left only in memory
    store_dir = private_store.store_dir
    assert _files_containing(private_store.data_dir, canary.encode()) == []
    keys = api.store_file_keys(private_store)
    assert "plain" not in keys and len(keys) == 1, keys
    # Table definitions stay readable (no customer data); data lives under the encrypted disk.
    assert any(store_dir.glob("encrypted-disk/aes256/store/*/*/*/data.bin")) or any(
        store_dir.rglob("encrypted-disk/aes256/**/*.bin")
    )


def test_a_copied_store_without_its_keys_reveals_nothing(
    private_store: Settings, tmp_path: Path
) -> None:
    api.open_store(private_store)
    canary = "cnry" + secrets.token_hex(8)
    _canary_events(TenantScope(1), canary)
    api.close_store()
    stolen = Settings(data_dir=tmp_path / "stolen")
    shutil.copytree(private_store.store_dir, stolen.store_dir)
    # Another data directory has another keyring: its derived disk key cannot read the parts.
    try:
        api.open_store(stolen)
    except StoreError:
        return  # refusing to open is a fine answer
    try:
        rows = list(api.export_events(TenantScope(1)))
    except StoreError:
        rows = []
    assert all(canary not in row.url for row in rows)
    assert rows == []


def test_a_store_from_before_encryption_is_refused(private_store: Settings) -> None:
    (private_store.store_dir / "metadata").mkdir(parents=True)
    with pytest.raises(LegacyStoreError, match="before encryption at rest"):
        api.open_store(private_store)


def test_rotating_the_store_key_keeps_old_parts_readable_and_rewrites_them(
    private_store: Settings,
) -> None:
    api.open_store(private_store)
    scope = TenantScope(1)
    _canary_events(scope, "before")
    api.close_store()
    before = set(api.store_file_keys(private_store))

    process_keyring(private_store).rotate_tenant_key(PLATFORM)
    api.open_store(private_store)
    assert api.count_events(scope) == 50  # old parts, old key: still readable
    _canary_events(scope, "after")
    assert api.count_events(scope) == 100
    after_write = set(api.store_file_keys(private_store))
    assert len(after_write) == 2 and before < after_write  # new parts under the new key

    assert api.reencrypt_store() > 0
    assert api.count_events(scope) == 100
    api.close_store()
    api.open_store(private_store)
    assert api.count_events(scope) == 100


def test_erasing_a_tenant_removes_its_rows_and_only_its_rows(
    new_scope: Callable[[], TenantScope],
) -> None:
    gone, kept = new_scope(), new_scope()
    _canary_events(gone, "gone")
    _canary_events(kept, "kept")
    assert api.erase_tenant(gone) >= 2
    assert api.count_events(gone) == 0
    assert list(api.export_events(gone)) == []
    assert api.count_events(kept) == 50
    assert api.site_activity(gone, site_id=1).events == 0


def test_counting_file_keys_survives_parts_vanishing_mid_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running store drops ``tmp_insert_*`` parts while ``keys status`` walks its files."""
    from heliograph.store.backends import disk_encryption

    root = tmp_path / disk_encryption.ENCRYPTED_DIR
    kept = root / "store" / "all_1_1_0"
    doomed = root / "store" / "tmp_insert_202611_4_4_1"
    for part in (kept, doomed):
        part.mkdir(parents=True)
    header = disk_encryption._HEADER_MAGIC + bytes(4) + bytes.fromhex("ab" * 16) + bytes(41)
    (kept / "data.bin").write_bytes(header)
    (kept / "gone.bin").write_bytes(header)
    (doomed / "data.bin").write_bytes(header)
    real_walk = disk_encryption.os.walk

    def racing_walk(top: Path) -> Iterator[tuple[str, list[str], list[str]]]:
        for entry in real_walk(top):
            if entry[0] == str(root / "store"):
                shutil.rmtree(doomed)  # a merge finished between listing and descending
            if entry[0] == str(kept):
                (kept / "gone.bin").unlink()  # listed, then removed before it is opened
            yield entry

    monkeypatch.setattr(disk_encryption.os, "walk", racing_walk)
    assert disk_encryption.file_fingerprints(tmp_path) == {"ab" * 16: 1}
