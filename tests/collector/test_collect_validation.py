"""Every kind of bad beacon gets its own 4xx code, and the collector keeps serving."""

from __future__ import annotations

import json

import httpx
import pytest

from heliograph.collector import schema
from heliograph.collector.app import Collector
from heliograph.collector.schema import MAX_EVENTS
from heliograph.collector.spool import read_records, sealed_segments
from heliograph.core import security_events
from heliograph.core.security_events import SecurityEvent

from .conftest import event

pytestmark = pytest.mark.anyio
ORIGIN = {"Origin": "https://a.example", "Content-Type": "text/plain"}


async def post(
    client: httpx.AsyncClient, body: bytes | str, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return await client.post("/collect", content=content, headers=headers or ORIGIN)


def beacon(*events: dict[str, object], site: str = "key-a") -> str:
    return json.dumps({"site": site, "events": list(events) or [event()]})


async def test_valid_beacon_is_accepted_after_it_is_durable(
    client: httpx.AsyncClient, collector: Collector
) -> None:
    response = await post(client, beacon(event(), event(type="click", sel="a.cta", x=5, y=9)))
    assert response.status_code == 202
    assert response.json() == {"accepted": 2}
    assert response.headers["access-control-allow-origin"] == "https://a.example"
    assert collector.spool.records_written == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b'{"site": "key-a", "events": [\xff\xfe]}', 400, "malformed_json"),
        (
            b'{"site": "key-a", "events": [{"type": "pageview", "url": "\xc3\x28"}]}',
            400,
            "malformed_json",
        ),
        (b"", 400, "malformed_json"),
        (b"[]", 422, "invalid_schema"),
        (json.dumps({"site": 5, "events": [event()]}).encode(), 422, "invalid_schema"),
        (
            json.dumps({"site": "key-a", "events": [event(ts="yesterday")]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(type="purchase")]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(depth=101)]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(sid="a b")]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(), event(pid="p/1")]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(vid="v\u00e9")]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(sid="s\n")]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(url="x" * 3000)]}).encode(),
            422,
            "invalid_schema",
        ),
        (
            json.dumps({"site": "key-a", "events": [event(password="hunter2")]}).encode(),
            422,
            "invalid_schema",
        ),
        (json.dumps({"site": "key-a", "events": []}).encode(), 422, "invalid_schema"),
        (json.dumps({"site": "key a", "events": [event()]}).encode(), 422, "invalid_schema"),
        (
            json.dumps({"site": "key-a", "events": [event()] * (MAX_EVENTS + 1)}).encode(),
            422,
            "invalid_schema",
        ),
        (beacon(site="no-such-key").encode(), 404, "unknown_site"),
        (beacon(event(url="https://evil.example/")).encode(), 422, "url_not_allowed"),
        (beacon(event(url="javascript:alert(1)")).encode(), 422, "url_not_allowed"),
    ],
)
async def test_bad_bodies_get_their_code(
    client: httpx.AsyncClient, collector: Collector, body: bytes, status: int, code: str
) -> None:
    response = await post(client, body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert collector.spool.records_written == 0
    # ...and the collector keeps serving.
    assert (await post(client, beacon())).status_code == 202


async def test_oversized_body_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    response = await post(client, b"x" * (64 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_oversized_chunked_body_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post("/collect", content=chunks(), headers=ORIGIN)
    assert response.status_code == 413


async def test_lying_content_length_is_refused(client: httpx.AsyncClient) -> None:
    headers = {**ORIGIN, "Content-Length": "-1"}
    response = await client.post("/collect", content=beacon().encode(), headers=headers)
    assert response.status_code in (400, 413)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Content-Type": "text/plain"}, 403, "origin_missing"),
        (
            {"Content-Type": "text/plain", "Origin": "https://evil.example"},
            403,
            "origin_not_allowed",
        ),
        (
            {"Content-Type": "text/plain", "Origin": "https://a.example.evil.example"},
            403,
            "origin_not_allowed",
        ),
        ({"Content-Type": "text/plain", "Origin": "https://b.example"}, 403, "origin_not_allowed"),
        ({"Content-Type": "text/plain", "Origin": "null"}, 403, "origin_not_allowed"),
        (
            {"Content-Type": "text/plain", "Referer": "https://evil.example/x"},
            403,
            "origin_not_allowed",
        ),
        (
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://a.example"},
            415,
            "unsupported_media_type",
        ),
    ],
)
async def test_origin_and_media_type(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, code: str
) -> None:
    response = await post(client, beacon(), headers)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert "access-control-allow-origin" not in response.headers


async def test_subdomain_wildcard_and_referer_fallback(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json", "Referer": "https://shop.a.example/cart"}
    body = beacon(event(url="https://shop.a.example/cart"))
    assert (await post(client, body, headers)).status_code == 202


async def test_get_on_collect_is_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/collect")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_unknown_path_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404


async def test_rejections_are_summarised_per_site_and_reason(
    client: httpx.AsyncClient, collector: Collector
) -> None:
    await post(client, beacon(event(url="https://evil.example/")))
    await post(client, beacon(event(url="https://evil.example/")))
    await post(client, beacon(site="no-such-key"))
    await post(client, b"garbage")
    summary = {
        (e.labels["site_key"], e.tenant_id, e.labels["reason"]): e.labels["count"]
        for e in collector.rejections.drain()
    }
    assert summary == {
        ("key-a", 1, "url_not_allowed"): 2,
        ("no-such-key", None, "unknown_site"): 1,
        ("", None, "malformed_json"): 1,
    }
    assert collector.rejections.drain() == []


async def test_rejection_summary_reaches_the_security_log(
    client: httpx.AsyncClient, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded: list[SecurityEvent] = []
    monkeypatch.setattr(
        security_events, "_sink", type("Sink", (), {"append": staticmethod(recorded.extend)})()
    )
    await post(client, beacon(event(url="https://evil.example/")))
    await collector.rejections.flush()
    (event_,) = recorded
    assert event_.action == "collector.rejected"
    assert event_.tenant_id == 1
    assert event_.document()["event"] == {
        "action": "collector.rejected",
        "category": "web",
        "outcome": "failure",
    }


async def test_spooled_batch_holds_no_raw_ip_and_is_enriched(
    client: httpx.AsyncClient, collector: Collector
) -> None:
    headers = {
        **ORIGIN,
        "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    }
    assert (await post(client, beacon(event(vid="")), headers)).status_code == 202
    await collector.spool.close()
    segments = sealed_segments(collector.spool.spool_dir)
    data = b"".join(path.read_bytes() for path in segments)
    assert b"203.0.113.9" not in data
    (record,) = [r for path in segments for r in read_records(path).records]
    assert b"a.example" not in data  # the batch is sealed under the tenant's key
    (batch,) = collector.codec.open(record)
    assert (batch.device, batch.browser, batch.os) == ("mobile", "Mobile Safari", "iOS")
    assert len(batch.visitor_hash) == 16
    assert batch.events[0].sid.startswith("c")  # cookieless: the server keeps the session
    assert (batch.tenant_id, batch.site_id) == (1, 11)


async def test_future_client_clock_is_clamped(
    client: httpx.AsyncClient, collector: Collector
) -> None:
    assert (await post(client, beacon(event(ts=2**52)))).status_code == 202
    await collector.spool.close()
    (segment,) = sealed_segments(collector.spool.spool_dir)
    (batch,) = collector.codec.open(read_records(segment).records[0])
    assert batch.events[0].ts == batch.received_ms


async def test_serves_the_tag_gzip_and_etag(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/heliograph.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"].startswith("application/javascript")
    assert b"collect" in response.content
    again = await client.get(
        "/t/heliograph.js", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_beacon_for_a_deleted_tenant_is_refused_not_spooled(
    client: httpx.AsyncClient, collector: Collector
) -> None:
    collector.codec.keyring.destroy_tenant(1)  # tenant 1 deleted; its site is still cached
    response = await post(client, beacon())
    assert (response.status_code, response.json()["code"]) == (404, "unknown_site")
    assert collector.spool.records_written == 0


def test_a_bad_id_is_named_by_its_path() -> None:
    good = event()
    body = json.dumps({"site": "key-a", "events": [good, good, event(vid="x;y")]}).encode()
    beacon_ = schema.beacon_decoder.decode(body)
    assert schema.check_ids(beacon_) == "$.events[2].vid"
    clean = json.dumps({"site": "key-a", "events": [good, good]}).encode()
    assert schema.check_ids(schema.beacon_decoder.decode(clean)) is None
