"""Encryption at rest, proved on a running Heliograph.

- Canary: events whose URLs, referrers and selectors carry one unique string, and secrets that
  carry others (the SMTP password, a webhook signing secret), leave no trace of any of them in
  any byte of any file under the data directory: spool, event store, logs, metadata database,
  exports.
- Rotation: the key encryption key and a tenant's data key are rotated from another process
  while beacons are being collected; every acknowledged event is stored and readable, and the
  old keys can then be retired.
- Deletion: deleting a tenant leaves its spool records, exports and store rows unreadable or
  gone, and the other tenant's data intact.
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import Instance

pytestmark = pytest.mark.slow
MAKE_WEBHOOK = Path(__file__).with_name("make_webhook.py")
DELETION_RECORD = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.web.settings")
import django
django.setup()
from heliograph.web.audit.models import AuditEntry
entry = AuditEntry.objects.get(entity="tenant", action="deleted", tenant_id=int(sys.argv[1]))
print(json.dumps({"old": entry.old, "new": entry.new}))
"""
# Try to read an export file with the data directory's keys: prints why it cannot.
OPEN_EXPORT_COPY = """
import sys
from pathlib import Path
from heliograph.core.config import load_settings
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.tenancy import TenantScope
from heliograph.exports import _open_frames

keyring = process_keyring(load_settings())
try:
    list(_open_frames(keyring, TenantScope(int(sys.argv[3])), sys.argv[2], Path(sys.argv[1])))
    print("readable")
except Exception as error:
    print(f"unreadable: {type(error.__cause__ or error).__name__}")
"""


def _cli(instance: Instance, *args: str, stdin: str | None = None, ok: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "heliograph.cli", *args],
        env=instance.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _beacon(site_key: str, host: str, canary: str, pid: str, events: int = 5) -> bytes:
    now = int(time.time() * 1000)
    url = f"https://{host}/{canary}/page?ref={canary}"
    rows = [
        {
            "type": "pageview",
            "ts": now,
            "sid": "s" + pid,
            "vid": "v" + pid,
            "pid": pid,
            "url": url,
            "ref": f"https://search.example/?q={canary}",
            "vw": 800,
            "vh": 600,
            "dw": 800,
            "dh": 2000,
        },
        *(
            {
                "type": "click",
                "ts": now + i,
                "sid": "s" + pid,
                "vid": "v" + pid,
                "pid": pid,
                "url": url,
                "sel": f"main > a.{canary}:nth-of-type({i})",
                "x": 10 * i,
                "y": 20 * i,
            }
            for i in range(events - 1)
        ),
    ]
    return json.dumps({"site": site_key, "events": rows}).encode()


def _post(connection: http.client.HTTPConnection, body: bytes, host: str) -> int:
    connection.request(
        "POST", "/collect", body, {"Content-Type": "text/plain", "Origin": f"https://{host}"}
    )
    response = connection.getresponse()
    response.read()
    return response.status


def _wait_for_empty_spool(instance: Instance, timeout: float = 60) -> None:
    spool = instance.data_dir / "spool"
    deadline = time.monotonic() + timeout
    while any(spool.glob("*.seg")) or any(spool.glob("*.open")):
        assert time.monotonic() < deadline, sorted(p.name for p in spool.iterdir())
        time.sleep(0.2)


def _files_with(root: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {name: [] for name in needles}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for name, needle in needles.items():
            if needle in data:
                found[name].append(str(path.relative_to(root)))
    return found


def test_canaries_appear_in_no_file_of_the_data_directory(instance: Instance) -> None:
    event_canary = "evtcanary" + secrets.token_hex(8)
    smtp_canary = "smtpcanary" + secrets.token_hex(8)
    tenant_id, key = instance.create_site("Canary Co", "a.example")
    _cli(
        instance,
        "mail", "set", "--host", "smtp.example", "--from", "ops@a.example",
        "--user", "mailer", "--password-stdin",
        stdin=smtp_canary + "\n",
    )  # fmt: skip
    made = subprocess.run(
        [sys.executable, str(MAKE_WEBHOOK), str(instance.data_dir), str(tenant_id),
         "https://hooks.a.example/heliograph"],
        env=instance.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    webhook_secret = made.stdout.strip()
    assert len(webhook_secret) >= 32

    instance.start()
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
    try:
        for n in range(20):
            body = _beacon(key, "a.example", event_canary, f"p{n}")
            assert _post(connection, body, "a.example") == 202
    finally:
        connection.close()
    _wait_for_empty_spool(instance)
    instance.stop()
    _cli(instance, "export", "create", "--tenant", str(tenant_id))

    # The data is all there, and readable through Heliograph with its keys...
    rows = instance.events(tenant_id)
    assert len(rows) == 100
    assert all(event_canary in str(row["url"]) for row in rows)
    assert any(event_canary in str(row["selector"]) for row in rows)
    export_id = _cli(instance, "export", "list", "--tenant", str(tenant_id)).split("\t")[0]
    assert event_canary in _cli(instance, "export", "read", "--tenant", str(tenant_id), export_id)
    shown = _cli(instance, "mail", "show")
    assert "smtp.example" in shown and smtp_canary not in shown  # set, and never printed

    # ...and not one byte of any file under the data directory shows any canary.
    found = _files_with(
        instance.data_dir,
        {
            "event": event_canary.encode(),
            "smtp password": smtp_canary.encode(),
            "webhook secret": webhook_secret.encode(),
        },
    )
    assert found == {"event": [], "smtp password": [], "webhook secret": []}, found
    # It is not for lack of files: spool, store, metadata database, exports and logs exist.
    names = {p.relative_to(instance.data_dir).parts[0] for p in instance.data_dir.rglob("*")}
    assert {"events", "exports", "keys"} <= names, names


def _hammer(
    instance: Instance, key: str, host: str, acked: list[str], stop: threading.Event
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
    try:
        while not stop.is_set():
            pid = secrets.token_hex(8)
            try:
                status = _post(connection, _beacon(key, host, "rot", pid, events=2), host)
            except (OSError, http.client.HTTPException):
                return
            if status == 202:
                acked.append(pid)
            time.sleep(0.005)
    finally:
        connection.close()


def _retry(instance: Instance, *args: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = _cli(instance, *args, ok=False)
        if "retired" in out and "still" not in out:
            return out
        assert time.monotonic() < deadline, out
        time.sleep(0.5)


def test_keys_rotate_while_collecting_and_old_keys_retire(instance: Instance) -> None:
    tenant_id, key = instance.create_site("Rotating Co", "r.example")
    instance.start()
    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_hammer, args=(instance, key, "r.example", acked, stop))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    try:
        while len(acked) < 100:
            time.sleep(0.05)
        status = _cli(instance, "keys", "status")
        old_key = next(
            line.split("\t")[1] for line in status.splitlines() if line.startswith(f"{tenant_id}\t")
        )
        assert "rewrapped" in _cli(instance, "keys", "rotate", "--kek")
        before = len(acked)
        while len(acked) < before + 100:
            time.sleep(0.05)
        assert "is active" in _cli(instance, "keys", "rotate", "--tenant", str(tenant_id))
        before = len(acked)
        while len(acked) < before + 200:  # collected under the new data key and new KEK
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    _wait_for_empty_spool(instance)
    # Nothing needs the old data key once the loader has emptied the spool; nothing is
    # wrapped by the old KEK after the rewrap.
    assert "retired" in _retry(instance, "keys", "retire", "--key", old_key)
    assert "retired" in _retry(instance, "keys", "retire", "--kek", "kek-1")
    # Still collecting and loading after the retirements.
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
    try:
        assert _post(connection, _beacon(key, "r.example", "rot", "after", 2), "r.example") == 202
    finally:
        connection.close()
    _wait_for_empty_spool(instance)
    instance.stop()
    assert "verified" in _cli(instance, "keys", "verify")
    rows = instance.events(tenant_id)
    stored = {str(row["pageview_id"]) for row in rows}
    missing = [pid for pid in acked if pid not in stored]
    assert not missing, f"{len(missing)} acknowledged batches unreadable or lost"
    assert "after" in stored


def test_deleting_a_tenant_shreds_its_data_and_spares_the_other(instance: Instance) -> None:
    gone_id, gone_key = instance.create_site("Gone Co", "g.example")
    kept_id, kept_key = instance.create_site("Kept Co", "k.example")
    instance.start()
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
    try:
        for n in range(10):
            for site_key, host in ((gone_key, "g.example"), (kept_key, "k.example")):
                body = _beacon(site_key, host, host[0] + "canary", f"{host[0]}{n}")
                assert _post(connection, body, host) == 202
    finally:
        connection.close()
    _wait_for_empty_spool(instance)
    instance.stop()
    for tenant in (gone_id, kept_id):
        _cli(instance, "export", "create", "--tenant", str(tenant))
    gone_export = next((instance.data_dir / "exports" / str(gone_id)).glob("*.hgx"))
    copy = instance.data_dir.parent / "copy-of-export.hgx"  # a copy that escaped: a backup
    shutil.copy(gone_export, copy)
    # Beacons accepted but not yet loaded when the tenant goes: they stay in the spool.
    site_key = gone_key
    _cli(instance, "simulate", f"--site={site_key}", "--events", "200", "--via", "spool")

    out = _cli(instance, "tenant", "delete", str(gone_id), "--confirm", "Gone Co")
    assert "data keys destroyed" in out

    # The store has nothing of it; the other tenant is whole.
    assert instance.events(gone_id) == []
    assert len(instance.events(kept_id)) == 50
    # Its export files are gone, and a copy that escaped cannot be opened: no key is left.
    assert not (instance.data_dir / "exports" / str(gone_id)).exists()
    assert _cli(instance, "export", "list", "--tenant", str(gone_id)).strip() == ""
    probe = subprocess.run(
        [sys.executable, "-c", OPEN_EXPORT_COPY, str(copy), gone_export.stem, str(gone_id)],
        env=instance.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "unreadable: KeyDestroyed", probe.stdout
    # Its spool records can no longer be opened: the loader drops them, nothing is stored.
    assert "unwraps" in _cli(instance, "keys", "verify")
    instance.start()
    _wait_for_empty_spool(instance)
    instance.stop()
    assert instance.events(gone_id) == []
    assert len(instance.events(kept_id)) == 50
    kept_export = _cli(instance, "export", "list", "--tenant", str(kept_id))
    assert kept_export.count("\t") >= 3
    # The deletion is on the record, in the audit trail and the (intact) security log.
    assert "intact" in _cli(instance, "security-log", "verify")
    record = subprocess.run(
        [sys.executable, "-c", DELETION_RECORD, str(gone_id)],
        env=instance.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert record.returncode == 0, record.stderr
    entry = json.loads(record.stdout)
    assert entry["old"]["name"] == "Gone Co"
    assert entry["new"]["data_keys_destroyed"] >= 1
    assert "exports" in entry["new"]["crypto_shredded"]
