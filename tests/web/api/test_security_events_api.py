"""The tenant's security events over the API: admins only, their tenant only, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from heliograph.core import security_events
from heliograph.core.security_events import SecurityEvent
from heliograph.web.tenants.models import Role
from tests.web.members import Members, signed_in


def _event(tenant_id: int, action: str, *, minutes_ago: int = 0) -> None:
    security_events.record(
        SecurityEvent(
            action=action, category="authentication", outcome="success", tenant_id=tenant_id,
            timestamp=timezone.now() - timedelta(minutes=minutes_ago),
        )
    )


def test_admins_read_their_tenants_events_newest_first(members: Members) -> None:
    tenant_a, tenant_b = members.site_a.tenant_id, members.site_b.tenant_id
    _event(tenant_a, "user.login", minutes_ago=10)
    _event(tenant_b, "user.login.b")
    _event(tenant_a, "user.logout")
    response = signed_in(members.admin).get("/api/v1/security-events")
    assert response.status_code == 200
    # The fixtures' own changes (tenant, site, membership created) are in the log too.
    items = [i for i in response.json()["items"] if i["action"].startswith("user.")]
    assert [i["action"] for i in items] == ["user.logout", "user.login"]
    assert all(i["document"]["tenant"] == {"id": tenant_a} for i in items)
    assert items[0]["seq"] > items[1]["seq"]


def test_limit_and_since(members: Members) -> None:
    tenant_a = members.site_a.tenant_id
    for minutes in (30, 20, 10):
        _event(tenant_a, f"e{minutes}", minutes_ago=minutes)
    client = signed_in(members.owner)
    assert [i["action"] for i in client.get("/api/v1/security-events", {"limit": 1}).json()[
        "items"]] == ["e10"]
    since = (timezone.now() - timedelta(minutes=25)).isoformat()
    actions = [i["action"] for i in
               client.get("/api/v1/security-events", {"since": since}).json()["items"]]
    # Newer records of the fixtures' own changes are there too; the old ones are cut off.
    assert [a for a in actions if a.startswith("e")] == ["e10", "e20"]


@pytest.mark.parametrize(
    "since",
    [
        "2024-01-01T00:00:00",  # no offset
        "0.5",  # not a Unix time either: RFC 3339 only
        "0001-01-01T00:00:00+01:00",  # before any UTC instant a database can hold
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_a_bad_since_is_400(members: Members, since: str) -> None:
    response = signed_in(members.owner).get("/api/v1/security-events", {"since": since})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_lower_roles_are_refused(members: Members, role: Role) -> None:
    response = signed_in(members.by_role(role)).get("/api/v1/security-events")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_since_with_an_offset_postgres_cannot_store_is_accepted(members: Members) -> None:
    tenant_a = members.site_a.tenant_id
    _event(tenant_a, "e1", minutes_ago=1)
    response = signed_in(members.owner).get(
        "/api/v1/security-events", {"since": "2020-01-01T00:00:00-21:54"}
    )
    assert response.status_code == 200
    assert "e1" in [i["action"] for i in response.json()["items"]]
