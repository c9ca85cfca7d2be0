"""``heliograph keys status | rotate | reencrypt | verify | retire``: the keyring, operated.

What each key protects, and so what a rotation must rewrite before the old key may go:

- key encryption key (KEK): wraps every data key. ``rotate --kek`` adds a new KEK to the key
  file and rewraps every data key at once; a running server picks the new KEK up by itself
  (Keyring.refresh_keks). The old KEK is retired when no data key is wrapped by it.
- a tenant's data key: seals the tenant's spool records, exports and secrets (webhook signing
  secrets). ``rotate --tenant N`` makes a new active key (a running collector uses it within
  a second), re-encrypts the tenant's secrets and exports, and leaves spool records to the
  loader, which empties the spool within seconds. ``retire`` refuses while anything still
  names the old key.
- the platform data key (tenant 0): platform secrets (SMTP password) and, derived from it, the
  event store's disk key. The store switches to a new disk key when it is next opened;
  ``reencrypt --store`` rewrites every part under it (the server must be stopped: chDB opens
  a store in one process).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import msgspec

from heliograph.collector.schema import record_key
from heliograph.collector.spool import OPEN_SUFFIX, SEALED_SUFFIX, read_records
from heliograph.core import security_events
from heliograph.core.config import Settings
from heliograph.core.crypto.aead import DecryptionError, new_key
from heliograph.core.crypto.kek import create_kek_file, read_key_file_secrets, write_kek_file
from heliograph.core.crypto.keyring import PLATFORM, Keyring
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.errors import ConfigError, InputError
from heliograph.core.security_events import SecurityEvent


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="key status, rotation, re-encryption and checks")
    actions = keys.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="create a key encryption key file (0600)")
    init.add_argument("--file", required=True, type=Path, help="where to write it")
    actions.add_parser("status", help="every key, its state, and what still uses it")
    rotate = actions.add_parser("rotate", help="make a new key current")
    which = rotate.add_mutually_exclusive_group(required=True)
    which.add_argument("--kek", action="store_true", help="the key encryption key (rewraps)")
    which.add_argument("--tenant", type=int, help="a tenant's data key (re-encrypts its data)")
    which.add_argument("--platform", action="store_true", help="the platform data key")
    reencrypt = actions.add_parser("reencrypt", help="rewrite data under the current keys")
    reencrypt.add_argument("--tenant", type=int, help="one tenant's secrets and exports")
    reencrypt.add_argument(
        "--store", action="store_true", help="every part of the event store (server stopped)"
    )
    actions.add_parser("verify", help="unwrap every key and read every encrypted thing")
    retire = actions.add_parser("retire", help="forget a key that nothing uses any more")
    target = retire.add_mutually_exclusive_group(required=True)
    target.add_argument("--kek", metavar="ID", help="a key encryption key id")
    target.add_argument("--key", metavar="ID", help="a data key id (t<tenant>-k<n>)")


# -- what uses which key ----------------------------------------------------------------------


def spool_key_usage(spool_dir: Path) -> Counter[tuple[int, str]]:
    """Count spool records by (tenant, data key id), sealed and open segments alike."""
    counts: Counter[tuple[int, str]] = Counter()
    if not spool_dir.is_dir():
        return counts
    for path in sorted(spool_dir.glob("*" + SEALED_SUFFIX)) + sorted(
        spool_dir.glob("*" + OPEN_SUFFIX)
    ):
        try:
            records = read_records(path).records
        except FileNotFoundError:
            continue  # loaded meanwhile
        for record in records:
            try:
                counts[record_key(record)] += 1
            except (msgspec.DecodeError, DecryptionError):
                counts[(-1, "unreadable")] += 1
    return counts


def secret_key_usage() -> Counter[tuple[int, str]]:
    """Count the metadata database's encrypted secrets by (tenant, data key id)."""
    from heliograph.web.crypto_fields import secret_fields

    counts: Counter[tuple[int, str]] = Counter()
    for model, field in secret_fields():
        for row in model._default_manager.filter(**{f"{field.attname}__isnull": False}):
            sealed = getattr(row, field.attname)
            counts[(field.tenant_of(row), sealed.key_id)] += 1
    return counts


def export_key_usage(settings: Settings) -> Counter[tuple[int, str]]:
    from heliograph.exports import export_key_ids

    counts: Counter[tuple[int, str]] = Counter()
    root = settings.data_dir / "exports"
    if root.is_dir():
        for directory in root.iterdir():
            if directory.name.isdigit():
                for key_id, n in export_key_ids(settings, int(directory.name)).items():
                    counts[(int(directory.name), key_id)] += n
    return counts


def usage(settings: Settings) -> dict[str, Counter[tuple[int, str]]]:
    return {
        "spool": spool_key_usage(settings.spool_dir),
        "secrets": secret_key_usage(),
        "exports": export_key_usage(settings),
    }


def store_key_state(settings: Settings) -> dict[str, object]:
    from heliograph.store import api as store

    return store.disk_key_state(settings)


# -- commands ---------------------------------------------------------------------------------


def _kek_file(settings: Settings) -> Path:
    if settings.kek_env:
        raise ConfigError(
            "the key encryption key comes from HELIOGRAPH_KEK: rotate it by moving to a key "
            "file (HELIOGRAPH_KEK_FILE) or in your KMS"
        )
    return settings.kek_file or settings.default_kek_file


def rotate_kek(settings: Settings, keyring: Keyring) -> tuple[str, int]:
    """Add a new current KEK to the key file and rewrap every data key under it."""
    path = _kek_file(settings)
    current, secrets = read_key_file_secrets(path)
    number = 1 + max(
        (int(k.rsplit("-", 1)[1]) for k in secrets if k.rsplit("-", 1)[-1].isdigit()), default=0
    )
    new_id = f"kek-{number}"
    secrets[new_id] = new_key()
    write_kek_file(path, new_id, secrets)
    keyring.refresh_keks()
    rewrapped = keyring.rewrap_all()
    _record("keys.kek_rotated", {"kek": new_id, "previous": current, "rewrapped": rewrapped})
    return new_id, rewrapped


def retire_kek(settings: Settings, keyring: Keyring, kek_id: str) -> None:
    path = _kek_file(settings)
    current, secrets = read_key_file_secrets(path)
    if kek_id not in secrets:
        raise InputError("not_found", f"the key file holds no key encryption key {kek_id}")
    if kek_id == current:
        raise InputError("in_use", f"{kek_id} is the current key encryption key; rotate first")
    still = [info.key_id for info in keyring.status() if info.kek_id == kek_id]
    if still:
        raise InputError("in_use", f"{kek_id} still wraps data keys {', '.join(still)}")
    del secrets[kek_id]
    write_kek_file(path, current, secrets)
    keyring.refresh_keks()
    _record("keys.kek_retired", {"kek": kek_id})


def reencrypt_tenant(settings: Settings, tenant_id: int) -> dict[str, int]:
    """Move a tenant's secrets and exports to its active data key."""
    from heliograph.core.tenancy import TenantScope
    from heliograph.exports import reencrypt_exports
    from heliograph.web.crypto_fields import reencrypt_secrets

    report = reencrypt_secrets()
    if not report.ok:
        raise InputError("reencrypt_failed", "; ".join(report.failed))
    exports = 0 if tenant_id == PLATFORM else reencrypt_exports(settings, TenantScope(tenant_id))
    return {"secrets": report.reencrypted, "exports": exports}


def rotate_tenant(
    settings: Settings, keyring: Keyring, tenant_id: int
) -> tuple[str, dict[str, int]]:
    key_id = keyring.rotate_tenant_key(tenant_id)
    done = reencrypt_tenant(settings, tenant_id)
    _record("keys.data_key_rotated", {"tenant": str(tenant_id), "key": key_id, **_str(done)})
    return key_id, done


def retire_key(settings: Settings, keyring: Keyring, key_id: str) -> None:
    info = next((i for i in keyring.status() if i.key_id == key_id), None)
    if info is None:
        raise InputError("not_found", f"no data key {key_id}")
    if info.state == "active":
        raise InputError("in_use", f"{key_id} is its tenant's active key; rotate first")
    names = {"spool": "spool records", "secrets": "secrets", "exports": "export frames"}
    users = [
        f"{n} {names[where]}"
        for where, counts in usage(settings).items()
        for (tenant, used), n in counts.items()
        if used == key_id and n
    ]
    if info.tenant_id == PLATFORM:
        state = store_key_state(settings)
        if key_id in state.get("keys_in_store", [key_id]):  # type: ignore[operator]
            users.append("the event store (run keys reencrypt --store, server stopped)")
        from heliograph.web.audit import head

        if head.signing_key_id() == key_id:
            users.append("the security log's head record (any new security event re-signs it)")
    if users:
        raise InputError("in_use", f"{key_id} still protects {', '.join(users)}")
    keyring.retire_tenant_key(info.tenant_id, key_id)
    _record("keys.data_key_retired", {"tenant": str(info.tenant_id), "key": key_id})


def verify(settings: Settings, keyring: Keyring) -> list[str]:
    """Return every problem found: keys that do not unwrap, records or secrets that do not open,
    store files in clear."""
    from heliograph.collector.schema import SpoolCodec
    from heliograph.web.crypto_fields import reveal_secret, secret_fields

    problems = list(keyring.verify())
    codec = SpoolCodec(keyring)
    spool = settings.spool_dir
    for path in sorted(spool.glob("*" + SEALED_SUFFIX)) + sorted(spool.glob("*" + OPEN_SUFFIX)):
        try:
            records = read_records(path).records
        except FileNotFoundError:
            continue
        for index, record in enumerate(records):
            try:
                codec.open(record)
            except Exception as error:  # any failure to open is what verify reports
                if not _shredded(keyring, record):
                    problems.append(f"spool {path.name} record {index}: {error}")
    for model, field in secret_fields():
        for row in model._default_manager.filter(**{f"{field.attname}__isnull": False}):
            try:
                reveal_secret(row, field.name)
            except Exception as error:
                problems.append(f"{model._meta.label}.{field.name} #{row.pk}: {error}")
    for (tenant, key_id), n in export_key_usage(settings).items():
        if key_id == "unreadable" and not keyring.is_shredded(tenant):
            problems.append(f"{n} unreadable export frames of tenant {tenant}")
    from heliograph.store import api as store

    files = store.store_file_keys(settings)
    if files.get("plain"):
        problems.append(f"{files['plain']} event store files are not encrypted")
    return problems


def _shredded(keyring: Keyring, record: bytes) -> bool:
    try:
        return keyring.is_shredded(record_key(record)[0])
    except (msgspec.DecodeError, DecryptionError):
        return False


def _str(values: dict[str, int]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def _record(action: str, labels: dict[str, str | int]) -> None:
    security_events.record(
        SecurityEvent(
            action=action,
            category="configuration",
            outcome="success",
            labels={k: str(v) for k, v in labels.items()},
        )
    )


def init_kek_file(path: Path) -> int:
    """Create a new KEK file; refuses to overwrite one (that would lose every data key)."""
    if path.exists():
        raise InputError("exists", f"{path} exists; a new key there would orphan every data key")
    create_kek_file(path)
    print(f"key encryption key file written to {path} (mode 0600); set HELIOGRAPH_KEK_FILE={path}")
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    keyring = process_keyring(settings)
    if args.action == "status":
        return _status(settings, keyring)
    if args.action == "rotate":
        if args.kek:
            new_id, count = rotate_kek(settings, keyring)
            print(f"key encryption key {new_id} is current; {count} data keys rewrapped")
        else:
            tenant = PLATFORM if args.platform else int(args.tenant)
            key_id, done = rotate_tenant(settings, keyring, tenant)
            print(
                f"data key {key_id} is active for tenant {tenant}; re-encrypted "
                f"{done['secrets']} secrets and {done['exports']} exports"
            )
            if tenant == PLATFORM:
                print(
                    "the event store uses the new key from its next start; then run "
                    "`heliograph keys reencrypt --store` with the server stopped"
                )
        return 0
    if args.action == "reencrypt":
        if args.store:
            from heliograph.store import api as store

            store.open_store(settings)
            try:
                tables = store.reencrypt_store()
            finally:
                store.close_store()
            print(f"rewrote {tables} tables of the event store under the current disk key")
        if args.tenant is not None:
            done = reencrypt_tenant(settings, int(args.tenant))
            print(f"re-encrypted {done['secrets']} secrets and {done['exports']} exports")
        if not args.store and args.tenant is None:
            raise InputError("usage", "name --tenant N and/or --store")
        return 0
    if args.action == "verify":
        problems = verify(settings, keyring)
        for problem in problems:
            print(f"problem: {problem}")
        print(
            "keys verified: every key unwraps and everything encrypted opens"
            if not problems
            else f"{len(problems)} problems"
        )
        return 1 if problems else 0
    if args.action == "retire":
        if args.kek:
            retire_kek(settings, keyring, args.kek)
            print(f"key encryption key {args.kek} retired")
        else:
            retire_key(settings, keyring, args.key)
            print(f"data key {args.key} retired")
        return 0
    raise InputError("usage", f"unknown keys action {args.action!r}")


def _status(settings: Settings, keyring: Keyring) -> int:
    used = usage(settings)
    print(
        f"key encryption key: {keyring.keks.current.key_id} (current)"
        + "".join(f", {k.key_id}" for k in keyring.keks.previous)
    )
    print("tenant\tdata key\tstate\twrapped by\tcreated\tspool\tsecrets\texports")
    for info in keyring.status():
        counts = [str(used[where].get((info.tenant_id, info.key_id), 0)) for where in used]
        tenant = "platform" if info.tenant_id == PLATFORM else str(info.tenant_id)
        print("\t".join([tenant, info.key_id, info.state, info.kek_id, info.created, *counts]))
    state = store_key_state(settings)
    print("event store: " + json.dumps(state, sort_keys=True))
    return 0
