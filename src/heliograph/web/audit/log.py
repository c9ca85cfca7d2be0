"""The database sink of the security event log, its tenant-scoped reader and its verifier."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial

from django.db import InterfaceError, OperationalError, connection, transaction

from heliograph.core import security_events
from heliograph.core.security_events import (
    GENESIS,
    ChainReport,
    SecurityEvent,
    StoredRecord,
    chain_hash,
    verify_chain,
)
from heliograph.core.tenancy import TenantScope, require_scope
from heliograph.web.audit import head
from heliograph.web.audit.models import AuditEntry, SecurityEventRecord

# Chain extension must be serial: a process lock for threads, plus a PostgreSQL advisory lock
# for other processes (SQLite already allows one writer at a time).
_append_lock = threading.Lock()
_log = logging.getLogger("heliograph.security_log")
_ADVISORY_KEY = 0x48454C494F  # "HELIO"


class DatabaseSink:
    """Append security events to the metadata database, extending the hash chain."""

    def append(self, events: Sequence[SecurityEvent]) -> None:
        if connection.in_atomic_block:  # the caller's transaction: its fate is the caller's
            self._append(events)
            return
        try:
            self._append(events)
        except (OperationalError, InterfaceError):
            # Outside a transaction of the caller's, a failure to reach the database (a
            # connection the server dropped: a restart, a failover) rolled this append back
            # whole: replace the connection and append once more, so the event is not lost.
            # Threads outside a request (the collector's rejection summaries, the loader) have
            # no request boundary at which Django would replace it.
            connection.close()
            self._append(events)

    def _append(self, events: Sequence[SecurityEvent]) -> None:
        with _append_lock, transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_KEY])
            # The head is read before any record (SQLite's snapshot starts at the first read).
            intact, newest_record = head.check_end(_newest, _hash_at)
            previous = newest_record[1] if newest_record is not None else GENESIS
            newest: SecurityEventRecord | None = None
            for event in events:
                newest = chain_record(event, previous)
                previous = newest.hash
            if newest is not None and intact:
                # Once committed (the outermost transaction), outside the database too.
                transaction.on_commit(partial(head.advance_after_commit, newest.seq, newest.hash))
            elif newest is not None:
                # New records chain onto whatever end the database has now: moving the head
                # on would bless a cut or rewritten end. It stays, as evidence.
                _log.error(
                    "security_log.head_kept seq=%d: the log's end does not match its head "
                    "record; see `heliograph security-log verify`",
                    newest.seq,
                )


def chain_record(event: SecurityEvent, previous: str) -> SecurityEventRecord:
    """Store ``event`` as a record chained onto the record whose hash is ``previous``, in the
    caller's transaction. The sink calls it under its lock, with the newest record's hash;
    any other ``previous`` forks the chain (bench/security_log.py's baseline keeps its own)."""
    document = event.document()
    return SecurityEventRecord.objects.create(
        timestamp=event.timestamp,
        tenant_id=event.tenant_id,
        action=event.action,
        outcome=event.outcome,
        document=document,
        previous_hash=previous,
        hash=chain_hash(previous, document),
    )


def _newest() -> tuple[int, str] | None:
    return SecurityEventRecord.objects.order_by("-seq").values_list("seq", "hash").first()


def _hash_at(seq: int) -> str | None:
    return SecurityEventRecord.objects.filter(seq=seq).values_list("hash", flat=True).first()


def install() -> None:
    """Make the database the process's security event log."""
    security_events.configure(DatabaseSink())


def tenant_security_events(
    scope: TenantScope,
    *,
    since: datetime | None = None,
    limit: int = 200,
    action_prefix: str = "",
) -> list[SecurityEventRecord]:
    """Return the newest security events of one tenant (never another tenant's)."""
    records = SecurityEventRecord.objects.filter(tenant_id=require_scope(scope).tenant_id)
    if since is not None:
        records = records.filter(timestamp__gte=since)
    if action_prefix:
        records = records.filter(action__startswith=action_prefix)
    return list(records.order_by("-seq")[:limit])


def tenant_audit_entries(
    scope: TenantScope, *, limit: int = 200, action_prefix: str = ""
) -> list[AuditEntry]:
    """Return the newest audit entries of one tenant; the prefix matches "entity.action"."""
    entries = AuditEntry.objects.filter(tenant_id=require_scope(scope).tenant_id)
    entity, dot, action = action_prefix.partition(".")
    if dot:
        entries = entries.filter(entity=entity, action__startswith=action)
    elif entity:
        entries = entries.filter(entity__startswith=entity)
    return list(entries.order_by("-id")[:limit])


def _stored() -> Iterator[StoredRecord]:
    rows = SecurityEventRecord.objects.order_by("seq").values_list(
        "seq", "document", "previous_hash", "hash", "tenant_id", "action", "outcome", "timestamp"
    )
    for seq, document, previous_hash, digest, tenant_id, action, outcome, at in rows.iterator(
        chunk_size=2000
    ):
        event = document.get("event", {}) if isinstance(document, dict) else {}
        tenant = document.get("tenant", {}) if isinstance(document, dict) else {}
        columns_match = (
            event.get("action") == action
            and event.get("outcome") == outcome
            and tenant.get("id") == tenant_id
            and document.get("@timestamp") == at.isoformat(timespec="microseconds")
        )
        yield StoredRecord(seq, document, previous_hash, digest, columns_match)


def verify() -> ChainReport:
    """Check the whole chain, then its end against the head record kept outside the database;
    the report names the first record that was tampered with, or what is wrong with the end."""
    try:
        known = head.read_head()  # before the records: it never names one they cannot show
    except head.HeadError as error:
        return replace(verify_chain(_stored()), head_problem=str(error))
    last: int | None = None  # the log's newest record
    at_head: str | None = None  # the hash of the record the head names
    newer = 0  # records after it

    def watched() -> Iterator[StoredRecord]:
        nonlocal last, at_head, newer
        for record in _stored():
            if known is not None and record.seq == known.seq:
                at_head = record.hash
            elif known is not None and record.seq > known.seq:
                newer += 1
            last = record.seq
            yield record

    report = verify_chain(watched())
    if not report.ok:
        return report
    if known is None:
        return replace(report, head_status="none")
    if last is None or last < known.seq:
        return replace(
            report,
            head_problem=(
                f"the log ends at record {last or 'none'}, but record {known.seq} was written: "
                "records were removed from its end"
            ),
        )
    if at_head != known.hash:
        return replace(
            report,
            head_problem=f"record {known.seq} is not the one written: the log was rewritten",
        )
    status = f"record {known.seq}"
    if newer:
        status += f"; {newer} newer record(s) not yet covered by it"
    return replace(report, head_status=status)


def accept_end() -> ChainReport:
    """Make the log's current end its head, whatever the head said, and record that it was
    done: for an operator who has looked into a head problem (the database restored from a
    backup, a damaged head file). Refused while the chain itself is broken."""
    report = verify_chain(_stored())
    if not report.ok:
        return report
    try:
        known = head.read_head()
        before = f"record {known.seq}" if known else "none"
    except head.HeadError:
        before = "damaged"
    end = SecurityEventRecord.objects.order_by("-seq").values_list("seq", "hash").first()
    head.reset(end)
    security_events.record(
        SecurityEvent(
            action="security_log.end_accepted",
            category="configuration",
            outcome="success",
            labels={"head_before": before, "head_now": f"record {end[0]}" if end else "none"},
        )
    )
    return verify()
