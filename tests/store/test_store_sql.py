"""The query builder: no statement without a scope, tenant predicate first, values as data."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from heliograph.core.errors import InputError
from heliograph.core.tenancy import TenantScope
from heliograph.store.sql import (
    TABLES,
    EventQuery,
    ScopedStatement,
    UnscopedQueryError,
    assert_scoped,
    union_all,
)

A = TenantScope(7)
START = datetime(2026, 1, 5, tzinfo=UTC)
END = START + timedelta(days=1)


class FakeScope:
    tenant_id = 7


@pytest.mark.parametrize("scope", [None, 7, "7", FakeScope(), {"tenant_id": 7}])
def test_a_query_cannot_be_built_without_a_scope(scope: object) -> None:
    with pytest.raises(TypeError):
        EventQuery(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize("tenant_id", [0, -1, True, 1.0, "1", None])
def test_a_scope_needs_a_positive_int(tenant_id: object) -> None:
    with pytest.raises(TypeError):
        TenantScope(tenant_id)  # type: ignore[arg-type]


def test_statements_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError):
        ScopedStatement("SELECT 1 FROM events", {"tenant_id": 7}, 7)


def test_generated_sql_snapshot() -> None:
    stmt = (
        EventQuery(A, site_id=3, start=START, end=END)
        .where("type = 'click' AND path = {path:String}", path="/x")
        .select("selector", "count() AS clicks")
        .group_by("selector")
        .order_by("clicks DESC")
        .limit(5)
        .build()
    )
    assert stmt.sql == (
        "SELECT selector, count() AS clicks FROM events "
        "WHERE tenant_id = {tenant_id:UInt64} "
        "AND (site_id = {site_id:UInt64}) "
        "AND (ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}) "
        "AND (type = 'click' AND path = {path:String}) "
        "GROUP BY selector ORDER BY clicks DESC LIMIT {limit:UInt32}"
    )
    assert stmt.params == {
        "tenant_id": 7,
        "site_id": 3,
        "start": "2026-01-05 00:00:00.000",
        "end": "2026-01-06 00:00:00.000",
        "path": "/x",
        "limit": 5,
    }
    assert assert_scoped(stmt) is stmt


def test_wrapped_sql_keeps_the_guard_inside() -> None:
    inner = EventQuery(A).select("session_id", "count() AS n").group_by("session_id").build()
    outer = inner.wrap("countIf(n = 1)", "LIMIT {top:UInt32}", top=3)
    assert outer.sql == (
        "SELECT countIf(n = 1) FROM (SELECT session_id, count() AS n FROM events "
        "WHERE tenant_id = {tenant_id:UInt64} GROUP BY session_id) LIMIT {top:UInt32}"
    )
    assert outer.params == {"tenant_id": 7, "top": 3}
    assert_scoped(outer)


def test_hostile_values_stay_out_of_the_sql() -> None:
    hostile = "'; DROP TABLE events; -- {x:String} \\"
    stmt = EventQuery(A).where("path = {path:String}", path=hostile).select("count()").build()
    assert hostile not in stmt.sql
    assert stmt.params["path"] == hostile


def _legit() -> ScopedStatement:
    return EventQuery(A).select("count()").build()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count() FROM events",
        "SELECT count() FROM events WHERE site_id = 1",
        "SELECT count() FROM events WHERE tenant_id = 7",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} OR 1 = 1",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64}; DROP TABLE events",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} AND (1) "
        "UNION ALL SELECT count() FROM events",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} AND (event_id IN "
        "(SELECT event_id FROM events))",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} AND (x IN other)",
        "SELECT count() FROM other WHERE tenant_id = {tenant_id:UInt64}",
        "SELECT count() FROM events AS e JOIN events AS f ON e.event_id = f.event_id "
        "WHERE tenant_id = {tenant_id:UInt64}",
        "SELECT count() FROM numbers(10)",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} AND (1) OR (1)",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} AND (1) OR 1",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} AND (1",
        "SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64} AND (a) GROUP BY x "
        "UNION ALL SELECT count() FROM events",
        "SELECT 1",
    ],
)
def test_the_executor_guard_refuses_forged_sql(sql: str) -> None:
    forged = dataclasses.replace(_legit(), sql=sql)
    with pytest.raises(UnscopedQueryError):
        assert_scoped(forged)


@pytest.mark.parametrize("params", [{}, {"tenant_id": 8}, {"tenant_id": True}, {"tenant_id": "7"}])
def test_the_executor_guard_refuses_a_wrong_tenant_binding(params: dict) -> None:
    with pytest.raises(UnscopedQueryError):
        assert_scoped(dataclasses.replace(_legit(), params=params))


def test_the_executor_guard_refuses_other_objects() -> None:
    with pytest.raises(UnscopedQueryError):
        assert_scoped("SELECT count() FROM events WHERE tenant_id = {tenant_id:UInt64}")


@pytest.mark.parametrize("fragment", ["1) OR (1", "(1", "1)", ") OR 1 = 1 OR ("])
def test_fragments_cannot_escape_their_parentheses(fragment: str) -> None:
    with pytest.raises(TypeError):
        EventQuery(A).where(fragment)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EventQuery(A).having(fragment)  # type: ignore[arg-type]


def test_placeholders_and_values_must_match() -> None:
    with pytest.raises(TypeError):
        EventQuery(A).where("path = {path:String}")
    with pytest.raises(TypeError):
        EventQuery(A).where("path = '/'", path="/")
    with pytest.raises(TypeError):
        EventQuery(A).where("path = {pth:String}", path="/")


@pytest.mark.parametrize("name", ["tenant_id", "site_id", "start", "end", "limit"])
def test_reserved_parameter_names_cannot_be_rebound(name: str) -> None:
    with pytest.raises(TypeError):
        EventQuery(A).where(f"x = {{{name}:UInt64}}", **{name: 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fragment", "value"),
    [
        ("x = {v:UInt32}", True),
        ("x = {v:UInt32}", "1 OR 1=1"),
        ("x = {v:UInt32}", 1.5),
        ("path = {v:String}", 5),
        ("event_id IN {v:Array(UUID)}", ("not-a-uuid",)),
        ("x = {v:Float64}", 1.0),
    ],
)
def test_values_must_fit_their_declared_type(fragment: str, value: object) -> None:
    with pytest.raises(TypeError):
        EventQuery(A).where(fragment, v=value)  # type: ignore[arg-type]


def test_array_of_uuids_binds() -> None:
    ids = (uuid.uuid4(), uuid.uuid4())
    stmt = EventQuery(A).where("event_id IN {ids:Array(UUID)}", ids=ids).select("1").build()
    assert stmt.params["ids"] == ids


def test_time_range_needs_aware_ordered_datetimes() -> None:
    naive = datetime(2026, 1, 5)  # noqa: DTZ001
    with pytest.raises(InputError):
        EventQuery(A, start=naive, end=END)
    with pytest.raises(InputError):
        EventQuery(A, start=END, end=START)
    with pytest.raises(TypeError):
        EventQuery(A, start=START)


def test_time_range_is_rendered_in_utc_with_milliseconds() -> None:
    from zoneinfo import ZoneInfo

    start = datetime(2026, 1, 5, 1, 0, 0, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    stmt = EventQuery(A, start=start, end=END).select("1").build()
    assert stmt.params["start"] == "2026-01-05 00:00:00.123"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_tenant_table_reads_through_the_guard(table: str) -> None:
    stmt = EventQuery(A, site_id=1, table=table, time="t").select("count()").build()  # type: ignore[arg-type]
    guarded = f"SELECT count() FROM {table} WHERE tenant_id = {{tenant_id:UInt64}}"  # noqa: S608
    assert stmt.sql.startswith(guarded)
    assert assert_scoped(stmt) is stmt


def test_only_tenant_tables_can_be_queried() -> None:
    with pytest.raises(UnscopedQueryError):
        EventQuery(A, table="heliograph_schema")  # type: ignore[arg-type]
    with pytest.raises(UnscopedQueryError):
        assert_scoped(
            dataclasses.replace(_legit(), sql=_legit().sql.replace("events", "events_staging"))
        )


def test_a_union_keeps_every_branch_guarded_and_one_tenant() -> None:
    a = EventQuery(A, site_id=1).where("path = {p:String}", p="/").select("path").build()
    b = EventQuery(A, site_id=1, table="page_days", time="day").select("path").build()
    both = union_all(a, b).wrap("count()")
    assert both.sql.startswith("SELECT count() FROM ((SELECT path FROM events WHERE tenant_id")
    assert " UNION ALL (SELECT path FROM page_days WHERE tenant_id = {tenant_id:UInt64}" in both.sql
    assert both.params == {"tenant_id": 7, "site_id": 1, "p": "/"}
    assert_scoped(both)
    with pytest.raises(UnscopedQueryError):
        union_all(a, EventQuery(TenantScope(8)).select("path").build())
    clash = EventQuery(A, site_id=2).select("path").build()
    with pytest.raises(TypeError):
        union_all(a, clash)
    unguarded = dataclasses.replace(b, sql="SELECT path FROM page_days")
    with pytest.raises(UnscopedQueryError):
        assert_scoped(union_all(a, unguarded))


def test_a_subquery_must_read_the_same_tenant_through_the_guard() -> None:
    inner = EventQuery(A, table="sessions").where("sign < 0").select("source").build()
    outer = EventQuery(A, table="sessions").where_in("source", inner).select("count()").build()
    assert "AND ((source) IN (SELECT source FROM sessions WHERE tenant_id = {tenant_id:UInt64}" in (
        outer.sql
    )
    assert_scoped(outer)
    with pytest.raises(UnscopedQueryError):
        EventQuery(A).where_in("source", EventQuery(TenantScope(8)).select("source").build())
    with pytest.raises(TypeError):
        EventQuery(A, site_id=1).where_in("x", EventQuery(A, site_id=2).select("x").build())
    # The subquery without its tenant predicate: the executor refuses the statement.
    forged = dataclasses.replace(
        outer,
        sql=outer.sql.replace(
            "SELECT source FROM sessions WHERE tenant_id = {tenant_id:UInt64} AND",
            "SELECT source FROM sessions WHERE",
        ),
    )
    with pytest.raises(UnscopedQueryError):
        assert_scoped(forged)


def test_string_arrays_and_whole_second_times_bind() -> None:
    stmt = (
        EventQuery(A, table="page_days", time="day")
        .where("path IN {paths:Array(String)}", paths=("/", "'x"))
        .where("hour >= {h:DateTime('UTC')}", h=START + timedelta(hours=3))
        .select("1")
        .build()
    )
    assert stmt.params["paths"] == ("/", "'x")
    masks = EventQuery(A).where("m IN {m:Array(UInt32)}", m=(1, 2**32 - 1)).select("1").build()
    assert masks.params["m"] == (1, 2**32 - 1)
    with pytest.raises(TypeError):
        EventQuery(A).where("m IN {m:Array(UInt32)}", m=(2**32,))
    assert stmt.params["h"] == "2026-01-05 03:00:00"
    with pytest.raises(TypeError):
        EventQuery(A).where("path IN {p:Array(String)}", p=("/", 5))
    with pytest.raises(TypeError):
        EventQuery(A).where("hour >= {h:DateTime('UTC')}", h=START + timedelta(milliseconds=5))
