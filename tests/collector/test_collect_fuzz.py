"""Property-based runs of POST /collect: generated beacons, broken ones and mangled bytes.

Whatever a client sends, the collector answers 202 or a 4xx with a stable code, and keeps
serving. A 202 is a promise: every event it counted is in the spool under the tenant of the
site key it was sent with, on that site's domains, and loads into the event store under that
tenant only. A beacon built to be valid must be accepted and stored as it was sent, in any of
the four wire formats the collector takes.

Each example gets a collector and a spool of its own (fresh rate limits, an empty spool to read
back) and talks to it at the ASGI level, so that a body can arrive in several messages.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heliograph.collector.app import Collector
from heliograph.collector.loader import Loader, event_id, to_rows, without_emails
from heliograph.collector.schema import MAX_EVENTS, SpoolCodec
from heliograph.collector.sites import CachedSiteRegistry, StaticSiteRegistry, url_host
from heliograph.collector.spool import SpoolWriter, read_records, sealed_segments
from heliograph.core.config import CollectorLimits, Settings
from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store

from .conftest import SITE_A, SITE_B, make_codec

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # nothing written into the checkout; a failure prints its example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SITES = {SITE_A.key: SITE_A, SITE_B.key: SITE_B}
# Every code a refusal may carry for a request a client can make (503s are the server's own
# trouble: a full disk or lost keys, which no request can cause).
CODES = {
    "malformed_json": 400,
    "client_disconnected": 400,
    "origin_missing": 403,
    "origin_not_allowed": 403,
    "unknown_site": 404,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "invalid_schema": 422,
    "url_not_allowed": 422,
    "rate_limited": 429,
}
LIMITS = CollectorLimits()  # the defaults: a 64 KiB body

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ids = st.text(ID_ALPHABET, min_size=1, max_size=64)
# Any text JSON can carry and UTF-8 can encode: every code point but the lone surrogates.
PRINTABLE = st.characters(exclude_categories=["Cs"])
texts = st.text(PRINTABLE, max_size=40)
pixels = st.integers(0, 1_000_000)
coordinates = st.integers(-1_000_000, 1_000_000)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@dataclass
class Event:
    type: str
    ts: int
    ref: str = ""
    sel: str = ""
    x: int = 0
    y: int = 0
    depth: int = 0


@dataclass
class Run:
    pid: str
    url: str
    size: tuple[int, int, int, int]  # vw, vh, dw, dh
    events: list[Event] = field(default_factory=list)


@dataclass
class Model:
    """A beacon as the tag means it, before it is put in one of the wire formats."""

    sid: str
    vid: str  # "" for cookieless
    runs: list[Run]

    @property
    def events(self) -> list[tuple[Run, Event]]:
        return [(run, event) for run in self.runs for event in run.events]


@st.composite
def events(draw: st.DrawFn, now: int) -> Event:
    kind = draw(st.sampled_from(["pageview", "click", "scroll"]))
    ts = now - draw(st.integers(0, 3_600_000))  # within the hour: never clamped
    if kind == "pageview":
        return Event(kind, ts, ref=draw(st.sampled_from(["", "https://news.example/x"]) | texts))
    if kind == "click":
        sel = draw(st.text(PRINTABLE, max_size=80))
        return Event(kind, ts, sel=sel, x=draw(coordinates), y=draw(coordinates))
    return Event(kind, ts, depth=draw(st.integers(0, 100)))


HOSTS = {SITE_A.key: ["a.example", "shop.a.example", "A.Example"], SITE_B.key: ["b.example"]}


@st.composite
def models(draw: st.DrawFn, site: str = SITE_A.key) -> Model:
    now = int(time.time() * 1000)
    hosts = st.sampled_from(HOSTS[site])
    runs = []
    for _ in range(draw(st.integers(1, 3))):
        url = f"https://{draw(hosts)}/" + draw(texts).replace("#", "")
        size = (draw(pixels), draw(pixels), draw(pixels), draw(pixels))
        run_events = draw(st.lists(events(now), min_size=1, max_size=8))
        runs.append(Run(draw(ids), url, size, run_events))
    vid = draw(st.just("") | ids)
    return Model(draw(ids), vid, runs)


def render(model: Model, wire: str, site: str) -> dict[str, Any]:
    """The model in one of the wire formats: runs as columns (tag 0.4.0), runs of event
    objects (0.3.0), pages (0.2.0), or flat events (older tags and API clients)."""
    ids = {"site": site, "sid": model.sid, "vid": model.vid}
    if wire == "events":
        flat = [
            {"type": e.type, "ts": e.ts, "sid": model.sid, "pid": r.pid, "url": r.url,
             "vid": model.vid, **dict(zip(("vw", "vh", "dw", "dh"), r.size, strict=True)),
             **_fields(e)}
            for r, e in model.events
        ]  # fmt: skip
        return {"site": site, "events": flat}
    if wire == "pages":
        pages = [
            {"pid": r.pid, "url": r.url, "events": [
                {"type": e.type, "ts": e.ts,
                 **dict(zip(("vw", "vh", "dw", "dh"), r.size, strict=True)), **_fields(e)}
                for e in r.events
            ]}
            for r in model.runs
        ]  # fmt: skip
        return {**ids, "pages": pages}
    runs = []
    for r in model.runs:
        run: dict[str, Any] = {"pid": r.pid, "url": r.url}
        run.update(zip(("vw", "vh", "dw", "dh"), r.size, strict=True))
        if wire == "objects":
            run["events"] = [{"type": e.type, "ts": e.ts, **_fields(e)} for e in r.events]
        else:
            run["type"] = [e.type for e in r.events]
            run["ts"] = [e.ts for e in r.events]
            for name, kind in (("ref", "pageview"), ("sel", "click"), ("x", "click"),
                               ("y", "click"), ("depth", "scroll")):  # fmt: skip
                column = [getattr(e, name) for e in r.events if e.type == kind]
                if column:
                    run[name] = column
        runs.append(run)
    return {**ids, "runs": runs}


def _fields(event: Event) -> dict[str, Any]:
    if event.type == "pageview":
        return {"ref": event.ref}
    if event.type == "click":
        return {"sel": event.sel, "x": event.x, "y": event.y}
    return {"depth": event.depth}


@dataclass
class Case:
    """One request: what is sent, and what must come of it when that is known."""

    body: bytes
    headers: list[tuple[bytes, bytes]]
    chunks: list[int]  # where the body is cut into messages
    site: str = SITE_A.key  # the site a valid beacon is for
    model: Model | None = None  # set when the request must be accepted and stored as sent
    refused: frozenset[str] | None = None  # set when it must be refused, with one of these
    note: str = ""


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*at, index))


@st.composite
def broken(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with one place changed: a value replaced by any JSON, a key removed, or an
    unknown key added."""
    document = json.loads(json.dumps(document))
    path = draw(st.sampled_from([p for p in _paths(document) if p]))
    parent: Any = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "replace":
        parent[last] = draw(json_values)
    elif how == "remove":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(json_values)
    else:
        parent.insert(last, draw(json_values))
    return document


@st.composite
def mangled(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` cut short, or with bytes changed, removed or put in."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["cut", "flip", "drop", "insert"]))
        if how == "cut":
            del data[at:]
        elif how == "flip":
            data[at] = draw(st.integers(0, 255))
        elif how == "drop":
            del data[at]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


# What each run of the test sends (each kind a run of its own, so that each is tried as often).
KINDS = [
    "valid", "broken", "mangled", "oversized", "off-site url", "wrong key", "wrong origin",
    "wrong type", "junk",
]  # fmt: skip
OFF_SITE_URLS = [
    "https://b.example/",
    "https://a.example.evil.example/",
    "https://a.example@evil.example/",
    "http://evila.example/",
    "javascript:alert(1)",
    "//a.example/",
    "",
]
ORIGINS = {
    "allowed": [(b"origin", b"https://a.example")],
    "site b": [(b"origin", b"https://b.example")],
    "site b referer only": [(b"referer", b"https://b.example/")],
    "allowed subdomain": [(b"origin", b"https://shop.a.example")],
    "referer only": [(b"referer", b"https://a.example/page?x=1")],
    "other tenant": [(b"origin", b"https://b.example")],
    "look-alike": [(b"origin", b"https://a.example.evil.example")],
    "null": [(b"origin", b"null")],
    "none": [],
    "junk": [(b"origin", b"\xff\x00:://")],
}
VALID_ORIGINS = {
    SITE_A.key: ["allowed", "allowed subdomain", "referer only"],
    SITE_B.key: ["site b", "site b referer only"],
}
# The codes each kind of bad request may get (broken, mangled and junk bodies may happen to
# be valid, or fail in any way).
REFUSALS = {
    "oversized": frozenset({"body_too_large"}),
    "off-site url": frozenset({"url_not_allowed"}),
    "wrong key": frozenset({"origin_not_allowed", "unknown_site", "invalid_schema"}),
    "wrong origin": frozenset({"origin_not_allowed", "origin_missing"}),
    "wrong type": frozenset({"unsupported_media_type"}),
}
CONTENT_TYPES = [
    b"text/plain;charset=UTF-8",
    b"application/json",
    b"TEXT/PLAIN; charset=utf-8",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"",
    b"\xfe\xff",
]


@st.composite
def cases(draw: st.DrawFn, kind: str) -> Case:
    site = draw(st.sampled_from([SITE_A.key, SITE_B.key])) if kind == "valid" else SITE_A.key
    model = draw(models(site))
    wire = draw(st.sampled_from(["columns", "objects", "pages", "events"]))
    document = render(model, wire, site)
    origin = "allowed"
    content_type = b"text/plain;charset=UTF-8"
    expect: Model | None = None
    if kind == "valid":
        origin = draw(st.sampled_from(VALID_ORIGINS[site]))
        content_type = draw(st.sampled_from(CONTENT_TYPES[:3]))
        body = json.dumps(document, ensure_ascii=draw(st.booleans())).encode()
        assert len(body) <= LIMITS.max_body_bytes  # the strategies stay well under it
        expect = model
    elif kind == "broken":
        body = json.dumps(draw(broken(document))).encode()
    elif kind == "mangled":
        body = draw(mangled(json.dumps(document).encode()))
    elif kind == "oversized":  # valid in every field, too large as a whole
        while len(body := json.dumps(render(model, wire, site)).encode()) <= LIMITS.max_body_bytes:
            view = Event("pageview", model.runs[0].events[0].ts)
            model.runs.append(Run("pad", "https://a.example/" + "x" * 2000, (1, 1, 1, 1), [view]))
    elif kind == "off-site url":
        model.runs[-1].url = draw(st.sampled_from(OFF_SITE_URLS))
        body = json.dumps(render(model, wire, SITE_A.key)).encode()
    elif kind == "wrong key":
        site = draw(st.sampled_from([SITE_B.key, "no-such-key", "", "key-a\n"]))
        body = json.dumps(render(model, wire, site)).encode()
    elif kind == "wrong origin":
        body = json.dumps(document).encode()
        origin = draw(st.sampled_from(sorted(set(ORIGINS) - set(VALID_ORIGINS[SITE_A.key]))))
    elif kind == "wrong type":
        body = json.dumps(document).encode()
        content_type = draw(st.sampled_from(CONTENT_TYPES[3:]))
    else:
        body = draw(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
    headers = [(b"content-type", content_type), *ORIGINS[origin]]
    if draw(st.booleans()):
        headers.append((b"content-length", str(len(body)).encode()))
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    refused = REFUSALS.get(kind)
    return Case(body, headers, cuts, site, expect, refused, f"{kind}/{wire}/{origin}")


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


async def _ask(app: Collector, case: Case) -> Answer:
    ends = [*case.chunks, len(case.body)]
    pieces = [case.body[a:b] for a, b in zip([0, *case.chunks], ends, strict=True)]
    messages = [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http", "method": "POST", "path": "/collect", "headers": case.headers,
        "client": ("198.51.100.7", 40000), "http_version": "1.1", "scheme": "https",
    }  # fmt: skip
    await app(scope, receive, send)
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    assert not body.get("more_body", False)
    return Answer(start["status"], json.loads(body["body"]))


async def _exchange(spool_dir: Path, codec: SpoolCodec, case: Case) -> tuple[Answer, Answer]:
    app = Collector(
        registry=CachedSiteRegistry(StaticSiteRegistry([SITE_A, SITE_B])),
        spool=SpoolWriter(spool_dir, segment_bytes=1 << 20, segment_seconds=60),
        codec=codec,
        limits=LIMITS,
    )
    await app.spool.start()
    try:
        answer = await _ask(app, case)
        after = await _ask(app, _good_case())  # whatever came before, it still takes this
    finally:
        await app.spool.close()
    return answer, after


def _good_case() -> Case:
    view = Event("pageview", int(time.time() * 1000))
    model = Model("s", "v", [Run("p", "https://a.example/", (1, 1, 1, 1), [view])])
    body = json.dumps(render(model, "columns", SITE_A.key)).encode()
    return Case(body, [(b"content-type", b"text/plain"), *ORIGINS["allowed"]], [])


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> SpoolCodec:
    return make_codec(tmp_path_factory.mktemp("fuzz-keys"))


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_is_refused_with_its_code_or_lands_whole(
    event_store: Settings, codec: SpoolCodec, kind: str
) -> None:
    @FUZZ
    @given(case=cases(kind))
    def run(case: Case) -> None:
        _check(codec, case)

    run()


def _check(codec: SpoolCodec, case: Case) -> None:
    with tempfile.TemporaryDirectory(prefix="hg-fuzz-") as directory:
        spool = Path(directory) / "spool"
        answer, after = asyncio.run(_exchange(spool, codec, case))
        assert (after.status, after.body) == (202, {"accepted": 1}), case.note

        if answer.status != 202:
            assert set(answer.body) == {"code", "message"}, case.note
            assert CODES.get(answer.body["code"]) == answer.status, (case.note, answer)
            assert case.model is None, (case.note, answer)  # a valid beacon is never refused
            if case.refused is not None:
                assert answer.body["code"] in case.refused, (case.note, answer)
            return
        assert case.refused is None, (case.note, answer)  # a bad one is never accepted
        assert set(answer.body) == {"accepted"}, case.note
        accepted = answer.body["accepted"]
        assert isinstance(accepted, int) and 1 <= accepted <= MAX_EVENTS

        batches = [
            batch
            for segment in sealed_segments(spool)
            for record in read_records(segment).records
            for batch in codec.open(record)
        ]
        assert len(batches) == 2, case.note  # the beacon, then the good one
        batch = batches[0]
        site = SITES[json.loads(case.body)["site"]]  # a 202 names a known site ...
        assert (batch.tenant_id, batch.site_id) == (site.tenant_id, site.site_id)
        rows = to_rows(batch)
        assert len(rows) == accepted, case.note
        hosts = {host.lower() for host in HOSTS[site.key]}
        for row in rows:  # ... and only URLs on its domains
            assert url_host(row.url) in hosts, row.url
        if case.model is not None:
            _assert_stored_as_sent(case.model, rows)

        # The loader puts them in the store under that tenant, and nowhere else.
        ids = [event_id(batch.batch_id, index) for index in range(accepted)]
        assert Loader(spool, codec).run_once().events == accepted + 1
        other = SITE_B if site is SITE_A else SITE_A
        assert store.existing_event_ids(TenantScope(site.tenant_id), ids) == set(ids)
        assert store.existing_event_ids(TenantScope(other.tenant_id), ids) == set()


def _assert_stored_as_sent(model: Model, rows: list[Any]) -> None:
    assert len(rows) == len(model.events)
    for row, (run, sent) in zip(rows, model.events, strict=True):
        assert (row.type, row.pageview_id) == (sent.type, run.pid)
        assert int(row.ts.timestamp() * 1000) == sent.ts
        assert (row.vw, row.vh, row.dw, row.dh) == run.size
        # Stored as sent, but for an e-mail address, which the loader never stores.
        stored_sel = without_emails(sent.sel)
        assert (row.selector, row.x, row.y) == (stored_sel, max(sent.x, 0), max(sent.y, 0))
        assert row.depth == sent.depth
        assert url_host(row.url) == url_host(run.url)
        if model.vid:
            assert (row.session_id, row.visitor_id) == (model.sid, model.vid)
        else:  # cookieless: the collector's own session and visitor hash
            assert row.visitor_id and row.session_id
