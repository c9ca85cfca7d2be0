"""Encrypted exports: readable by their tenant only, and only whole and unaltered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import event
from heliograph import exports
from heliograph.core.config import Settings
from heliograph.core.crypto.keyring import KeyDestroyed
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.errors import NotFound
from heliograph.core.tenancy import TenantScope
from heliograph.store import api


@pytest.fixture
def settings(store: Path) -> Settings:
    return Settings(data_dir=store)


def _export(
    settings: Settings, new_scope: Callable[[], TenantScope], count: int = 30
) -> tuple[TenantScope, exports.ExportInfo]:
    scope = new_scope()
    api.write_events(scope, [event(path=f"/secret-{i}") for i in range(count)])
    return scope, exports.create_export(settings, scope)


def _read(settings: Settings, scope: TenantScope, export_id: str) -> list[dict[str, object]]:
    text = b"".join(exports.read_export(settings, scope, export_id)).decode()
    return [json.loads(line) for line in text.splitlines()]


def test_an_export_holds_every_event_and_no_plaintext(
    settings: Settings, new_scope: Callable[[], TenantScope]
) -> None:
    scope, info = _export(settings, new_scope)
    assert info.events == 30
    rows = _read(settings, scope, info.export_id)
    assert sorted(str(r["path"]) for r in rows) == sorted(f"/secret-{i}" for i in range(30))
    path = exports.exports_dir(settings, scope.tenant_id) / f"{info.export_id}.hgx"
    assert b"secret-" not in path.read_bytes()
    assert path.stat().st_mode & 0o077 == 0
    assert [i.export_id for i in exports.list_exports(settings, scope)] == [info.export_id]


def test_another_tenant_gets_not_found(
    settings: Settings, new_scope: Callable[[], TenantScope]
) -> None:
    _, info = _export(settings, new_scope)
    other = new_scope()
    with pytest.raises(NotFound):
        list(exports.read_export(settings, other, info.export_id))
    assert exports.list_exports(settings, other) == []
    with pytest.raises(NotFound):
        list(exports.read_export(settings, other, "../../keys/kek"))


def test_a_file_moved_to_another_tenant_does_not_open(
    settings: Settings, new_scope: Callable[[], TenantScope]
) -> None:
    scope, info = _export(settings, new_scope)
    other = new_scope()
    source = exports.exports_dir(settings, scope.tenant_id) / f"{info.export_id}.hgx"
    target = exports.exports_dir(settings, other.tenant_id)
    target.mkdir(parents=True, exist_ok=True)
    (target / source.name).write_bytes(source.read_bytes())
    with pytest.raises(exports.ExportUnreadable):
        list(exports.read_export(settings, other, info.export_id))


@pytest.mark.parametrize("damage", ["flip", "truncate", "drop_last_frame"])
def test_an_altered_or_shortened_export_is_refused(
    settings: Settings, new_scope: Callable[[], TenantScope], damage: str
) -> None:
    scope, info = _export(settings, new_scope, count=12_000)  # several frames
    path = exports.exports_dir(settings, scope.tenant_id) / f"{info.export_id}.hgx"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        del data[-100:]
    else:
        frames = list(exports._frames(path, info.export_id))
        last = len(frames[-1][1]) + 4
        del data[-last:]  # a whole frame gone: the new last frame was not sealed as last
    path.write_bytes(bytes(data))
    with pytest.raises(exports.ExportUnreadable):
        list(exports.read_export(settings, scope, info.export_id))


def test_exports_follow_a_key_rotation_and_die_with_the_tenant(
    settings: Settings, new_scope: Callable[[], TenantScope]
) -> None:
    scope, info = _export(settings, new_scope)
    keyring = process_keyring(settings)
    old = next(k.key_id for k in keyring.status() if k.tenant_id == scope.tenant_id)
    keyring.rotate_tenant_key(scope.tenant_id)
    assert exports.reencrypt_exports(settings, scope) == 1
    assert old not in exports.export_key_ids(settings, scope.tenant_id)
    keyring.retire_tenant_key(scope.tenant_id, old)
    assert len(_read(settings, scope, info.export_id)) == 30
    keyring.destroy_tenant(scope.tenant_id)
    with pytest.raises(exports.ExportUnreadable) as raised:
        list(exports.read_export(settings, scope, info.export_id))
    assert isinstance(raised.value.__cause__, KeyDestroyed)
