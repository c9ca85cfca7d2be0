"""The loader moves spooled batches into the store exactly once, even across crashes."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from heliograph.collector import loader as loader_module
from heliograph.collector.loader import Loader, event_id, to_rows
from heliograph.collector.schema import SpoolBatch, SpoolCodec, WireEvent
from heliograph.collector.spool import HEADER, frame, sealed_segments
from heliograph.core import security_events
from heliograph.core.config import Settings
from heliograph.core.security_events import SecurityEvent
from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store

from .conftest import make_codec

TENANT_A, TENANT_B = 9101, 9102  # ids no other test uses: the store is shared by the session


def spooled(tenant: int, site: int, events: int, url: str = "https://a.example/x") -> SpoolBatch:
    now = int(time.time() * 1000)
    return SpoolBatch(
        batch_id=secrets.token_bytes(16),
        tenant_id=tenant,
        site_id=site,
        received_ms=now,
        visitor_hash="abcd",
        device="desktop",
        browser="Firefox",
        os="Linux",
        events=[
            WireEvent(type="click", ts=now, sid="s", pid=f"p{i}", url=url, sel="a", x=i, y=i)
            for i in range(events)
        ],
    )


@pytest.fixture
def codec(tmp_path: Path) -> SpoolCodec:
    return make_codec(tmp_path)


def write_segment(codec: SpoolCodec, spool: Path, name: str, batches: list[SpoolBatch]) -> Path:
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / f"{name}.seg"
    path.write_bytes(b"".join(frame(codec.seal(b)) for b in batches))
    return path


def test_rows_carry_derived_ids_and_enrichment() -> None:
    batch = spooled(1, 2, 3, url="https://a.example/docs/start?q=1#top")
    batch.events[0].ref = "https://www.google.com/search"
    rows = to_rows(batch)
    assert [r.event_id for r in rows] == [event_id(batch.batch_id, i) for i in range(3)]
    assert len({r.event_id for r in rows}) == 3
    assert rows[0].path == "/docs/start"
    assert rows[0].referrer_host == "www.google.com"
    assert rows[0].visitor_id == "abcd"  # cookieless: the server's salted hash stands in
    assert (rows[0].device, rows[0].browser) == ("desktop", "Firefox")


@pytest.mark.parametrize(
    ("sent", "stored", "path"),
    [
        ("https://a.example/docs/start?q=1#top", "https://a.example/docs/start", "/docs/start"),
        (
            "https://a.example/reset?token=s3cret&email=ana%40example.com",
            "https://a.example/reset",
            "/reset",
        ),
        (
            "https://a.example/?utm_source=news&email=ana@example.com&utm_campaign=spring#x",
            "https://a.example/?utm_source=news&utm_campaign=spring",
            "/",
        ),
        (  # ";" separates parameters too
            "https://a.example/?utm_source=x;email=ana@example.com;utm_medium=mail",
            "https://a.example/?utm_source=x&utm_medium=mail",
            "/",
        ),
        (  # campaign terms and contents often carry keywords or a subscriber's address
            "https://a.example/?utm_term=ana%40example.com&utm_content=ana&utm_medium=cpc",
            "https://a.example/?utm_medium=cpc",
            "/",
        ),
        (  # a session id as a path parameter
            "https://a.example/cart;jsessionid=0AB1C2/items;v=2?utm_source=x",
            "https://a.example/cart/items?utm_source=x",
            "/cart/items",
        ),
        ("https://a.example/p#frag?utm_source=in-the-fragment", "https://a.example/p", "/p"),
        (
            "https://a.example/p?utm_sourcex=1&xutm_source=2&UTM_SOURCE=3&utm_source",
            "https://a.example/p?utm_source",
            "/p",
        ),
        ("https://a.example/p?", "https://a.example/p", "/p"),
        ("https://a.example/plain", "https://a.example/plain", "/plain"),
        (  # an e-mail address in the path, plain or URL-encoded
            "https://a.example/unsubscribe/ana.b+news@mail.example.co.uk",
            "https://a.example/unsubscribe/(email)",
            "/unsubscribe/(email)",
        ),
        (
            "https://a.example/u/ana%40Example.com/edit?utm_source=x",
            "https://a.example/u/(email)/edit?utm_source=x",
            "/u/(email)/edit",
        ),
        (  # encoded twice, dots encoded, a domain with non-ASCII letters
            "https://a.example/u/ana%2540example.com/o'brien@ex%C3%A4mple%2Ecom/ana@例え.jp",
            "https://a.example/u/(email)/(email)/(email)",
            "/u/(email)/(email)/(email)",
        ),
        (  # in a campaign parameter that is kept
            "https://a.example/?utm_source=ana%40example.com&utm_medium=mail",
            "https://a.example/?utm_source=(email)&utm_medium=mail",
            "/",
        ),
        (  # a tab inside an address: dropped as urlsplit drops it, in the URL and the path
            "https://a.example/u/ana@exa\tmple.com",
            "https://a.example/u/(email)",
            "/u/(email)",
        ),
        (  # handles, package versions and retina images are not addresses
            "https://a.example/@ana/react@18.2.0/vue@next.js/logo@2x.png",
            "https://a.example/@ana/react@18.2.0/vue@next.js/logo@2x.png",
            "/@ana/react@18.2.0/vue@next.js/logo@2x.png",
        ),
    ],
)
def test_stored_page_urls_keep_only_campaign_parameters(sent: str, stored: str, path: str) -> None:
    batch = spooled(1, 2, 1, url=sent)
    (row,) = to_rows(batch)
    assert (row.url, row.path) == (stored, path)


def test_stored_referrers_have_no_credentials_query_or_fragment() -> None:
    batch = spooled(1, 2, 4)
    batch.events[0].ref = "https://www.search.example/search?q=ana+example+diagnosis#r"
    batch.events[1].ref = "https://blog.example/post/7"
    batch.events[2].ref = "https://ana:pw@mail.example/inbox;sid=9/7"
    batch.events[3].ref = "https://ana@mail.example"
    batch.events.append(
        msgspec.structs.replace(batch.events[0], ref="https://mail.example/to/ana@example.com")
    )
    rows = to_rows(batch)
    assert [r.referrer for r in rows] == [
        "https://www.search.example/search",
        "https://blog.example/post/7",
        "https://mail.example/inbox/7",
        "https://mail.example",
        "https://mail.example/to/(email)",
    ]
    assert rows[0].referrer_host == "www.search.example"
    assert rows[2].referrer_host == "mail.example"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        # as tag 0.4.0 sent an id holding an address (CSS.escape'd), and as an API client might
        ("main > #user-ana\\.b\\@example\\.com > a", "main > #(email) > a"),
        # unescaped, the tag name reads as part of the address, and goes with it
        ("div.card > a.mail-ana@example.com:nth-of-type(2)", "div.card > (email):nth-of-type(2)"),
        ("#o\\'brien\\@example\\.com", "#(email)"),
        ("a.ana%2540example.com", "(email)"),  # an API client's, encoded twice
        ("header > nav.menu > a.item:nth-of-type(2)", "header > nav.menu > a.item:nth-of-type(2)"),
        # Tailwind's container classes, CSS-escaped, are not addresses
        ("div.\\@container.main-nav > a", "div.\\@container.main-nav > a"),
    ],
)
def test_stored_selectors_name_no_email_address(sent: str, stored: str) -> None:
    batch = spooled(1, 2, 1)
    batch.events[0].sel = sent
    (row,) = to_rows(batch)
    assert row.selector == stored


def test_loads_each_tenant_into_its_own_scope(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    spool = tmp_path / "spool"
    before_a = store.count_events(TenantScope(TENANT_A))
    before_b = store.count_events(TenantScope(TENANT_B))
    write_segment(codec, spool, "0001-x", [spooled(TENANT_A, 1, 4), spooled(TENANT_B, 1, 2)])
    result = Loader(spool, codec).run_once()
    assert (result.segments, result.events) == (1, 6)
    assert store.count_events(TenantScope(TENANT_A)) - before_a == 4
    assert store.count_events(TenantScope(TENANT_B)) - before_b == 2
    assert sealed_segments(spool) == []


def test_crash_mid_load_neither_duplicates_nor_drops(
    event_store: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    codec: SpoolCodec,
    security_log: list[SecurityEvent],
) -> None:
    spool = tmp_path / "spool"
    scope = TenantScope(TENANT_A)
    before = store.count_events(scope, site_id=77)
    write_segment(codec, spool, "0002-x", [spooled(TENANT_A, 77, 30), spooled(TENANT_A, 77, 30)])
    monkeypatch.setattr(loader_module, "WRITE_CHUNK", 25)
    real_write = store.write_events
    calls = 0

    def crash_after_first_chunk(scope: TenantScope, rows: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("power cut")  # the process dies between two inserts
        return real_write(scope, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write_events", crash_after_first_chunk)
    with pytest.raises(RuntimeError):
        Loader(spool, codec).run_once()
    assert store.count_events(scope, site_id=77) - before == 25
    assert (spool / "0002-x.loading").exists()

    monkeypatch.setattr(store, "write_events", real_write)
    result = Loader(spool, codec).run_once()
    assert result.skipped_duplicates == 25
    assert store.count_events(scope, site_id=77) - before == 60
    assert Loader(spool, codec).run_once().events == 0  # a re-run finds nothing left to do
    assert security_log == []  # finishing a load after a crash is no repeat


def test_torn_orphan_segment_loads_its_intact_prefix(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    whole = frame(codec.seal(spooled(TENANT_B, 88, 3)))
    torn = frame(codec.seal(spooled(TENANT_B, 88, 5)))[: HEADER.size + 7]
    (spool / "0003-dead.open").write_bytes(whole + torn)  # its writer was killed mid-write
    scope = TenantScope(TENANT_B)
    before = store.count_events(scope, site_id=88)
    assert Loader(spool, codec).run_once().events == 3
    assert store.count_events(scope, site_id=88) - before == 3


def test_orphan_segment_zeroed_ahead_loads_whole_and_is_not_quarantined(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    """A writer killed with its segment zeroed ahead leaves records, then zeros: all of the
    records load, and the sealed segment is exact (nothing quarantined)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    records = b"".join(frame(codec.seal(spooled(TENANT_B, 87, n))) for n in (3, 4))
    (spool / "0003-dead.open").write_bytes(records + bytes(1024 * 1024))
    scope = TenantScope(TENANT_B)
    before = store.count_events(scope, site_id=87)
    assert Loader(spool, codec).run_once().events == 7
    assert store.count_events(scope, site_id=87) - before == 7
    quarantine = spool / "quarantine"
    assert not (quarantine.exists() and any(quarantine.iterdir()))
    assert not list(spool.glob("*.open"))


def test_corrupt_sealed_segment_is_quarantined_after_loading_the_good_part(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    spool = tmp_path / "spool"
    path = write_segment(
        codec, spool, "0004-x", [spooled(TENANT_B, 89, 2), spooled(TENANT_B, 89, 2)]
    )
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    scope = TenantScope(TENANT_B)
    before = store.count_events(scope, site_id=89)
    assert Loader(spool, codec).run_once().events == 2
    assert store.count_events(scope, site_id=89) - before == 2
    assert (spool / "quarantine" / "0004-x.seg").exists()


def test_records_of_a_shredded_tenant_are_dropped_others_load(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    spool = tmp_path / "spool"
    write_segment(codec, spool, "0005-x", [spooled(TENANT_A, 90, 2), spooled(TENANT_B, 90, 3)])
    codec.keyring.destroy_tenant(TENANT_A)  # the tenant is deleted before its data is loaded
    before_a = store.count_events(TenantScope(TENANT_A), site_id=90)
    before_b = store.count_events(TenantScope(TENANT_B), site_id=90)
    assert Loader(spool, codec).run_once().events == 3
    assert store.count_events(TenantScope(TENANT_A), site_id=90) == before_a
    assert store.count_events(TenantScope(TENANT_B), site_id=90) - before_b == 3
    assert not (spool / "quarantine").exists()


def test_record_sealed_with_an_unknown_key_is_quarantined(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    spool = tmp_path / "spool"
    stranger = make_codec(tmp_path / "elsewhere")  # another installation's keys
    spool.mkdir()
    (spool / "0006-x.seg").write_bytes(
        frame(codec.seal(spooled(TENANT_B, 91, 2))) + frame(stranger.seal(spooled(TENANT_B, 91, 4)))
    )
    assert Loader(spool, codec).run_once().events == 2
    assert (spool / "quarantine" / "0006-x.seg").exists()


def test_a_tenant_deleted_during_its_insert_leaves_no_rows(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, spool = 9103, tmp_path / "spool"
    write_segment(codec, spool, "0001-d", [spooled(tenant, 1, 5), spooled(TENANT_B, 1, 1)])
    real_write = store.write_events

    def write_while_deleted(scope: TenantScope, rows: list[object]) -> int:
        if scope.tenant_id == tenant:
            # The deletion runs between the loader's decrypt and its insert: keys destroyed,
            # rows erased (there are none yet); then the insert lands.
            codec.keyring.destroy_tenant(tenant)
            store.erase_tenant(scope)
        return real_write(scope, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(loader_module.store, "write_events", write_while_deleted)
    before_b = store.count_events(TenantScope(TENANT_B))
    Loader(spool, codec).run_once()
    assert store.count_events(TenantScope(tenant)) == 0
    assert store.count_events(TenantScope(TENANT_B)) == before_b + 1


def test_beacons_spooled_as_received_load_as_their_events(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    """Records as the collector writes them (format 2, the tag's pages format, a cookieless
    session) reach the store one row per event, under their tenant only."""
    import json

    from heliograph.collector.schema import WIRE_PAGES, ReceivedBeacon

    now = int(time.time() * 1000)
    body = json.dumps(
        {"site": "k", "sid": "tab", "vid": "", "pages": [
            {"pid": "pv1", "url": "https://a.example/one", "events": [
                {"type": "pageview", "ts": now - 50, "ref": "https://news.example/"},
                {"type": "click", "ts": now - 40, "sel": "a.buy", "x": 7, "y": 9},
            ]},
            {"pid": "pv2", "url": "https://a.example/two", "events": [
                {"type": "scroll", "ts": now + 10**9, "depth": 40},  # a clock far ahead
            ]},
        ]}
    ).encode()  # fmt: skip
    received = ReceivedBeacon(
        batch_id=secrets.token_bytes(16), tenant_id=TENANT_A, site_id=3, received_ms=now,
        visitor_hash="hash", device="mobile", browser="Safari", os="iOS", session="cserver",
        wire=WIRE_PAGES, body=body,
    )  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "0001-r.seg").write_bytes(frame(codec.seal_received(received)))
    before_b = store.count_events(TenantScope(TENANT_B))
    assert Loader(spool, codec).run_once().events == 3
    ids = [event_id(received.batch_id, i) for i in range(3)]
    assert store.existing_event_ids(TenantScope(TENANT_A), ids) == set(ids)
    assert store.existing_event_ids(TenantScope(TENANT_B), ids) == set()
    assert store.count_events(TenantScope(TENANT_B)) == before_b
    (batch,) = codec.open(codec.seal_received(received))
    rows = to_rows(batch)
    assert [(r.pageview_id, r.path, r.type) for r in rows] == [
        ("pv1", "/one", "pageview"), ("pv1", "/one", "click"), ("pv2", "/two", "scroll"),
    ]  # fmt: skip
    assert {r.session_id for r in rows} == {"cserver"}  # cookieless: the collector's session
    assert {r.visitor_id for r in rows} == {"hash"}
    assert rows[0].referrer_host == "news.example"
    assert (rows[1].selector, rows[1].x, rows[1].y) == ("a.buy", 7, 9)
    assert rows[2].ts == rows[2].received  # clamped to the receive time


def _page_views(tenant: int, site: int) -> int:
    now = datetime.now(UTC)
    start, end = now - timedelta(days=2), now + timedelta(hours=1)
    return store.overview(TenantScope(tenant), site_id=site, start=start, end=end).pageviews


def _views(tenant: int, site: int, events: int) -> SpoolBatch:
    batch = spooled(tenant, site, events)
    for index, view in enumerate(batch.events):
        view.type, view.sel, view.x, view.y = "pageview", "", 0, 0
        view.pid = f"view{index}"
    return batch


@pytest.fixture(autouse=True)
def security_log(monkeypatch: pytest.MonkeyPatch) -> list[SecurityEvent]:
    """What the loader records in the security event log (here: a list, not the database)."""
    recorded: list[SecurityEvent] = []
    sink = type("Sink", (), {"append": staticmethod(recorded.extend)})()
    monkeypatch.setattr(security_events, "_sink", sink)
    return recorded


def test_a_segment_that_reaches_the_spool_again_counts_once(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec, security_log: list[SecurityEvent]
) -> None:
    """A copy of a loaded segment (a restored backup, a replay) loads nothing: not into the
    events, and not into the roll-ups the dashboards read, which are summed at insert."""
    spool = tmp_path / "spool"
    path = write_segment(codec, spool, "0001-r", [_views(TENANT_A, 71, 3)])
    copy = path.read_bytes()
    assert Loader(spool, codec).run_once().events == 3
    scope = TenantScope(TENANT_A)
    counted, viewed = store.count_events(scope, site_id=71), _page_views(TENANT_A, 71)
    assert (counted, viewed) == (3, 3)
    assert security_log == []

    (spool / "0002-r.seg").write_bytes(copy)  # under another name, as a copy would be
    result = Loader(spool, codec).run_once()
    assert (result.events, result.skipped_duplicates) == (0, 3)
    assert store.count_events(scope, site_id=71) == 3
    assert _page_views(TENANT_A, 71) == 3
    assert sealed_segments(spool) == []
    (repeated,) = security_log
    assert (repeated.action, repeated.tenant_id, repeated.outcome) == (
        "loader.events_repeated", TENANT_A, "failure",
    )  # fmt: skip
    assert repeated.labels == {
        "segment": "0002-r.seg",
        "already_stored": 3,
        "repeated_in_segment": 0,
    }


def test_a_record_repeated_in_its_segment_loads_once(
    event_store: Settings,
    tmp_path: Path,
    codec: SpoolCodec,
    monkeypatch: pytest.MonkeyPatch,
    security_log: list[SecurityEvent],
) -> None:
    monkeypatch.setattr(loader_module, "WRITE_CHUNK", 2)  # the repeat lands in another write
    spool = tmp_path / "spool"
    batch = _views(TENANT_B, 72, 3)
    record = frame(codec.seal(batch))
    spool.mkdir()
    (spool / "0001-d.seg").write_bytes(record + frame(codec.seal(_views(TENANT_B, 72, 1))) + record)
    result = Loader(spool, codec).run_once()
    assert (result.events, result.skipped_duplicates) == (4, 3)
    assert store.count_events(TenantScope(TENANT_B), site_id=72) == 4
    assert _page_views(TENANT_B, 72) == 4
    assert [(e.action, e.labels) for e in security_log] == [
        ("loader.events_repeated",
         {"segment": "0001-d.seg", "already_stored": 0, "repeated_in_segment": 3}),
    ]  # fmt: skip


def test_a_record_changed_behind_its_checksum_is_quarantined_and_reported(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec, security_log: list[SecurityEvent]
) -> None:
    """Someone who knows the record format can fix the CRC after changing a record, or move a
    record to another tenant by rewriting the tenant id in its envelope; neither authenticates.
    The records before and after it load; the changed ones load nowhere."""
    spool = tmp_path / "spool"
    spool.mkdir()
    good = frame(codec.seal(_views(TENANT_A, 73, 2)))
    sealed = bytearray(codec.seal(_views(TENANT_A, 73, 5)))
    sealed[-20] ^= 0x01  # a bit of the ciphertext
    envelope = msgspec.msgpack.decode(codec.seal(_views(TENANT_A, 73, 7)))
    envelope[0] = TENANT_B  # the tenant id in clear, moved to the other tenant
    moved = msgspec.msgpack.encode(envelope)
    (spool / "0001-t.seg").write_bytes(good + frame(bytes(sealed)) + frame(moved) + good)
    before_b = store.count_events(TenantScope(TENANT_B), site_id=73)
    result = Loader(spool, codec).run_once()
    assert result.events == 2  # the good record, once: its repeat is skipped
    assert store.count_events(TenantScope(TENANT_A), site_id=73) == 2
    assert store.count_events(TenantScope(TENANT_B), site_id=73) == before_b
    assert (spool / "quarantine" / "0001-t.seg").exists()
    actions = [(e.action, e.category, e.outcome) for e in security_log]
    assert ("loader.segment_quarantined", "file", "failure") in actions
    (quarantined,) = [e for e in security_log if e.action == "loader.segment_quarantined"]
    assert quarantined.labels == {"segment": "0001-t.seg", "torn": False, "undecodable_records": 2}


def test_a_segment_with_some_records_stored_loads_the_others(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec, security_log: list[SecurityEvent]
) -> None:
    spool = tmp_path / "spool"
    loaded, new = _views(TENANT_A, 74, 2), _views(TENANT_A, 74, 3)
    write_segment(codec, spool, "0001-p", [loaded])
    assert Loader(spool, codec).run_once().events == 2
    write_segment(codec, spool, "0002-p", [new, loaded])
    result = Loader(spool, codec).run_once()
    assert (result.events, result.skipped_duplicates) == (3, 2)
    assert store.count_events(TenantScope(TENANT_A), site_id=74) == 5
    ids = {event_id(new.batch_id, index) for index in range(3)}
    assert store.existing_event_ids(TenantScope(TENANT_A), list(ids)) == ids
    assert [e.labels["already_stored"] for e in security_log] == [2]


def test_a_security_log_that_fails_does_not_stop_the_load(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(event: SecurityEvent) -> None:
        raise RuntimeError("the log's database is down")

    monkeypatch.setattr(security_events, "record", refuse)
    spool = tmp_path / "spool"
    batch = _views(TENANT_B, 75, 2)
    write_segment(codec, spool, "0001-f", [batch])
    assert Loader(spool, codec).run_once().events == 2
    write_segment(codec, spool, "0002-f", [batch, _views(TENANT_B, 75, 1)])
    assert Loader(spool, codec).run_once().events == 1
    assert store.count_events(TenantScope(TENANT_B), site_id=75) == 3
    assert sealed_segments(spool) == []


def test_one_loader_at_a_time_per_spool(
    event_store: Settings, tmp_path: Path, codec: SpoolCodec
) -> None:
    import fcntl
    import os

    spool = tmp_path / "spool"
    write_segment(codec, spool, "0001-l", [_views(TENANT_A, 76, 2)])
    fd = os.open(spool / "loader.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another process's loader would
        assert Loader(spool, codec).run_once() == loader_module.LoadResult(0, 0, 0)
        assert len(sealed_segments(spool)) == 1
    finally:
        os.close(fd)
    assert Loader(spool, codec).run_once().events == 2
