"""The scale-out backend: a ClickHouse server or cluster reached with clickhouse-connect.

Same schema and same SQL as the embedded backend. Values are bound server-side: the query
keeps its ``{name:Type}`` placeholders and clickhouse-connect sends each value as an HTTP
``param_<name>`` argument, which ClickHouse parses as data of the declared type.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from heliograph.core.tenancy import TenantScope, require_scope
from heliograph.store.backends.base import Row, StoreError, insert_error
from heliograph.store.rows import INSERT_FROM_BODY, EventBatch
from heliograph.store.sql import ParamValue, ScopedStatement, assert_scoped

ClientFactory = Callable[..., Any]


def _client_value(value: ParamValue) -> object:
    # clickhouse-connect renders a tuple as a ClickHouse tuple and a list as an array.
    if isinstance(value, tuple):
        return [v for v in value if isinstance(v, uuid.UUID | str | int)]
    return value


def client_params(params: dict[str, ParamValue]) -> dict[str, object]:
    """Return ``params`` in the Python shapes clickhouse-connect binds as the declared types."""
    return {name: _client_value(value) for name, value in params.items()}


def _default_factory(**kwargs: Any) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(**kwargs)


class ServerBackend:
    """One clickhouse-connect client, serialised by a lock (its HTTP session is not shared)."""

    def __init__(self, url: str, *, client_factory: ClientFactory = _default_factory) -> None:
        self._lock = threading.Lock()
        try:
            self._client: Any = client_factory(dsn=url, autogenerate_session_id=False)
        except Exception as exc:  # connection and auth errors differ by transport
            raise StoreError("cannot reach the ClickHouse server") from exc

    def _run(self, sql: str, params: dict[str, ParamValue]) -> list[Row]:
        """Execute one statement; private: callers go through select() or unscoped_execute()."""
        with self._lock:
            if self._client is None:
                raise StoreError("the event store is closed")
            try:
                result = self._client.query(sql, parameters=client_params(params))
            except Exception as exc:
                raise StoreError("the event store refused a statement") from exc
        return [list(row) for row in result.result_rows]

    def select(self, stmt: ScopedStatement) -> list[Row]:
        stmt = assert_scoped(stmt)
        return self._run(stmt.sql, dict(stmt.params))

    def insert(self, scope: TenantScope, batch: EventBatch) -> int:
        if require_scope(scope).tenant_id != batch.tenant_id:
            raise StoreError("batch was built for another tenant")
        with self._lock:
            if self._client is None:
                raise StoreError("the event store is closed")
            try:
                self._client.command(
                    INSERT_FROM_BODY,
                    parameters={"tenant_id": batch.tenant_id},
                    data=batch.payload,
                )
            except Exception as exc:
                raise insert_error(exc) from exc
        return batch.rows

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
            if self._client is not None:
                self._client.close()
                self._client = None
