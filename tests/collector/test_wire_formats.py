"""The tag's "runs" format (events as columns since tag 0.4.0, as objects in 0.3.0), tag 0.2.0's
"pages" format and the older flat "events" format: all validated as strictly, spooled as
received, and expanded by the loader into the same events."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import msgspec
import pytest

from heliograph.collector import schema
from heliograph.collector.app import Collector
from heliograph.collector.schema import MAX_EVENTS, SpoolBatch
from heliograph.collector.spool import read_records, sealed_segments
from heliograph.core.crypto.aead import DecryptionError
from heliograph.simulate import beacon_payload

from .conftest import event

pytestmark = pytest.mark.anyio
ORIGIN = {"Origin": "https://a.example", "Content-Type": "text/plain"}


def runs(*events: dict[str, Any], site: str = "key-a") -> dict[str, Any]:
    """Group flat events as the tag does: ids once per batch, then runs of one page view, URL,
    viewport and document size, with the events as columns."""
    payload = beacon_payload(site, list(events))
    assert "runs" in payload
    return payload


OWN = {"pageview": ("ref",), "click": ("sel", "x", "y"), "scroll": ("depth",)}


def keyed_runs(*events: dict[str, Any], site: str = "key-a") -> dict[str, Any]:
    """Tag 0.3.0's runs: the same runs, each event an object with only its type's fields."""
    payload = runs(*events, site=site)
    remaining = iter(events)
    for run in payload["runs"]:
        taken = [next(remaining) for _ in run["type"]]
        for name in ("type", "ts", *{name for names in OWN.values() for name in names}):
            run.pop(name, None)
        run["events"] = [
            {"type": e["type"], "ts": e["ts"], **{k: e[k] for k in OWN[e["type"]]}} for e in taken
        ]
    return payload


def pages(*events: dict[str, Any], site: str = "key-a") -> dict[str, Any]:
    """Tag 0.2.0's grouping: ids once per batch, runs of one page view and URL, and every
    other field on every event."""
    groups: list[dict[str, Any]] = []
    for item in events:
        if not groups or (groups[-1]["pid"], groups[-1]["url"]) != (item["pid"], item["url"]):
            groups.append({"pid": item["pid"], "url": item["url"], "events": []})
        own = {k: v for k, v in item.items() if k not in ("sid", "vid", "pid", "url")}
        groups[-1]["events"].append(own)
    first = events[0]
    return {"site": site, "sid": first["sid"], "vid": first["vid"], "pages": groups}


def flat(*events: dict[str, Any], site: str = "key-a") -> dict[str, Any]:
    return {"site": site, "events": list(events)}


async def post(client: httpx.AsyncClient, payload: dict[str, Any] | bytes) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await client.post("/collect", content=body, headers=ORIGIN)


async def spooled(collector: Collector) -> list[SpoolBatch]:
    await collector.spool.close()
    return [
        batch
        for path in sealed_segments(collector.spool.spool_dir)
        for record in read_records(path).records
        for batch in collector.codec.open(record)
    ]


def visit() -> list[dict[str, Any]]:
    """A page view, clicks, a hash change on the same page view, then an SPA navigation."""
    start = int(time.time() * 1000) - 60_000
    faq = "https://a.example/pricing#faq"
    return [
        event(ts=start, ref="https://news.example/"),
        event(type="click", ts=start + 1000, sel="main > a.cta", x=10, y=900, dh=3100),
        event(type="click", ts=start + 2000, sel="#faq", x=3, y=4, url=faq),
        event(type="scroll", ts=start + 3000, depth=64, url=faq),
        event(ts=start + 4000, pid="p2", url="https://a.example/docs", ref=faq),
    ]


def as_dicts(batch: SpoolBatch) -> list[dict[str, Any]]:
    return [msgspec.structs.asdict(item) for item in batch.events]


async def test_every_format_spools_the_same_events(tmp_path: Any) -> None:
    from .conftest import make_collector

    results: list[SpoolBatch] = []
    events = visit()
    assert len(runs(*events)["runs"]) == 4  # the second click's document is taller: a new run
    for payload in (runs(*events), keyed_runs(*events), pages(*events), flat(*events)):
        collector = make_collector(tmp_path / f"spool-{len(results)}")
        await collector.spool.start()
        transport = httpx.ASGITransport(app=collector, client=("203.0.113.9", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
            response = await post(client, payload)
        assert (response.status_code, response.json()) == (202, {"accepted": 5})
        (batch,) = await spooled(collector)
        results.append(batch)
    by_runs, by_keyed_runs, by_pages, by_events = results
    assert as_dicts(by_runs) == as_dicts(by_keyed_runs) == as_dicts(by_pages)
    assert as_dicts(by_pages) == as_dicts(by_events)
    assert [e.dh for e in by_runs.events] == [3000, 3100, 3000, 3000, 3000]
    assert by_pages.events[0].sid == "s1"  # a visitor id: the tag's session is kept
    assert [e.pid for e in by_pages.events] == ["p1", "p1", "p1", "p1", "p2"]
    assert by_pages.events[2].url == "https://a.example/pricing#faq"
    assert by_pages.events[0].ref == "https://news.example/"
    assert by_pages.events[1].ref == ""  # only page views carry a referrer
    assert (by_pages.tenant_id, by_pages.site_id) == (by_events.tenant_id, by_events.site_id)


async def test_a_grouped_beacon_is_much_smaller_than_the_same_flat_one() -> None:
    ids = {
        "sid": "xLuGw9HEJxA8NExBiesvHg",
        "vid": "9bFlIkpYt5HfavHYMD5hzQ",
        "pid": "e9XUfkRvzsKj2BFzYRDleA",
    }
    many = [
        event(type="click", ts=1_700_000_000_000 + i, sel="a", x=i, y=i, **ids) for i in range(20)
    ]
    assert len(json.dumps(pages(*many))) < 0.6 * len(json.dumps(flat(*many)))
    assert len(json.dumps(keyed_runs(*many))) < 0.75 * len(json.dumps(pages(*many)))
    assert len(json.dumps(runs(*many))) < 0.8 * len(json.dumps(keyed_runs(*many)))


async def test_cookieless_runs_and_pages_get_the_servers_session(
    client: httpx.AsyncClient, collector: Collector
) -> None:
    anonymous = [event(vid="", sid="tab1"), event(type="scroll", vid="", sid="tab1", depth=5)]
    assert (await post(client, runs(*anonymous))).status_code == 202
    assert (await post(client, pages(*anonymous))).status_code == 202
    first, second = await spooled(collector)
    sessions = {e.sid for e in first.events + second.events}
    assert len(sessions) == 1 and sessions.pop().startswith("c")
    assert {e.vid for e in first.events} == {""}
    assert first.visitor_hash == second.visitor_hash != ""


async def test_client_clocks_are_clamped_when_expanded(
    client: httpx.AsyncClient, collector: Collector
) -> None:
    payload = runs(event(ts=2**52), event(type="scroll", ts=1, depth=9))
    assert (await post(client, payload)).status_code == 202
    (batch,) = await spooled(collector)
    assert [e.ts for e in batch.events] == [batch.received_ms, batch.received_ms]


def _with(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(payload))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


GOOD = pages(*visit())
RUNS = runs(*visit())


def _without(payload: dict[str, Any], run: int, *names: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(payload))
    for name in names:
        copy["runs"][run].pop(name, None)
    return copy


KEYED = keyed_runs(*visit())
# RUNS: run 0 is a page view, run 1 a click, run 2 a click and a scroll, run 3 a page view.
RUNS_CASES = [
    (_with(RUNS, ("runs", 0, "title"), "x"), "invalid_schema", "unknown field `title`"),
    (_with(RUNS, ("runs", 0, "sid"), "s"), "invalid_schema", "unknown field `sid`"),
    # Every column has one entry per event of its kind, in order; none is missing or extra.
    (_with(RUNS, ("runs", 0, "sel"), ["a"]), "invalid_schema", "Expected 0 `sel` entries"),
    (_with(RUNS, ("runs", 1, "depth"), [5]), "invalid_schema", "at `$.runs[1].depth`"),
    (_with(RUNS, ("runs", 2, "ts"), [1]), "invalid_schema", "Expected 2 `ts` entries"),
    (_with(RUNS, ("runs", 2, "y"), [4, 4]), "invalid_schema", "one per click), got 2"),
    (_with(RUNS, ("runs", 3, "ref"), []), "invalid_schema", "at `$.runs[3].ref`"),
    (_without(RUNS, 1, "x"), "invalid_schema", "Expected 1 `x` entries (one per click), got 0"),
    (_without(RUNS, 1, *["type", "ts", "sel", "x", "y"]), "invalid_schema", "Expected events"),
    (_without(RUNS, 1, "type"), "invalid_schema", "Expected a `type` column"),
    (_with(RUNS, ("runs", 0, "events"), KEYED["runs"][0]["events"]), "invalid_schema", "both"),
    (_with(RUNS, ("runs", 1, "x"), [None]), "invalid_schema", "$.runs[1].x[0]"),
    (_with(RUNS, ("runs", 1, "type"), ["hover"]), "invalid_schema", "$.runs[1].type[0]"),
    (_with(RUNS, ("runs", 1, "sel"), ["s" * 513]), "invalid_schema", "$.runs[1].sel[0]"),
    (_with(RUNS, ("runs", 2, "depth"), [101]), "invalid_schema", "$.runs[2].depth[0]"),
    (_with(RUNS, ("runs", 0, "ts"), [-1]), "invalid_schema", "$.runs[0].ts[0]"),
    (_with(RUNS, ("runs", 0, "ts"), [1] * 101), "invalid_schema", "length <= 100"),
    (_with(RUNS, ("runs", 0, "vw"), -1), "invalid_schema", "$.runs[0].vw"),
    (_with(RUNS, ("runs", 0, "dh"), "3000"), "invalid_schema", "$.runs[0].dh"),
    (_with(RUNS, ("runs",), []), "invalid_schema", "$.runs"),
    (_with(RUNS, ("runs", 3, "pid"), "p 2"), "invalid_schema", "$.runs[3].pid"),
    (_with(RUNS, ("vid",), "v/1"), "invalid_schema", "$.vid"),
    (_with(RUNS, ("runs", 0, "url"), "x" * 2049), "invalid_schema", "$.runs[0].url"),
    (_with(RUNS, ("runs", 3, "url"), "https://evil.example/"), "url_not_allowed", "domains"),
    (_with(RUNS, ("site",), "nope"), "unknown_site", "no site"),
    # The site key's alphabet is checked with the ids, before any registry lookup.
    (_with(RUNS, ("site",), "key a"), "invalid_schema", "$.site"),
    (_with(RUNS, ("site",), "key-\u00e4"), "invalid_schema", "$.site"),
    (_with(RUNS, ("site",), ""), "invalid_schema", "$.site"),
    (_with(RUNS, ("site",), "k" * 65), "invalid_schema", "$.site"),
]

# Tag 0.3.0's runs, with each event an object.
KEYED_CASES = [
    (_with(KEYED, ("runs", 0, "events", 0, "sid"), "s"), "invalid_schema", "`sid`"),
    # Each type carries its own fields only, and all of them.
    (_with(KEYED, ("runs", 0, "events", 0, "sel"), "a"), "invalid_schema", "`sel`"),
    (_with(KEYED, ("runs", 0, "events", 0, "vw"), 5), "invalid_schema", "`vw`"),
    (_with(KEYED, ("runs", 1, "events", 0, "depth"), 5), "invalid_schema", "`depth`"),
    (_with(KEYED, ("runs", 1, "events", 0, "x"), None), "invalid_schema", "events[0].x"),
    (_with(KEYED, ("runs", 1, "events", 0, "type"), "hover"), "invalid_schema", "type"),
    (_with(KEYED, ("runs", 1, "events", 0, "sel"), "s" * 513), "invalid_schema", "sel"),
    (_with(KEYED, ("runs", 2, "events", 1, "depth"), 101), "invalid_schema", "depth"),
    (_with(KEYED, ("runs", 1, "events"), []), "invalid_schema", "Expected events"),
    (_with(KEYED, ("runs", 1, "ts"), [1]), "invalid_schema", "Expected no columns beside"),
]


PAGES_CASES = [
    (_with(GOOD, ("pages", 0, "title"), "x"), "invalid_schema", "unknown field `title`"),
    (_with(GOOD, ("pages", 0, "events", 0, "sid"), "s"), "invalid_schema", "`sid`"),
    (_with(GOOD, ("pages",), []), "invalid_schema", "$.pages"),
    (_with(GOOD, ("pages", 1, "events"), []), "invalid_schema", "$.pages[1].events"),
    (_with(GOOD, ("pages", 1, "pid"), "p 2"), "invalid_schema", "$.pages[1].pid"),
    (_with(GOOD, ("pages", 1, "pid"), ""), "invalid_schema", "$.pages[1].pid"),
    (_with(GOOD, ("sid",), "s\u00e9"), "invalid_schema", "$.sid"),
    (_with(GOOD, ("vid",), "v/1"), "invalid_schema", "$.vid"),
    (_with(GOOD, ("sid",), 7), "invalid_schema", "$.sid"),
    (_with(GOOD, ("pages", 0, "url"), "x" * 2049), "invalid_schema", "$.pages[0].url"),
    (_with(GOOD, ("pages", 0, "events", 0, "type"), "hover"), "invalid_schema", "type"),
    (_with(GOOD, ("pages", 1, "url"), "https://evil.example/"), "url_not_allowed", "domains"),
    (_with(GOOD, ("pages", 1, "url"), "javascript:alert(1)"), "url_not_allowed", "domains"),
    (_with(GOOD, ("site",), "nope"), "unknown_site", "no site"),
    (_with(GOOD, ("site",), "../key-a"), "invalid_schema", "$.site"),
]


@pytest.mark.parametrize(
    ("payload", "code", "says", "good"),
    [(*case, RUNS) for case in RUNS_CASES]
    + [(*case, KEYED) for case in KEYED_CASES]
    + [(*case, GOOD) for case in PAGES_CASES],
)
async def test_bad_grouped_beacons_get_their_code(
    client: httpx.AsyncClient,
    collector: Collector,
    payload: dict[str, Any],
    code: str,
    says: str,
    good: dict[str, Any],
) -> None:
    """Runs (the tag's format, with columns or tag 0.3.0's objects) and pages (tag 0.2.0's)
    beacons, each broken in one place."""
    response = await post(client, payload)
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == code
    assert says in response.json()["message"]
    assert (await post(client, good)).status_code == 202  # and the collector keeps serving
    assert collector.spool.records_written == 1


async def test_more_than_the_limit_of_events_across_runs_or_pages_is_refused(
    client: httpx.AsyncClient,
) -> None:
    half = MAX_EVENTS // 2 + 1
    groups = [
        {"pid": f"p{n}", "url": "https://a.example/", "events": [{"type": "click", "ts": 1}] * half}
        for n in range(2)
    ]
    response = await post(client, {"site": "key-a", "sid": "s", "vid": "v", "pages": groups})
    assert response.status_code == 422
    assert f"at most {MAX_EVENTS} events in a batch - at `$.pages`" in response.json()["message"]
    click = {"type": "click", "ts": 1, "sel": "a", "x": 1, "y": 2}
    size = {"vw": 1, "vh": 1, "dw": 1, "dh": 1}
    groups = [{**group, **size, "events": [click] * half} for group in groups]
    response = await post(client, {"site": "key-a", "sid": "s", "vid": "v", "runs": groups})
    assert response.status_code == 422
    assert f"at most {MAX_EVENTS} events in a batch - at `$.runs`" in response.json()["message"]


async def test_a_flat_beacon_gets_the_flat_formats_error(client: httpx.AsyncClient) -> None:
    response = await post(client, flat(event(sid="bad id")))
    assert response.json()["message"].endswith("at `$.events[0].sid`")
    response = await post(client, flat(event(extra=1)))
    assert "unknown field `extra`" in response.json()["message"]
    response = await post(client, b'{"site": "key-a", "events": [}')
    assert (response.status_code, response.json()["code"]) == (400, "malformed_json")
    response = await post(client, b'{"site": "key-a", "pages": [}')
    assert (response.status_code, response.json()["code"]) == (400, "malformed_json")
    response = await post(client, b'{"site": "key-a", "runs": [}')
    assert (response.status_code, response.json()["code"]) == (400, "malformed_json")


def test_records_of_the_earlier_spool_format_still_open(tmp_path: Any) -> None:
    from .conftest import make_codec

    codec = make_codec(tmp_path)
    batch = SpoolBatch(
        batch_id=b"b" * 16, tenant_id=1, site_id=11, received_ms=5, visitor_hash="h",
        device="desktop", browser="Firefox", os="Linux",
        events=[schema.WireEvent(type="pageview", ts=5, sid="s", pid="p", url="https://a.example/")],
    )  # fmt: skip
    assert codec.open(codec.seal(batch)) == [batch]


def test_a_record_of_an_unknown_format_is_refused(tmp_path: Any) -> None:
    from .conftest import make_codec

    codec = make_codec(tmp_path)
    received = schema.ReceivedBeacon(
        batch_id=b"b" * 16, tenant_id=1, site_id=11, received_ms=5, visitor_hash="h",
        device="desktop", browser="Firefox", os="Linux", session="", wire=9, body=b"{}",
    )  # fmt: skip
    with pytest.raises(DecryptionError, match="wire format 9"):
        codec.open(codec.seal_received(received))
    envelope = msgspec.msgpack.decode(codec.seal_received(received))
    envelope[2] = 7
    with pytest.raises(DecryptionError, match="unknown format 7"):
        codec.open(msgspec.msgpack.encode(envelope))
    # The format number is outside the ciphertext, but each format is sealed for a purpose of
    # its own: a record relabelled as the other format fails authentication.
    envelope[2] = 1
    with pytest.raises(DecryptionError, match="authentication"):
        codec.open(msgspec.msgpack.encode(envelope))


@pytest.mark.parametrize("shape", ["columns", "objects", "pages"])
def test_a_stored_body_loads_even_if_the_limits_change_later(tmp_path: Any, shape: str) -> None:
    """The collector is the gate: the loader must not refuse what it acknowledged, even when a
    later version tightens a limit or the tag adds a field."""
    from .conftest import make_codec

    codec = make_codec(tmp_path)
    group: dict[str, Any] = {"pid": "p", "url": "https://a.example/" + "x" * 5000}
    if shape == "columns":
        group.update(type=["click"], ts=[5], sel=["s" * 900], x=[1], y=[2], added=[True])
    else:
        group["events"] = [{"type": "click", "ts": 5, "sel": "s" * 900, "x": 1, "y": 2, "added": 1}]
    if shape != "pages":
        group.update(vw=2_000_000, vh=1, dw=3, dh=4)
    wire = schema.WIRE_PAGES if shape == "pages" else schema.WIRE_RUNS
    key = "pages" if shape == "pages" else "runs"
    body = json.dumps({"site": "key-a", "sid": "s", "vid": "v", "later": 1, key: [group]}).encode()
    received = schema.ReceivedBeacon(
        batch_id=b"b" * 16, tenant_id=1, site_id=11, received_ms=5, visitor_hash="h",
        device="desktop", browser="Firefox", os="Linux", session="", wire=wire, body=body,
    )  # fmt: skip
    ((loaded,),) = [batch.events for batch in codec.open(codec.seal_received(received))]
    assert (loaded.type, loaded.sel, loaded.x, loaded.y, loaded.sid) == (
        "click",
        "s" * 900,
        1,
        2,
        "s",
    )
    assert len(loaded.url) == len("https://a.example/") + 5000
    if shape != "pages":  # the run's viewport and document size reach every event
        assert (loaded.vw, loaded.vh, loaded.dw, loaded.dh) == (2_000_000, 1, 3, 4)


def test_simulated_traffic_is_sent_in_the_tags_format() -> None:
    from heliograph.collector.schema import ReceivedBeacon, expand
    from heliograph.simulate import TrafficModel, _take

    model = TrafficModel("a.example", days=1, seed=7)
    for batch in _take(model, 400):
        body = json.dumps(beacon_payload("key-a", batch.events)).encode()
        checked = schema.check_beacon(body)
        assert checked.wire == schema.WIRE_RUNS  # one visitor and session per batch
        assert checked.events == len(batch.events)
        received = ReceivedBeacon(
            batch_id=b"b" * 16, tenant_id=1, site_id=11, visitor_hash="h",
            received_ms=max(int(e["ts"]) for e in batch.events),  # type: ignore[call-overload]
            device="desktop", browser="Firefox", os="Linux", session="", wire=checked.wire,
            body=body,
        )  # fmt: skip
        expanded = [msgspec.structs.asdict(e) for e in expand(received).events]
        sent = [msgspec.structs.asdict(schema.WireEvent(**e)) for e in batch.events]  # type: ignore[arg-type]
        assert expanded == sent


def test_a_batch_mixing_sessions_is_sent_flat() -> None:
    payload = beacon_payload("key-a", [event(), event(sid="s2")])
    assert set(payload) == {"site", "events"}
    assert schema.check_beacon(json.dumps(payload).encode()).wire == schema.WIRE_EVENTS


async def test_cookieless_beacons_expand_alike_in_every_format(tmp_path: Any) -> None:
    from .conftest import make_collector

    anonymous = [{**item, "vid": ""} for item in visit()]
    expanded = []
    for payload in (runs(*anonymous), pages(*anonymous), flat(*anonymous)):
        collector = make_collector(tmp_path / f"spool-{len(expanded)}")
        await collector.spool.start()
        transport = httpx.ASGITransport(app=collector, client=("203.0.113.9", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
            assert (await post(client, payload)).status_code == 202
        (batch,) = await spooled(collector)
        expanded.append([{**row, "sid": "*"} for row in as_dicts(batch)])
        assert len({e.sid for e in batch.events}) == 1
        assert batch.events[0].sid.startswith("c")  # the server's session, not the tab's
    assert expanded[0] == expanded[1] == expanded[2]


def _received(tenant_id: int, marker: str) -> schema.ReceivedBeacon:
    body = json.dumps(runs(event(pid=marker))).encode()
    return schema.ReceivedBeacon(
        batch_id=marker.encode().ljust(16, b"-"), tenant_id=tenant_id, site_id=11,
        received_ms=1_700_000_000_000, visitor_hash="", device="desktop", browser="Firefox",
        os="Linux", session="", wire=schema.WIRE_RUNS, body=body,
    )  # fmt: skip


def test_a_group_record_opens_to_each_of_its_beacons(tmp_path: Any) -> None:
    from .conftest import make_codec

    codec = make_codec(tmp_path)
    beacons = [_received(1, f"p{i}") for i in range(3)]
    record = codec.seal_group(1, [schema.encode_received(b) for b in beacons])
    opened = codec.open(record)
    assert [b.batch_id for b in opened] == [b.batch_id for b in beacons]
    assert [[e.pid for e in b.events] for b in opened] == [["p0"], ["p1"], ["p2"]]
    assert schema.record_key(record)[0] == 1


def test_a_group_record_cannot_be_moved_to_another_tenant_or_format(tmp_path: Any) -> None:
    """A group is sealed under its tenant's key for the group purpose: relabelling its tenant or
    its format fails authentication, and a group naming another tenant inside is refused."""
    from .conftest import make_codec

    codec = make_codec(tmp_path)
    codec.keyring.encrypt(2, "spool.group", b"")  # tenant 2 has a key too
    record = codec.seal_group(1, [schema.encode_received(_received(1, "p"))])
    envelope = msgspec.msgpack.decode(record)
    for index, value in ((0, 2), (2, schema.RECORD_RECEIVED)):
        forged = list(envelope)
        forged[index] = value
        with pytest.raises(DecryptionError):
            codec.open(msgspec.msgpack.encode(forged))
    mixed = codec.seal_group(1, [schema.encode_received(_received(2, "p"))])
    with pytest.raises(DecryptionError, match="another tenant"):
        codec.open(mixed)


async def test_concurrent_beacons_of_two_tenants_are_sealed_apart(collector: Collector) -> None:
    """One group commit holding both tenants' beacons writes one record per tenant, each under
    its own tenant's key; every beacon comes back once, with its own tenant."""
    transport = httpx.ASGITransport(app=collector, client=("203.0.113.9", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        posts = []
        for i in range(6):
            site, host = ("key-a", "a.example") if i % 2 else ("key-b", "b.example")
            payload = runs(event(pid=f"p{i}", url=f"https://{host}/x"), site=site)
            headers = {**ORIGIN, "Origin": f"https://{host}"}
            posts.append(
                client.post("/collect", content=json.dumps(payload).encode(), headers=headers)
            )
        responses = await asyncio.gather(*posts)
    assert [r.status_code for r in responses] == [202] * 6
    await collector.spool.close()
    records = [
        r for path in sealed_segments(collector.spool.spool_dir) for r in read_records(path).records
    ]
    tenants = [schema.record_key(record)[0] for record in records]
    assert sorted(set(tenants)) == [1, 2] and len(records) < 6  # grouped, never mixed
    seen = {}
    for record, tenant in zip(records, tenants, strict=True):
        for batch in collector.codec.open(record):
            assert batch.tenant_id == tenant
            seen[batch.events[0].pid] = tenant
    assert seen == {f"p{i}": 1 if i % 2 else 2 for i in range(6)}
