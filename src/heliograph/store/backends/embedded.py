"""The default backend: chDB, ClickHouse running inside this process on a local directory."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import chdb
import msgspec

from heliograph.core.tenancy import TenantScope, require_scope
from heliograph.store.backends import disk_encryption
from heliograph.store.backends.base import Row, StoreError, insert_error
from heliograph.store.backends.disk_encryption import DiskKey
from heliograph.store.backends.params import encode_params
from heliograph.store.rows import (
    CLEAR_STAGING,
    COUNT_STAGED,
    INSERT_FROM_STAGING,
    STAGE_ROWS,
    STAGING_DDL,
    EventBatch,
)
from heliograph.store.sql import ParamValue, ScopedStatement, assert_scoped

# Integers as JSON numbers (not strings) so both backends hand back the same Python types.
_SESSION_SETTINGS = "output_format_json_quote_64bit_integers=0"


class _Result(msgspec.Struct):
    data: list[Row]


_decode = msgspec.json.Decoder(_Result).decode


class EmbeddedBackend:
    """One chDB connection, serialised by a lock (the web app and loader share it)."""

    def __init__(self, path: Path, disk_keys: list[DiskKey]) -> None:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._disk_keys = disk_keys
        # Every table's files go through the AES-256 encrypted disk (disk_encryption.py).
        config = disk_encryption.prepare(path, disk_keys)
        try:
            # chdb and chdb-core both ship chdb/__init__.py, typed in one and not in the other;
            # which one a fresh environment holds depends on install order, so call it as Any.
            connect: Any = chdb.connect
            self._conn: Any = connect(f"file:{path}?config-file={config}&{_SESSION_SETTINGS}")
            # Internal to this backend: holds one batch at a time and no tenant column.
            self._conn.query(STAGING_DDL)
        except Exception as exc:  # chDB raises RuntimeError subclasses; keep the cause chained
            raise StoreError(
                f"cannot open the event store at {path} (a running heliograph serve holds it: "
                "chDB opens a store in one process)"
            ) from exc

    def _run(self, sql: str, params: dict[str, ParamValue]) -> list[Row]:
        """Execute one statement; private: callers go through select() or unscoped_execute()."""
        with self._lock:
            if self._conn is None:
                raise StoreError("the event store is closed")
            try:
                result = self._conn.query(sql, "JSONCompact", params=encode_params(params))
            except Exception as exc:
                raise StoreError("the event store refused a statement") from exc
        payload = result.bytes()
        return _decode(payload).data if payload else []

    def select(self, stmt: ScopedStatement) -> list[Row]:
        stmt = assert_scoped(stmt)
        return self._run(stmt.sql, dict(stmt.params))

    def insert(self, scope: TenantScope, batch: EventBatch) -> int:
        if require_scope(scope).tenant_id != batch.tenant_id:
            raise StoreError("batch was built for another tenant")
        with self._lock:
            if self._conn is None:
                raise StoreError("the event store is closed")
            try:
                self._stage(batch)
                self._conn.query(
                    INSERT_FROM_STAGING, "CSV", params={"tenant_id": str(batch.tenant_id)}
                )
            except StoreError:
                raise
            except Exception as exc:
                raise insert_error(exc) from exc
            finally:
                self._conn.query(CLEAR_STAGING)
        return batch.rows

    def _stage(self, batch: EventBatch) -> None:
        """Stream the batch into the staging table and check that every row arrived.

        Why staging: a bound String parameter costs 3-4x more than streaming the same JSON,
        and chDB 4.4's streaming insert reports success even when a later step (a
        materialised view, a constraint) drops the rows. Streaming only into a plain Memory
        table, counting what arrived, then moving it with one ordinary INSERT ... SELECT
        keeps the speed and surfaces every error. The caller holds the lock, so the staging
        table only ever holds this batch.
        """
        self._conn.query(CLEAR_STAGING)
        with self._conn.send_insert(STAGE_ROWS, "JSONEachRow") as inserter:
            inserter.append(batch.payload)
            inserter.finish()
        staged = self._conn.query(COUNT_STAGED, "JSONCompact")
        if _decode(staged.bytes()).data != [[batch.rows]]:
            raise StoreError("the event store lost rows while staging an insert")

    def unscoped_execute(self, sql: str, params: dict[str, ParamValue] | None = None) -> list[Row]:
        # Deliberate bypass of the tenant guard, for schema DDL, the schema version table and a
        # migration's backfill (INSERT ... SELECT between tables, schema/migrations.py); it must
        # never return tenant rows to a caller.
        return self._run(sql, params or {})

    def ping(self) -> bool:
        try:
            return self._run("SELECT 1", {}) == [[1]]
        except StoreError:
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                disk_encryption.forget(self._disk_keys)
