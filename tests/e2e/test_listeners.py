"""Two listeners in one `heliograph serve`: the public one never serves the admin, metrics or
ops endpoints; behind a TLS-terminating proxy, forwarded headers count from that proxy only."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import pytest

from .conftest import Instance, free_port

pytestmark = pytest.mark.slow
PROXY = "127.0.0.2"  # the trusted proxy; the tests' other connections come from 127.0.0.1
HSTS = "max-age=63072000; includeSubDomains"


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, str]]:
    port = free_port()
    instance = Instance(
        data_dir=tmp_path_factory.mktemp("proxy") / "data",
        port=port,
        extra_env={
            "HELIOGRAPH_TRUSTED_PROXIES": PROXY,
            "HELIOGRAPH_PUBLIC_URL": f"https://127.0.0.1:{port}",
            # One beacon per client, so a second one shows which client the collector saw.
            "HELIOGRAPH_CLIENT_RATE": "0.001",
            "HELIOGRAPH_CLIENT_BURST": "1",
        },
    )
    _, key = instance.create_site("Acme", "a.example")
    instance.start()
    yield instance, key
    instance.stop()


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/login/", "/metrics", "/ops/health", "/static/admin/css/base.css"]
)
def test_the_public_listener_does_not_know_the_admin_paths(
    behind_proxy: tuple[Instance, str], path: str
) -> None:
    instance, _ = behind_proxy
    status, headers, body = request(instance.port, path)
    unknown = request(instance.port, "/no-such-page/")
    assert (status, body) == (unknown[0], unknown[2]) == (404, unknown[2])
    assert headers["content-type"] == unknown[1]["content-type"]


def test_the_admin_listener_serves_admin_metrics_and_health_only(
    behind_proxy: tuple[Instance, str],
) -> None:
    instance, _ = behind_proxy
    admin = instance.admin_port
    status, headers, body = request(admin, "/ops/health")
    assert (status, json.loads(body)) == (
        200,
        {"status": "ok", "checks": {"database": True, "event_store": True}},
    )
    status, headers, _ = request(admin, "/admin/")
    assert (status, headers["location"]) == (302, "/admin/login/?next=/admin/")
    status, _, page = request(admin, "/admin/login/")
    assert status == 200
    assert b"Heliograph operations" in page
    status, headers, _ = request(admin, "/static/admin/css/base.css")
    assert (status, headers["content-type"]) == (200, "text/css")
    assert request(admin, "/static/admin/../../__init__.py")[0] == 404
    for public_only in ("/sign-in/", "/healthz", "/t/heliograph.js", "/api/v1/openapi.json"):
        assert request(admin, public_only)[0] == 404, public_only


def scrape(port: int) -> dict[str, float]:
    status, headers, body = request(port, "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split(" ")
            samples[name] = float(value)
    return samples


def beacon(key: str, pid: str) -> bytes:
    event = {
        "type": "pageview",
        "ts": int(time.time() * 1000),
        "sid": "s1",
        "vid": "v1",
        "pid": pid,
        "url": "https://a.example/",
        "vw": 1280,
        "vh": 720,
        "dw": 1280,
        "dh": 2000,
    }
    return json.dumps({"site": key, "events": [event]}).encode()


def collect(instance: Instance, key: str, *, client: str, source: str, pid: str) -> int:
    headers = {
        "Content-Type": "text/plain",
        "Origin": "https://a.example",
        "X-Forwarded-For": client,
    }
    body = beacon(key, pid)
    return request(
        instance.port, "/collect", method="POST", body=body, headers=headers, source=source
    )[0]


def test_forwarded_for_counts_only_from_the_trusted_proxy(
    behind_proxy: tuple[Instance, str],
) -> None:
    instance, key = behind_proxy
    before = scrape(instance.admin_port)
    # From the proxy, each forwarded client has its own rate limit...
    assert collect(instance, key, client="198.51.100.1", source=PROXY, pid="p1") == 202
    assert collect(instance, key, client="198.51.100.2", source=PROXY, pid="p2") == 202
    assert collect(instance, key, client="198.51.100.1", source=PROXY, pid="p3") == 429
    # ...from anyone else the header is ignored: every beacon is 127.0.0.1's.
    assert collect(instance, key, client="203.0.113.1", source="127.0.0.1", pid="p4") == 202
    assert collect(instance, key, client="203.0.113.2", source="127.0.0.1", pid="p5") == 429
    after = scrape(instance.admin_port)
    accepted = "heliograph_collector_events_accepted_total"
    assert after[accepted] - before[accepted] == 3
    assert after["heliograph_spool_records_written_total"] >= 3
    assert after["heliograph_store_ready"] == 1
    deadline = time.monotonic() + 30
    while scrape(instance.admin_port)["heliograph_loader_events_loaded_total"] < after[accepted]:
        assert time.monotonic() < deadline, "the loader did not load the beacons"
        time.sleep(0.3)


def test_forwarded_proto_counts_only_from_the_trusted_proxy(
    behind_proxy: tuple[Instance, str],
) -> None:
    instance, _ = behind_proxy
    https = {"X-Forwarded-Proto": "https"}
    for path in ("/healthz", "/sign-in/"):
        _, headers, _ = request(instance.port, path, headers=https, source=PROXY)
        assert headers.get("strict-transport-security") == HSTS, path
        _, headers, _ = request(instance.port, path, headers=https, source="127.0.0.1")
        assert "strict-transport-security" not in headers, path
        _, headers, _ = request(instance.port, path, source=PROXY)  # the proxy says nothing
        assert "strict-transport-security" not in headers, path
