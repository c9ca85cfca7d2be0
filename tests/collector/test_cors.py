"""CORS: the collector grants a cross-origin read only to an origin of the beacon's own site."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import event

pytestmark = pytest.mark.anyio


def beacon(site: str = "key-a") -> bytes:
    return json.dumps({"site": site, "events": [event()]}).encode()


async def post(client: httpx.AsyncClient, origin: str, site: str = "key-a") -> httpx.Response:
    headers = {"Origin": origin, "Content-Type": "text/plain"}
    return await client.post("/collect", content=beacon(site), headers=headers)


async def test_the_sites_own_origin_is_granted_and_varies(client: httpx.AsyncClient) -> None:
    for origin in ("https://a.example", "https://shop.a.example"):
        response = await post(client, origin)
        assert response.status_code == 202
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["vary"] == "Origin"
        assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://b.example",  # another tenant's site
        "https://a.example.evil.example",
        "https://evila.example",
        "null",
        "*",
    ],
)
async def test_other_origins_get_no_grant(client: httpx.AsyncClient, origin: str) -> None:
    response = await post(client, origin)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_a_beacon_for_another_sites_key_gets_no_grant(client: httpx.AsyncClient) -> None:
    response = await post(client, "https://a.example", site="key-b")
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_preflights_grant_nothing(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/collect",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert not any(name.startswith("access-control-") for name in response.headers)
