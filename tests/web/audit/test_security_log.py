"""The security event log: one schema, hash-chained, append-only, tenant-scoped reads."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection, transaction
from django.db.utils import DatabaseError

from heliograph.core import security_events
from heliograph.core.security_events import SecurityEvent
from heliograph.core.tenancy import TenantScope
from heliograph.web.audit import log
from heliograph.web.audit.models import AppendOnlyError, SecurityEventRecord
from tests.web.audit.attacker import drop_append_only_guard

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def database_sink() -> None:
    log.install()


def login(tenant: int | None, outcome: str = "success", ip: str = "192.0.2.1") -> SecurityEvent:
    return SecurityEvent(action="user.login", category="authentication",
                         outcome=outcome,  # type: ignore[arg-type]
                         tenant_id=tenant, user_id=7, source_ip=ip, http_method="POST",
                         http_path="/login", http_status=302, labels={"method": "password"})


def record_some() -> list[SecurityEventRecord]:
    security_events.record(login(1))
    security_events.record_many([login(2, "failure"), login(None, "failure")])
    security_events.record(login(1))
    return list(SecurityEventRecord.objects.order_by("seq"))


def test_records_are_ecs_documents_chained_by_hash() -> None:
    records = record_some()
    first = records[0].document
    assert first["event"] == {"action": "user.login", "category": "authentication",
                              "outcome": "success"}
    assert first["tenant"] == {"id": 1}
    assert first["source"] == {"ip": "192.0.2.1"}
    assert first["http"] == {"request": {"method": "POST"}, "response": {"status_code": 302},
                             "url": {"path": "/login"}}
    assert "@timestamp" in first
    assert records[0].previous_hash == "0" * 64
    assert [r.previous_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert log.verify().ok
    assert log.verify().records == 4


def test_tenant_reads_see_only_their_tenant() -> None:
    record_some()
    mine = log.tenant_security_events(TenantScope(1))
    assert len(mine) == 2
    assert {r.tenant_id for r in mine} == {1}
    assert [r.tenant_id for r in log.tenant_security_events(TenantScope(2))] == [2]
    with pytest.raises(TypeError):
        log.tenant_security_events(None)  # type: ignore[arg-type]


def test_orm_refuses_changes() -> None:
    record = record_some()[0]
    record.outcome = "failure"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()


def test_database_refuses_updates() -> None:
    record_some()
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEventRecord.objects.filter(seq__gt=0).update(outcome="failure")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("document", {"event": {"action": "user.login", "category": "authentication",
                                "outcome": "failure"}}),
        ("outcome", "unknown"),
        ("tenant_id", 99),
        ("hash", "f" * 64),
        ("previous_hash", "e" * 64),
    ],
)
def test_tampering_is_found_at_the_first_bad_record(column: str, value: object) -> None:
    records = record_some()
    drop_append_only_guard()
    target = records[1]
    SecurityEventRecord.objects.filter(seq=target.seq).update(**{column: value})
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == target.seq


def test_deleting_a_record_in_the_middle_is_found() -> None:
    records = record_some()
    drop_append_only_guard()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS audit_securityeventrecord_append_only "
                           "ON audit_securityeventrecord")
        cursor.execute("DELETE FROM audit_securityeventrecord WHERE seq = %s", [records[1].seq])
    report = log.verify()
    assert report.first_bad_seq == records[2].seq
    assert "link" in report.reason


def test_cli_verify_names_the_first_bad_record(capsys: pytest.CaptureFixture[str]) -> None:
    from heliograph.cli import cmd_security_log

    records = record_some()
    assert cmd_security_log(None, None) == 0  # type: ignore[arg-type]
    assert "4 records" in capsys.readouterr().out
    drop_append_only_guard()
    SecurityEventRecord.objects.filter(seq=records[2].seq).update(action="user.logout")
    assert cmd_security_log(None, None) == 1  # type: ignore[arg-type]
    assert f"BROKEN at record {records[2].seq}" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_for_the_next_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first event after a drop (a restart, a failover) is not lost: in the collector's and
    the loader's threads no request boundary would have replaced the connection first."""
    security_events.record(login(1))
    if connection.vendor == "postgresql":  # the server really drops this connection
        import psycopg

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        params = {k: v for k, v in connection.get_connection_params().items()
                  if k != "cursor_factory"}  # fmt: skip
        with psycopg.connect(**params) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    else:  # SQLite has no server: the append's first read fails once as a dropped one would
        newest, failures = log._newest, [OperationalError("the connection was dropped")]

        def fail_once() -> tuple[int, str] | None:
            if failures:
                raise failures.pop()
            return newest()

        monkeypatch.setattr(log, "_newest", fail_once)
    security_events.record(login(2))
    security_events.record(login(3))
    assert [r.tenant_id for r in SecurityEventRecord.objects.order_by("seq")] == [1, 2, 3]
    assert log.verify().ok
