"""The Security page: a tenant's own security events and audit entries, for its admins only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from heliograph.core import security_events
from heliograph.core.security_events import SecurityEvent
from heliograph.web.accounts.services import membership_grant
from heliograph.web.audit.trail import Actor
from heliograph.web.sites.services import site_rotate_key
from heliograph.web.tenants.models import Role, Tenant
from tests.web.members import Members, signed_in
from tests.web.test_security_headers import INLINE_HANDLER, POLICY, STYLE_ATTRIBUTE


def login_failure(tenant_id: int, ip: str, marker: str) -> SecurityEvent:
    return SecurityEvent(
        action="user.login",
        category="authentication",
        outcome="failure",
        tenant_id=tenant_id,
        user_id=4242,
        source_ip=ip,
        http_method="POST",
        http_path="/sign-in/",
        http_status=200,
        labels={"marker": marker},
        timestamp=datetime(2024, 3, 12, 23, 30, tzinfo=UTC),
    )


@pytest.fixture
def both_logged(members: Members) -> Members:
    """One recognisable security event and one audit entry in each tenant."""
    security_events.record(login_failure(members.site_a.tenant_id, "192.0.2.10", "a-marker"))
    security_events.record(login_failure(members.site_b.tenant_id, "198.51.100.66", "b-marker"))
    site_rotate_key(site=members.site_a, actor=Actor(user_id=members.owner.pk, label="owner"))
    site_rotate_key(site=members.site_b, actor=Actor(user_id=members.owner_b.pk, label="b-owner"))
    return members


def page(client: Client, **query: str) -> str:
    response = client.get("/security/", query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_admins_see_their_tenants_events_and_changes(both_logged: Members, role: Role) -> None:
    members = both_logged
    html = page(signed_in(members.by_role(role)))
    assert "user.login" in html
    assert "192.0.2.10" in html
    assert "a-marker" in html
    assert "4242" in html
    assert "failure" in html
    assert "site.key_rotated" in html
    assert members.site_a.key in html  # the new key, as the audit entry's new value
    assert members.owner.email in html  # who rotated it


def test_times_read_in_the_tenants_zone(both_logged: Members) -> None:
    Tenant.objects.filter(pk=both_logged.site_a.tenant_id).update(time_zone="Asia/Tokyo")
    html = page(signed_in(both_logged.owner))
    assert "Mar 13, 08:30:00" in html  # 23:30 UTC on the 12th
    assert "Times in Asia/Tokyo" in html


def test_another_tenants_rows_never_appear(both_logged: Members) -> None:
    members = both_logged
    html = page(signed_in(members.owner), action="")
    for secret in ("198.51.100.66", "b-marker", "b-owner", members.site_b.key):
        assert secret not in html
    theirs = page(signed_in(members.owner_b))
    assert "198.51.100.66" in theirs
    assert "b-marker" in theirs
    assert "192.0.2.10" not in theirs


def test_a_member_of_both_tenants_sees_only_the_current_one(both_logged: Members) -> None:
    members = both_logged
    membership_grant(user=members.admin, tenant=members.site_b.tenant, role=Role.ADMIN)
    client = signed_in(members.admin)
    assert "b-marker" not in page(client)
    client.post("/tenant/switch/", {"tenant": members.site_b.tenant_id})
    html = page(client)
    assert "b-marker" in html
    assert "a-marker" not in html


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_analysts_and_viewers_are_refused(both_logged: Members, role: Role) -> None:
    client = signed_in(both_logged.by_role(role))
    response = client.get("/security/")
    assert response.status_code == 403
    assert b"a-marker" not in response.content
    assert b"/security/" not in client.get("/sites/").content  # no link in the navigation


def test_anonymous_visitors_are_sent_to_sign_in(both_logged: Members) -> None:
    response = Client().get("/security/")
    assert response["Location"] == "/sign-in/?next=/security/"


def test_the_filter_keeps_actions_with_the_prefix(both_logged: Members) -> None:
    client = signed_in(both_logged.owner)
    sites = page(client, action="site.")
    assert "site.key_rotated" in sites
    assert "a-marker" not in sites
    logins = page(client, action="user.login")
    assert "a-marker" in logins
    assert "site.key_rotated" not in logins
    assert "No changes with this action yet." in logins


def test_a_malformed_filter_is_refused_and_shows_everything(both_logged: Members) -> None:
    response = signed_in(both_logged.owner).get("/security/", {"action": "user%' OR 1=1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Use lower-case letters" in html
    assert "a-marker" in html
    assert "b-marker" not in html


def test_admins_find_the_page_in_the_navigation(both_logged: Members) -> None:
    client = signed_in(both_logged.admin)
    html = client.get("/sites/").content.decode()
    assert 'href="/security/">Security' in html
    assert 'href="/members/">Members' in html
    assert 'href="/security/" aria-current="page"' in page(client)


def test_the_page_passes_the_content_security_policy(both_logged: Members) -> None:
    response = signed_in(both_logged.owner).get("/security/", {"action": "user."})
    html = response.content.decode()
    assert response["Content-Security-Policy"] == POLICY
    assert "no-store" in response["Cache-Control"]
    assert "<script" not in html.lower()
    assert "<style" not in html.lower()
    assert not INLINE_HANDLER.search(html)
    assert not STYLE_ATTRIBUTE.search(html)
