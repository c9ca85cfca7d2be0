"""Cross-tenant probes of the JSON API: another tenant's objects look exactly like missing ones.

Every operation of /api/v1 that names an object is probed (taken from the one declaration,
OPERATIONS), by a bearer token and by a browser session of tenant A, each with every scope and
the highest role so that no role or scope check stops the probe before the lookup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern

from heliograph.core import security_events
from heliograph.core.security_events import SecurityEvent
from heliograph.web.api import urls as api_urls
from heliograph.web.api.declare import AnyOperation
from heliograph.web.api.endpoints import OPERATIONS
from heliograph.web.api.models import ApiToken
from heliograph.web.audit import log
from tests.web.api.helpers import NOT_FOUND, bearer, issue
from tests.web.factories import DAY, Visit, write_visits
from tests.web.members import Members, members, signed_in

__all__ = ["members"]  # the fixture, imported so that this directory can use it

MISSING_ID = 987_654_321
SECRET_PATH = "/b-secret-pricing"
QUERY = {"start": "2024-03-12", "end": "2024-03-12", "tz": "UTC", "path": SECRET_PATH}
OBJECT_OPERATIONS = [op for op in OPERATIONS if op.has_id]
CALLERS = ("token", "session")


@dataclass(frozen=True)
class World:
    """Tenant A's callers, and tenant B with traffic, a token and security events."""

    members: Members
    token_a: str
    token_b: ApiToken
    token_b_plaintext: str

    def client(self, caller: str) -> Client:
        if caller == "token":
            return bearer(self.token_a)
        return signed_in(self.members.owner)

    def secrets(self) -> list[str]:
        site = self.members.site_b
        return [site.name, site.key, SECRET_PATH, "b-partner.example", "B-Browser",
                "b-secret-button", "Tenant B", "b.example", self.token_b.prefix,
                "b.only.event"]


@pytest.fixture
def world(members: Members) -> World:
    log.install()
    write_visits(
        members.site_b,
        Visit(SECRET_PATH, at=DAY + timedelta(hours=9), referrer="https://b-partner.example/",
              browser="B-Browser", depth=90, clicks=(("#b-secret-button", 40, 40),)),
    )
    token_b, plaintext_b = issue(members.owner_b)
    security_events.record(SecurityEvent(action="b.only.event", category="iam",
                                         outcome="success", tenant_id=members.site_b.tenant_id))
    _, token_a = issue(members.owner)
    return World(members, token_a, token_b, plaintext_b)


def _foreign_id(world: World, operation: AnyOperation) -> int:
    if operation.path.startswith("/tokens/"):
        return world.token_b.pk
    return world.members.site_b.pk


def _send(client: Client, operation: AnyOperation, object_id: int) -> Any:
    url = "/api/v1" + operation.path.replace("{id}", str(object_id))
    if operation.method == "GET":
        return client.get(url, QUERY)
    if operation.method == "POST":
        return client.post(url, data=json.dumps({}), content_type="application/json")
    return client.delete(url)


def test_every_route_with_an_object_id_is_probed() -> None:
    with_ids = {
        p.name for p in api_urls.urlpatterns
        if isinstance(p, URLPattern) and "(?P<id>" in str(p.pattern)
    }
    probed = {op.operation_id for op in OBJECT_OPERATIONS}
    assert with_ids and with_ids <= probed
    assert {op.path for op in OBJECT_OPERATIONS} == {
        op.path for op in OPERATIONS if "{id}" in op.path
    }


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.operation_id)
def test_another_tenants_object_answers_like_a_missing_one(
    world: World, operation: AnyOperation, caller: str
) -> None:
    client = world.client(caller)
    foreign = _send(client, operation, _foreign_id(world, operation))
    missing = _send(client, operation, MISSING_ID)
    assert foreign.status_code == missing.status_code
    assert foreign.content == missing.content
    assert dict(foreign.headers) == dict(missing.headers)
    if caller == "session" or operation.access.tokens:
        assert foreign.status_code == 404
        assert foreign.json() == NOT_FOUND
    else:  # a session-only operation refuses every token alike, before any lookup
        assert foreign.status_code == 403
    body = foreign.content.decode()
    for secret in world.secrets():
        assert secret not in body
    site_b = world.members.site_b
    site_b.refresh_from_db()
    assert site_b.key_rotated_at is None
    world.token_b.refresh_from_db()
    assert world.token_b.revoked_at is None
    assert bearer(world.token_b_plaintext).get("/api/v1/sites").status_code == 200


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "operation", [op for op in OPERATIONS if op.method == "GET" and not op.has_id],
    ids=lambda op: op.operation_id,
)
def test_lists_hold_only_the_callers_tenant(
    world: World, operation: AnyOperation, caller: str
) -> None:
    response = world.client(caller).get("/api/v1" + operation.path)
    if caller == "token" and not operation.access.tokens:
        assert response.status_code == 403
    else:
        assert response.status_code == 200
        assert response.json()["items"]  # A has something of each kind: the probe means it
    body = response.content.decode()
    for secret in world.secrets():
        assert secret not in body


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "operation", [op for op in OPERATIONS if op.uses_store], ids=lambda op: op.operation_id
)
def test_own_dashboards_never_show_the_other_tenants_events(
    world: World, operation: AnyOperation, caller: str
) -> None:
    write_visits(world.members.site_a, Visit("/a-page", at=DAY + timedelta(hours=9)))
    response = _send(world.client(caller), operation, world.members.site_a.pk)
    assert response.status_code == 200
    body = response.content.decode()
    for secret in world.secrets():
        # The maps echo the path asked for; nothing else of B may appear.
        assert secret not in body or (secret == SECRET_PATH and '"path"' in body), secret
    document = response.json()
    assert document.get("clicks", 0) == 0 or operation.operation_id != "site_heatmap"
    assert document.get("pageviews", 0) == 0 or operation.operation_id != "site_scroll"


def test_b_sees_its_own_data(world: World) -> None:
    """The probes above are meaningful: B's token does read B's secrets."""
    url = f"/api/v1/sites/{world.members.site_b.pk}/heatmap"
    body = bearer(world.token_b_plaintext).get(url, QUERY).content.decode()
    assert SECRET_PATH in body and "b-secret-button" in body


def test_anonymous_probes_learn_nothing(world: World) -> None:
    client = Client()
    for operation in OBJECT_OPERATIONS:
        foreign = _send(client, operation, _foreign_id(world, operation))
        missing = _send(client, operation, MISSING_ID)
        assert foreign.status_code == missing.status_code == 401
        assert foreign.content == missing.content
