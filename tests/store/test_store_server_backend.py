"""The ClickHouse-server backend's SQL and parameter path, without a server.

No ClickHouse server can be installed here (Debian ships 18.16, which predates typed query
parameters; PyPI has none), so these tests drive ServerBackend with a recording stand-in for the
clickhouse-connect client, and check clickhouse-connect's own server-side binding of our values
against the ClickHouse parser that chDB embeds.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from clickhouse_connect.driver.binding import bind_query
from test_store_api import HOSTILE

from conftest import event
from heliograph.core.tenancy import TenantScope
from heliograph.store import api
from heliograph.store.backends.server import ServerBackend, client_params
from heliograph.store.rows import INSERT_FROM_BODY, build_batch
from heliograph.store.schema import MIGRATIONS, migrate
from heliograph.store.sql import EventQuery, UnscopedQueryError

A = TenantScope(42)


class RecordingClient:
    """Stands in for clickhouse_connect's Client: records calls, answers with canned rows."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[tuple[str, str, Any, Any]] = []
        self.rows: list[tuple[Any, ...]] = []
        self.closed = False

    def query(self, sql: str, parameters: Any = None) -> SimpleNamespace:
        self.calls.append(("query", sql, parameters, None))
        return SimpleNamespace(result_rows=self.rows)

    def command(self, cmd: str, parameters: Any = None, data: Any = None) -> int:
        self.calls.append(("command", cmd, parameters, data))
        return 0

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def backend(client: RecordingClient) -> ServerBackend:
    def factory(**kwargs: Any) -> RecordingClient:
        client.kwargs = kwargs
        return client

    return ServerBackend("http://user:pw@ch.internal:8123/analytics", client_factory=factory)


def test_client_is_made_from_the_url(backend: ServerBackend, client: RecordingClient) -> None:
    assert client.kwargs["dsn"] == "http://user:pw@ch.internal:8123/analytics"


def test_select_sends_placeholders_and_values_separately(
    backend: ServerBackend, client: RecordingClient
) -> None:
    hostile = "'; DROP TABLE events; -- {x:String} \\"
    ids = (uuid.uuid4(),)
    stmt = (
        EventQuery(A, site_id=3)
        .where("path = {path:String} AND event_id IN {ids:Array(UUID)}", path=hostile, ids=ids)
        .select("count()")
        .build()
    )
    client.rows = [(5,)]
    assert backend.select(stmt) == [[5]]
    kind, sql, params, _ = client.calls[-1]
    assert (kind, sql) == ("query", stmt.sql)
    assert hostile not in sql
    assert params == {"tenant_id": 42, "site_id": 3, "path": hostile, "ids": list(ids)}


def test_select_refuses_forged_statements_before_the_client(
    backend: ServerBackend, client: RecordingClient
) -> None:
    import dataclasses

    legit = EventQuery(A).select("count()").build()
    with pytest.raises(UnscopedQueryError):
        backend.select(dataclasses.replace(legit, sql="SELECT count() FROM events"))
    with pytest.raises(UnscopedQueryError):
        backend.select("SELECT 1")  # type: ignore[arg-type]
    assert client.calls == []


def test_insert_binds_the_tenant_and_sends_rows_as_the_body(
    backend: ServerBackend, client: RecordingClient
) -> None:
    rows = [event(path="'; DROP TABLE events; --"), event()]
    batch = build_batch(A, rows)
    assert backend.insert(A, batch) == 2
    kind, sql, params, data = client.calls[-1]
    assert (kind, sql, params, data) == (
        "command",
        INSERT_FROM_BODY,
        {"tenant_id": 42},
        batch.payload,
    )
    assert "{tenant_id:UInt64}" in sql
    assert b"tenant_id" not in data  # the tenant comes from the scope, never from a row


def test_insert_refuses_a_batch_of_another_tenant(backend: ServerBackend) -> None:
    with pytest.raises(api.StoreError):
        backend.insert(TenantScope(43), build_batch(A, [event()]))


def test_migrations_run_through_the_client(backend: ServerBackend, client: RecordingClient) -> None:
    client.rows = [(0,)]
    assert migrate(backend) == MIGRATIONS[-1].version
    sent = [sql for _, sql, _, _ in client.calls]
    assert any("CREATE TABLE IF NOT EXISTS events" in sql for sql in sent)
    assert sent[-1].startswith("INSERT INTO heliograph_schema")


def test_close(backend: ServerBackend, client: RecordingClient) -> None:
    backend.close()
    assert client.closed
    with pytest.raises(api.StoreError):
        backend.select(EventQuery(A).select("1").build())


@pytest.mark.parametrize("value", HOSTILE)
def test_clickhouse_connect_binding_round_trips_through_clickhouse(store: Path, value: str) -> None:
    # What clickhouse-connect would send as param_v, parsed by the ClickHouse inside chDB.
    sql, bound = bind_query("SELECT {v:String}", client_params({"v": value}))
    backend = api._backend
    assert backend is not None
    assert sql == "SELECT {v:String}"
    conn = backend._conn  # type: ignore[attr-defined]
    got = conn.query(sql, "JSONCompactEachRow", params={"v": bound["param_v"]}).bytes()
    import json

    assert json.loads(got) == [value]


def test_clickhouse_connect_binds_uuid_arrays(store: Path) -> None:
    ids = (uuid.uuid4(), uuid.uuid4())
    _, bound = bind_query("SELECT {ids:Array(UUID)}", client_params({"ids": ids}))
    backend = api._backend
    assert backend is not None
    conn = backend._conn  # type: ignore[attr-defined]
    got = conn.query(
        "SELECT arrayMap(u -> toString(u), {ids:Array(UUID)})",
        "JSONCompactEachRow",
        params={"ids": bound["param_ids"]},
    ).bytes()
    import json

    assert json.loads(got) == [[str(i) for i in ids]]


def test_an_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(api.StoreError):
        ServerBackend("http://127.0.0.1:9/default?connect_timeout=1")


def test_clickhouse_connect_binds_string_arrays(store: Path) -> None:
    values = tuple(HOSTILE)
    _, bound = bind_query("SELECT {v:Array(String)}", client_params({"v": values}))
    backend = api._backend
    assert backend is not None
    conn = backend._conn  # type: ignore[attr-defined]
    got = conn.query(
        "SELECT {v:Array(String)}", "JSONCompactEachRow", params={"v": bound["param_v"]}
    ).bytes()
    import json

    assert json.loads(got) == [list(values)]
