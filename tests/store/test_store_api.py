"""Writing events, finding known ids, schema, thread safety, and hostile strings as data."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from conftest import T0, event
from heliograph.core.config import Settings
from heliograph.core.errors import InputError
from heliograph.core.tenancy import TenantScope
from heliograph.store import api
from heliograph.store.backends.base import Backend
from heliograph.store.backends.params import encode_param
from heliograph.store.queries.events import ID_CHUNK
from heliograph.store.schema import MIGRATIONS, migrate
from heliograph.store.schema.migrations import applied_version

HOSTILE = [
    "'",
    '"',
    "\\",
    "\\'",
    "'; DROP TABLE events; --",
    "/a' OR '1'='1",
    "{x:String}",
    "{tenant_id:UInt64}",
    "$$ heredoc $$",
    "line\nbreak\ttab\rcr\0nul",
    "\\N",
    "ünïcødé ☃ 🦜",
    "/path?q=1&r=2#frag",
]
Scopes = Callable[[], TenantScope]


def _backend() -> Backend:
    backend = api._backend  # the test looks behind the door on purpose
    assert backend is not None
    return backend


def test_store_is_ready_and_open_is_idempotent(store: Path) -> None:
    assert api.store_ready()
    api.open_store(Settings(data_dir=store))  # same directory: a no-op
    assert api.store_ready()


def test_a_second_store_cannot_be_opened_alongside(store: Path, tmp_path: Path) -> None:
    with pytest.raises(api.StoreError):
        api.open_store(Settings(data_dir=tmp_path))


def test_schema_is_at_the_newest_version_and_migrate_is_idempotent(store: Path) -> None:
    backend = _backend()
    assert applied_version(backend) == MIGRATIONS[-1].version
    assert migrate(backend) == MIGRATIONS[-1].version
    rows = backend.unscoped_execute("SELECT count() FROM heliograph_schema FINAL")
    assert rows == [[len(MIGRATIONS)]]


def test_events_table_is_partitioned_and_ordered_by_tenant_first(store: Path) -> None:
    rows = _backend().unscoped_execute(
        "SELECT partition_key, sorting_key FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'events'"
    )
    assert rows == [["toYYYYMM(ts)", "tenant_id, site_id, toDate(ts), type, path, event_id"]]


def test_write_and_count_per_tenant(two_tenants: tuple[TenantScope, TenantScope]) -> None:
    a, b = two_tenants
    assert api.write_events(a, [event(site_id=2), event(site_id=2)]) == 2
    assert api.count_events(a) == 3
    assert api.count_events(a, site_id=2) == 2
    assert api.count_events(b) == 1
    assert api.count_events(b, site_id=2) == 0


def test_write_nothing(two_tenants: tuple[TenantScope, TenantScope]) -> None:
    a, _ = two_tenants
    assert api.write_events(a, []) == 0
    assert api.count_events(a) == 1


def test_repeated_event_ids_in_one_call_are_written_once(new_scope: Scopes) -> None:
    scope = new_scope()
    first = event()
    assert api.write_events(scope, [first, first, event(), first]) == 2
    assert api.count_events(scope) == 2


def test_existing_event_ids(two_tenants: tuple[TenantScope, TenantScope]) -> None:
    a, b = two_tenants
    mine, theirs = event(), event()
    api.write_events(a, [mine])
    api.write_events(b, [theirs])
    unknown = uuid.uuid4()
    assert api.existing_event_ids(a, [mine.event_id, theirs.event_id, unknown]) == {mine.event_id}
    assert api.existing_event_ids(b, [mine.event_id]) == set()
    assert api.existing_event_ids(a, []) == set()


def test_existing_event_ids_in_several_chunks(new_scope: Scopes) -> None:
    scope = new_scope()
    rows = [event() for _ in range(ID_CHUNK + 10)]
    api.write_events(scope, rows)
    asked = [r.event_id for r in rows] + [uuid.uuid4() for _ in range(5)]
    random.shuffle(asked)
    assert api.existing_event_ids(scope, asked) == {r.event_id for r in rows}


def test_existing_event_ids_refuses_non_uuids(new_scope: Scopes) -> None:
    with pytest.raises(TypeError):
        api.existing_event_ids(new_scope(), ["'; DROP TABLE events; --"])  # type: ignore[list-item]


@pytest.mark.parametrize("bad_scope", [None, 1, object()])
def test_every_api_function_needs_a_scope(store: Path, bad_scope: object) -> None:
    window = {"site_id": 1, "start": T0, "end": T0 + timedelta(days=1)}
    calls: list[Callable[[], object]] = [
        lambda: api.write_events(bad_scope, [event()]),  # type: ignore[arg-type]
        lambda: api.existing_event_ids(bad_scope, []),  # type: ignore[arg-type]
        lambda: api.count_events(bad_scope),  # type: ignore[arg-type]
        lambda: api.site_activity(bad_scope, site_id=1),  # type: ignore[arg-type]
        lambda: api.overview(bad_scope, **window),  # type: ignore[arg-type]
        lambda: api.top_pages(bad_scope, **window),  # type: ignore[arg-type]
        lambda: api.entry_pages(bad_scope, **window),  # type: ignore[arg-type]
        lambda: api.exit_pages(bad_scope, **window),  # type: ignore[arg-type]
        lambda: api.referrers(bad_scope, **window),  # type: ignore[arg-type]
        lambda: api.devices(bad_scope, **window),  # type: ignore[arg-type]
        lambda: api.click_map(bad_scope, **window, path="/"),  # type: ignore[arg-type]
        lambda: api.scroll_map(bad_scope, **window, path="/"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()


@pytest.mark.parametrize(
    "fields",
    [
        {"x": 2**32},
        {"y": 2**40},
        {"dh": 2**33},
        {"type": "purchase"},
        {"site_id": -3},
        {"depth": 256},
    ],
)
def test_out_of_range_events_are_refused_whole(new_scope: Scopes, fields: dict) -> None:
    scope = new_scope()
    with pytest.raises(InputError) as caught:
        api.write_events(scope, [event(), event(**fields)])
    assert caught.value.code == "invalid_event"
    assert api.count_events(scope) == 0


def test_negative_numbers_are_refused(new_scope: Scopes) -> None:
    scope = new_scope()
    with pytest.raises(InputError):
        api.write_events(scope, [event(x=-1)])
    assert api.count_events(scope) == 0


def test_write_events_takes_event_rows_only(new_scope: Scopes) -> None:
    with pytest.raises(TypeError):
        api.write_events(new_scope(), [{"event_id": uuid.uuid4()}])  # type: ignore[list-item]


def test_times_with_another_offset_are_stored_in_utc(new_scope: Scopes) -> None:
    scope = new_scope()
    paris_winter = timezone(timedelta(hours=1))
    api.write_events(scope, [event(ts=T0.astimezone(paris_winter) + timedelta(milliseconds=7))])
    activity = api.site_activity(scope, site_id=1)
    assert activity.first_seen == T0 + timedelta(milliseconds=7)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_are_stored_and_matched_as_data(new_scope: Scopes, value: str) -> None:
    scope, other = new_scope(), new_scope()
    api.write_events(other, [event(path=value, type="click", selector=value, x=1, y=1)])
    rows = [
        event(
            path=value,
            pageview_id=value,
            session_id=value,
            visitor_id=value,
            referrer_host=value,
            device=value,
        ),
        event(path=value, pageview_id=value, type="click", selector=value, x=3, y=4, dw=10),
        event(path=value, pageview_id=value, type="scroll", depth=50),
    ]
    assert api.write_events(scope, rows) == 3
    window = {"site_id": 1, "start": T0, "end": T0 + timedelta(hours=1)}
    assert [(p.path, p.pageviews) for p in api.top_pages(scope, **window)] == [(value, 1)]
    clicks = api.click_map(scope, **window, path=value)
    assert (clicks.clicks, [s.selector for s in clicks.selectors]) == (1, [value])
    assert api.scroll_map(scope, **window, path=value).reach[5].pageviews == 1
    assert api.devices(scope, **window).device[0].name == (value or "(unknown)")
    assert api.count_events(scope) == 3  # the table is intact, the tenant filter held


@pytest.mark.parametrize("value", ["' OR '1'='1", "%", "/%", "*", "' OR path != '"])
def test_hostile_query_values_match_nothing(new_scope: Scopes, value: str) -> None:
    scope = new_scope()
    api.write_events(scope, [event(type="click", x=1, y=1, selector="#a")])
    window = {"site_id": 1, "start": T0, "end": T0 + timedelta(hours=1)}
    assert api.click_map(scope, **window, path=value).clicks == 0
    assert api.scroll_map(scope, **window, path=value).pageviews == 0


def test_parameter_escaping_round_trips(store: Path) -> None:
    rng = random.Random(5)
    alphabet = "ab'\"\\\t\n\r\0{}:;`%$ \b\f\x7f☃"
    values = HOSTILE + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(300)
    ]
    for value in values:
        got = _backend().unscoped_execute("SELECT {v:String}", {"v": value})
        assert got == [[value]], repr(value)
    assert encode_param(7) == "7"


def test_concurrent_writers_and_readers(new_scope: Scopes) -> None:
    scopes = [new_scope() for _ in range(4)]
    errors: list[BaseException] = []
    window = {"site_id": 1, "start": T0, "end": T0 + timedelta(days=1)}

    def work(scope: TenantScope) -> None:
        try:
            for i in range(5):
                api.write_events(scope, [event(session_id=f"s{i}") for _ in range(20)])
                api.overview(scope, **window)
                api.top_pages(scope, **window)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in scopes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [api.count_events(s) for s in scopes] == [100] * 4
    assert [api.overview(s, **window).sessions for s in scopes] == [5] * 4


def test_export_events_returns_the_tenants_rows_page_by_page(
    two_tenants: tuple[TenantScope, TenantScope],
) -> None:
    a, b = two_tenants
    rows = [
        event(site_id=site, ts=T0 + timedelta(seconds=n), path=f"/p{n}", x=n, selector="#s")
        for n in range(5)
        for site in (1, 2)
    ]
    api.write_events(a, rows)
    exported = list(api.export_events(a, page=3))
    assert len(exported) == 11  # ten rows and the fixture's "/a-only"
    assert {r.event_id for r in rows} < {r.event_id for r in exported}
    assert "/b-only" not in {r.path for r in exported}
    assert exported == sorted(exported, key=lambda r: (r.site_id, r.ts))
    by_id = {r.event_id: r for r in exported}
    assert all(by_id[r.event_id] == r for r in rows)  # every field round-trips
    assert [r.site_id for r in api.export_events(a, site_id=2)] == [2] * 5
    assert [r.path for r in api.export_events(b)] == ["/b-only"]


def test_export_events_needs_a_scope(store: Path) -> None:
    with pytest.raises(TypeError):
        api.export_events(1)  # type: ignore[arg-type]


def test_the_embedded_executor_refuses_forged_statements(
    two_tenants: tuple[TenantScope, TenantScope],
) -> None:
    import dataclasses

    from heliograph.store.sql import EventQuery, UnscopedQueryError

    a, _ = two_tenants
    legit = EventQuery(a).select("count()").build()
    assert _backend().select(legit) == [[1]]
    for sql in ("SELECT count() FROM events", legit.sql.replace("tenant_id =", "tenant_id >=")):
        with pytest.raises(UnscopedQueryError):
            _backend().select(dataclasses.replace(legit, sql=sql))


def test_close_and_reopen_keeps_the_data(store: Path, new_scope: Scopes) -> None:
    scope = new_scope()
    api.write_events(scope, [event(), event()])
    api.close_store()
    try:
        assert not api.store_ready()
        with pytest.raises(api.StoreError):
            api.count_events(scope)
        with pytest.raises(api.StoreError):
            api.write_events(scope, [event()])
    finally:
        api.open_store(Settings(data_dir=store))
    assert api.store_ready()
    assert api.count_events(scope) == 2


def test_string_array_parameters_round_trip(store: Path) -> None:
    rng = random.Random(6)
    alphabet = "ab'\"\\\t\n\r\0{}:;`%$ \b\f\x7f☃[],"
    values = HOSTILE + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(100)
    ]
    for at in range(0, len(values), 7):
        chunk = tuple(values[at : at + 7])
        got = _backend().unscoped_execute("SELECT {v:Array(String)}", {"v": chunk})
        assert got == [[list(chunk)]], repr(chunk)
