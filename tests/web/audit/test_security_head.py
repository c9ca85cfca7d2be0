"""The security log's head record finds records removed from the log's end, or a rewritten end,
which the hash chain alone cannot."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from heliograph.core import security_events
from heliograph.core.security_events import SecurityEvent, chain_hash
from heliograph.web.audit import head, log
from heliograph.web.audit.models import SecurityEventRecord
from tests.web.audit.attacker import drop_append_only_guard

pytestmark = pytest.mark.django_db

Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def database_sink() -> None:
    log.install()


def login(tenant: int | None) -> SecurityEvent:
    return SecurityEvent(
        action="user.login",
        category="authentication",
        outcome="success",
        tenant_id=tenant,
        user_id=7,
        source_ip="192.0.2.1",
    )


def record_committed(capture: Capture, count: int = 4) -> list[SecurityEventRecord]:
    """Record events and run what their commit runs (the head update)."""
    with capture(execute=True):
        for index in range(count):
            security_events.record(login(index % 2 + 1))
    return list(SecurityEventRecord.objects.order_by("seq"))


def test_the_head_follows_each_committed_append(
    django_capture_on_commit_callbacks: Capture, own_security_log_head: Path
) -> None:
    records = record_committed(django_capture_on_commit_callbacks)
    assert head.read_head() == head.Head(records[-1].seq, records[-1].hash)
    assert own_security_log_head.stat().st_mode & 0o777 == 0o600
    report = log.verify()
    assert report.ok and report.head_status == f"record {records[-1].seq}"


def test_records_removed_from_the_end_are_found(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    records = record_committed(django_capture_on_commit_callbacks)
    drop_append_only_guard()
    SecurityEventRecord.objects.filter(seq__gte=records[2].seq).delete()
    report = log.verify()
    assert report.first_bad_seq is None  # what is left is a valid chain ...
    assert not report.ok  # ... but not the whole log
    assert f"ends at record {records[1].seq}" in report.head_problem
    assert "removed from its end" in report.head_problem


def test_an_emptied_log_is_found(django_capture_on_commit_callbacks: Capture) -> None:
    record_committed(django_capture_on_commit_callbacks)
    drop_append_only_guard()
    SecurityEventRecord.objects.all().delete()
    report = log.verify()
    assert not report.ok and "ends at record none" in report.head_problem


def rewrite_newest(records: list[SecurityEventRecord]) -> None:
    """Replace the newest record with another that chains correctly (the chain has no secret),
    under the same sequence number."""
    last = records[-1]
    drop_append_only_guard()
    forged = dict(last.document)
    forged["event"] = {"action": "user.logout", "category": "authentication", "outcome": "success"}
    SecurityEventRecord.objects.filter(seq=last.seq).update(
        action="user.logout", document=forged, hash=chain_hash(last.previous_hash, forged)
    )


def test_a_rewritten_end_is_found(django_capture_on_commit_callbacks: Capture) -> None:
    rewrite_newest(record_committed(django_capture_on_commit_callbacks))
    report = log.verify()
    assert report.first_bad_seq is None and not report.ok
    assert "rewritten" in report.head_problem


def test_a_forged_head_is_refused(
    django_capture_on_commit_callbacks: Capture, own_security_log_head: Path
) -> None:
    """Pointing the head at an earlier record (to hide a cut end) needs the MAC key."""
    records = record_committed(django_capture_on_commit_callbacks)
    stored = json.loads(own_security_log_head.read_text())
    stored.update(seq=records[1].seq, hash=records[1].hash)
    own_security_log_head.write_text(json.dumps(stored))
    with pytest.raises(head.HeadError, match="bad MAC"):
        head.read_head()
    report = log.verify()
    assert not report.ok and "bad MAC" in report.head_problem


@pytest.mark.parametrize("content", [b"", b"{}", b"not json", b'{"seq": "1", "hash": 2}'])
def test_a_garbled_head_is_reported(
    django_capture_on_commit_callbacks: Capture, own_security_log_head: Path, content: bytes
) -> None:
    record_committed(django_capture_on_commit_callbacks)
    own_security_log_head.write_bytes(content)
    report = log.verify()
    assert not report.ok and "not a head record" in report.head_problem


def test_a_damaged_head_is_kept_as_evidence_until_the_end_is_accepted(
    django_capture_on_commit_callbacks: Capture,
    own_security_log_head: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from heliograph.cli import cmd_security_log

    record_committed(django_capture_on_commit_callbacks)
    own_security_log_head.write_bytes(b"garbage")
    with caplog.at_level("ERROR", logger="heliograph.security_log"):
        record_committed(django_capture_on_commit_callbacks, count=1)
    assert "security_log.head_kept" in caplog.text
    assert own_security_log_head.read_bytes() == b"garbage"
    assert not log.verify().ok
    accept = type("Args", (), {"action": "accept-end"})()
    with django_capture_on_commit_callbacks(execute=True):
        assert cmd_security_log(None, accept) == 0  # type: ignore[arg-type]
    assert "the log's end is now its head" in capsys.readouterr().out
    newest = SecurityEventRecord.objects.order_by("-seq").first()
    assert newest is not None and newest.action == "security_log.end_accepted"
    labels = {"head_before": "damaged", "head_now": f"record {newest.seq - 1}"}
    assert newest.document["labels"] == labels
    assert head.read_head() == head.Head(newest.seq, newest.hash)
    assert log.verify().ok


def test_appends_after_a_cut_end_do_not_hide_it(
    django_capture_on_commit_callbacks: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    """New records chain onto whatever end is left; the head must not follow them there."""
    records = record_committed(django_capture_on_commit_callbacks, count=5)
    drop_append_only_guard()
    SecurityEventRecord.objects.filter(seq__gte=records[3].seq).delete()
    with caplog.at_level("ERROR", logger="heliograph.security_log"):
        record_committed(django_capture_on_commit_callbacks, count=3)
    assert "security_log.head_kept" in caplog.text
    assert head.read_head() == head.Head(records[-1].seq, records[-1].hash)
    report = log.verify()
    assert report.first_bad_seq is None and not report.ok


def test_appends_after_a_rewritten_end_do_not_hide_it(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    rewrite_newest(record_committed(django_capture_on_commit_callbacks))
    record_committed(django_capture_on_commit_callbacks, count=2)
    report = log.verify()
    assert not report.ok and "rewritten" in report.head_problem


def test_accept_end_is_refused_while_the_chain_is_broken(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    records = record_committed(django_capture_on_commit_callbacks)
    drop_append_only_guard()
    SecurityEventRecord.objects.filter(seq=records[1].seq).update(outcome="unknown")
    report = log.accept_end()
    assert report.first_bad_seq == records[1].seq
    assert head.read_head() == head.Head(records[-1].seq, records[-1].hash)


def _unreadable(path: Path) -> None:
    path.unlink()
    path.mkdir()  # reading it fails with an OSError


def _writing(text: str) -> Callable[[Path], object]:
    return lambda path: path.write_text(text)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_writing('{"seq": 1, "hash": "h", "key": "k", "mac": "\u00e9"}'), "not a head record"),
        (_writing('{"seq": true, "hash": "h", "key": "k", "mac": "m"}'), "not a head record"),
        (_writing('{"seq": 1, "hash": "h", "key": 7, "mac": "m"}'), "not a head record"),
        (_writing("[1, 2]"), "not a head record"),
        (_unreadable, "cannot be read"),
    ],
)
def test_a_head_of_the_wrong_shape_or_unreadable_is_reported_not_a_crash(
    django_capture_on_commit_callbacks: Capture,
    own_security_log_head: Path,
    damage: Callable[[Path], object],
    problem: str,
) -> None:
    record_committed(django_capture_on_commit_callbacks)
    damage(own_security_log_head)
    report = log.verify()
    assert not report.ok and problem in report.head_problem
    record_committed(django_capture_on_commit_callbacks, count=1)  # appends go on


def test_a_head_behind_the_log_says_how_much_it_does_not_cover(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    records = record_committed(django_capture_on_commit_callbacks)
    security_events.record(login(1))  # committed later (here: never), its head not yet moved
    report = log.verify()
    assert report.ok
    assert (
        report.head_status == f"record {records[-1].seq}; 1 newer record(s) not yet covered by it"
    )


def test_appends_move_on_a_head_that_fell_behind(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    """A head behind the newest record (its update lost) is checked against its own record,
    and the next append moves it to the newest."""
    records = record_committed(django_capture_on_commit_callbacks)
    security_events.record(login(1))  # its head update never runs
    newest = record_committed(django_capture_on_commit_callbacks, count=1)[-1]
    assert newest.seq == records[-1].seq + 2
    assert head.read_head() == head.Head(newest.seq, newest.hash)
    assert log.verify().ok


def test_a_rewritten_record_under_a_head_that_fell_behind_is_found(
    django_capture_on_commit_callbacks: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    records = record_committed(django_capture_on_commit_callbacks)
    security_events.record(login(1))  # newer than the head, its head update never runs
    rewrite_newest(records)  # the head's own record, no longer the log's newest
    with caplog.at_level("ERROR", logger="heliograph.security_log"):
        record_committed(django_capture_on_commit_callbacks, count=1)
    assert "security_log.head_kept" in caplog.text
    assert head.read_head() == head.Head(records[-1].seq, records[-1].hash)
    assert not log.verify().ok


def test_a_rolled_back_append_does_not_move_the_head(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    records = record_committed(django_capture_on_commit_callbacks)

    def failing_request() -> None:
        with transaction.atomic():
            security_events.record(login(1))
            raise RuntimeError("the request failed after its event")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        failing_request()
    assert callbacks == []
    assert head.read_head() == head.Head(records[-1].seq, records[-1].hash)
    assert log.verify().ok


def test_the_head_never_moves_back(django_capture_on_commit_callbacks: Capture) -> None:
    records = record_committed(django_capture_on_commit_callbacks)
    head.advance(records[1].seq, records[1].hash)  # a slower process, committing late
    assert head.read_head() == head.Head(records[-1].seq, records[-1].hash)


def test_no_head_yet_is_a_warning_not_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """A log from before head records (or whose events were never committed by this process)
    verifies, and the CLI says what is not covered."""
    from heliograph.cli import cmd_security_log

    security_events.record(login(1))  # the test's transaction never commits: no head
    report = log.verify()
    assert report.ok and report.head_status == "none"
    assert cmd_security_log(None, None) == 0  # type: ignore[arg-type]
    assert "no head record yet" in capsys.readouterr().err


def test_cli_reports_a_cut_end(
    django_capture_on_commit_callbacks: Capture, capsys: pytest.CaptureFixture[str]
) -> None:
    from heliograph.cli import cmd_security_log

    records = record_committed(django_capture_on_commit_callbacks)
    assert cmd_security_log(None, None) == 0  # type: ignore[arg-type]
    assert f"head record outside the database: record {records[-1].seq}" in (
        capsys.readouterr().out
    )
    drop_append_only_guard()
    SecurityEventRecord.objects.filter(seq=records[-1].seq).delete()
    assert cmd_security_log(None, None) == 1  # type: ignore[arg-type]
    assert "BROKEN at its end" in capsys.readouterr().err


def test_a_head_that_cannot_be_written_leaves_the_event_recorded(
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(
        "heliograph.web.audit.head.head_path", lambda: Path("/nonexistent/dir/head")
    )
    with caplog.at_level("ERROR", logger="heliograph.security_log"):
        records = record_committed(django_capture_on_commit_callbacks, count=1)
    assert len(records) == 1
    assert "security_log.head_not_written" in caplog.text


def test_retiring_the_key_that_signed_the_head_is_refused(
    django_capture_on_commit_callbacks: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keys retire` counts the head as a user of the platform key that signed it."""
    from heliograph.core.crypto.keyring import PLATFORM, DataKeyInfo
    from heliograph.core.errors import InputError
    from heliograph.ops import keys

    record_committed(django_capture_on_commit_callbacks)
    signing = head.signing_key_id()
    assert signing is not None
    retired: list[str] = []

    class Keyring:
        def status(self) -> list[DataKeyInfo]:
            return [DataKeyInfo(signing, PLATFORM, "kek-1", "", "decrypt-only")]  # type: ignore[arg-type]

        def retire_tenant_key(self, tenant_id: int, key_id: str) -> None:
            retired.append(key_id)

    monkeypatch.setattr(keys, "usage", lambda settings: {})
    monkeypatch.setattr(keys, "store_key_state", lambda settings: {"keys_in_store": []})
    with pytest.raises(InputError, match="security log's head record"):
        keys.retire_key(None, Keyring(), signing)  # type: ignore[arg-type]
    monkeypatch.setattr(head, "signing_key_id", lambda: "another-key")
    keys.retire_key(None, Keyring(), signing)  # type: ignore[arg-type]
    assert retired == [signing]
