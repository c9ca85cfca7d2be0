"""Security events: one ECS-style schema, one hash-chained append-only log, one API.

Every module records through :func:`record`; where the records go is configured once per
process with :func:`configure` (the web app installs a database sink).  Each stored record
carries the SHA-256 of the previous record's hash and its own canonical JSON, so changing,
inserting or deleting a record breaks the chain at that point (see :func:`verify_chain`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

log = logging.getLogger("heliograph.security")

GENESIS = "0" * 64
Outcome = Literal["success", "failure", "unknown"]
Category = Literal["authentication", "iam", "configuration", "network", "web", "database", "file"]


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security-relevant fact, named with ECS field names when rendered."""

    action: str  # event.action, dotted: "user.login", "collector.rejected", ...
    category: Category
    outcome: Outcome
    tenant_id: int | None = None
    user_id: int | None = None
    source_ip: str | None = None
    http_method: str | None = None
    http_path: str | None = None
    http_status: int | None = None
    message: str = ""
    labels: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def document(self) -> dict[str, object]:
        """Return the ECS-style document that is stored and hashed."""
        doc: dict[str, object] = {
            "@timestamp": self.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
            "event": {"action": self.action, "category": self.category, "outcome": self.outcome},
        }
        if self.tenant_id is not None:
            doc["tenant"] = {"id": self.tenant_id}
        if self.user_id is not None:
            doc["user"] = {"id": self.user_id}
        if self.source_ip:
            doc["source"] = {"ip": self.source_ip}
        http = _http(self)
        if http:
            doc["http"] = http
        if self.message:
            doc["message"] = self.message
        if self.labels:
            doc["labels"] = dict(self.labels)
        return doc


def _http(event: SecurityEvent) -> dict[str, object]:
    http: dict[str, object] = {}
    if event.http_method:
        http["request"] = {"method": event.http_method}
    if event.http_status is not None:
        http["response"] = {"status_code": event.http_status}
    if event.http_path:
        http["url"] = {"path": event.http_path}
    return http


def canonical(document: Mapping[str, object]) -> bytes:
    """Serialise a document the one way its hash is computed."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous: str, document: Mapping[str, object]) -> str:
    """Return the hash that links ``document`` to the record before it."""
    return hashlib.sha256(previous.encode("ascii") + canonical(document)).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as read back from the log, for verification."""

    seq: int
    document: Mapping[str, object]
    previous_hash: str
    hash: str
    columns_match: bool = True  # the stored copies of indexed fields agree with the document


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of checking a log: how many records, and the first broken one if any."""

    records: int
    first_bad_seq: int | None = None
    reason: str = ""
    # What the end of the log was checked against (the web app's head record): "" if not
    # checked, "none" if no head was ever written, else which record; and what is wrong with it.
    head_status: str = ""
    head_problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and not self.head_problem


def verify_chain(records: Iterable[StoredRecord]) -> ChainReport:
    """Recompute the chain in order and name the first record that does not fit."""
    previous = GENESIS
    count = 0
    for record in records:
        count += 1
        if record.previous_hash != previous:
            return ChainReport(count, record.seq, "does not link to the record before it")
        if chain_hash(previous, record.document) != record.hash:
            return ChainReport(count, record.seq, "content does not match its hash")
        if not record.columns_match:
            return ChainReport(count, record.seq, "indexed columns differ from the hashed document")
        previous = record.hash
    return ChainReport(count)


class Sink(Protocol):
    """Where security events are appended (the web app's database, in a running system)."""

    def append(self, events: Sequence[SecurityEvent]) -> None: ...


class LogSink:
    """Fallback sink before a store is configured: structured log lines, nothing kept."""

    def append(self, events: Sequence[SecurityEvent]) -> None:
        for event in events:
            log.warning("security.%s %s", event.action, canonical(event.document()).decode())


_lock = threading.Lock()
_sink: Sink = LogSink()


def configure(sink: Sink) -> None:
    """Install the process-wide sink."""
    global _sink
    with _lock:
        _sink = sink


def record(event: SecurityEvent) -> None:
    """Append one security event to the log."""
    _sink.append([event])


def record_many(events: Sequence[SecurityEvent]) -> None:
    """Append several security events at once (one chain extension)."""
    if events:
        _sink.append(events)
