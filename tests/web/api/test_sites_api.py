"""Sites over the API: list, create, get, rotate the key; roles, validation, JSON errors."""

from __future__ import annotations

import pytest
from django.test import Client

from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Role
from tests.web.api.helpers import NOT_FOUND, bearer, issue, post_json
from tests.web.members import Members, signed_in

NEW_SITE = {"name": " Docs ", "domains": ["Docs.Example.com", "*.docs.example.com"]}


def test_the_list_holds_the_callers_sites_only(members: Members) -> None:
    response = signed_in(members.viewer).get("/api/v1/sites")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    (site,) = response.json()["items"]
    assert site["id"] == members.site_a.pk
    assert site["key"] == members.site_a.key
    assert site["allowed_domains"] == ["a.example", "localhost"]
    assert f'data-site="{members.site_a.key}"' in site["snippet"]
    assert site["key_rotated_at"] is None


@pytest.mark.parametrize("via", ["session", "token"])
def test_an_admin_creates_a_site(members: Members, via: str) -> None:
    client = signed_in(members.admin) if via == "session" else bearer(issue(members.admin)[1])
    response = post_json(client, "/api/v1/sites", NEW_SITE)
    assert response.status_code == 201, response.content
    created = response.json()
    site = Site.objects.get(pk=created["id"])
    assert site.tenant_id == members.site_a.tenant_id
    assert created["name"] == "Docs"
    assert created["allowed_domains"] == ["docs.example.com", "*.docs.example.com"]
    assert client.get(f"/api/v1/sites/{site.pk}").json() == created


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_lower_roles_cannot_create_or_rotate(members: Members, role: Role) -> None:
    client = signed_in(members.by_role(role))
    created = post_json(client, "/api/v1/sites", NEW_SITE)
    rotated = client.post(f"/api/v1/sites/{members.site_a.pk}/rotate-key")
    assert created.status_code == rotated.status_code == 403
    assert created.json() == rotated.json()
    assert created.json()["code"] == "forbidden"
    assert Site.objects.count() == 2


def test_rotating_gives_a_new_key(members: Members) -> None:
    old = members.site_a.key
    response = signed_in(members.admin).post(f"/api/v1/sites/{members.site_a.pk}/rotate-key")
    assert response.status_code == 200
    members.site_a.refresh_from_db()
    assert members.site_a.key != old
    assert response.json()["key"] == members.site_a.key
    assert response.json()["key_rotated_at"] is not None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x", "domains": ["not a host"]}, 400, "invalid_domain"),
        ({"name": "   ", "domains": ["x.example"]}, 400, "invalid_name"),
        ({"name": "x", "domains": []}, 400, "invalid_body"),
        ({"name": "x", "domains": ["x.example"], "tenant": 2}, 400, "invalid_body"),
        ({"name": 5, "domains": ["x.example"]}, 400, "invalid_body"),
        ({"name": "x\u0000", "domains": ["x.example"]}, 400, "invalid_body"),
        ([], 400, "invalid_body"),
    ],
)
def test_bad_bodies_are_refused_with_a_code(
    members: Members, body: object, status: int, code: str
) -> None:
    response = post_json(signed_in(members.admin), "/api/v1/sites", body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message"}
    assert Site.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b'{"name": "\xff"}', "application/json", 400, "invalid_json"),
        (b"name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b" " * (64 * 1024 + 1), "application/json", 413, "body_too_large"),
    ],
)
def test_bad_requests_are_json_4xx(
    members: Members, data: bytes, content_type: str, status: int, code: str
) -> None:
    response = signed_in(members.admin).post("/api/v1/sites", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/sites/987654321",
        "/api/v1/sites/0",
        "/api/v1/sites/-1",
        "/api/v1/sites/99999999999999999999999999",
        "/api/v1/sites/abc",
        "/api/v1/sites/1/nothing",
        "/api/v1/nothing",
        "/api/v1/",
    ],
)
def test_unknown_paths_and_ids_are_json_404(members: Members, url: str) -> None:
    response = signed_in(members.owner).get(url)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(("method", "url"), [("put", "/api/v1/sites"),
                                             ("delete", "/api/v1/sites/{site}"),
                                             ("get", "/api/v1/sites/{site}/rotate-key"),
                                             ("patch", "/api/v1/tokens")])
def test_other_methods_are_405_with_allow(members: Members, method: str, url: str) -> None:
    client = signed_in(members.owner)
    response = getattr(client, method)(url.format(site=members.site_a.pk))
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"]


def test_a_member_of_no_tenant_is_refused(members: Members) -> None:
    from django.contrib.auth.models import User

    loner = User.objects.create_user(username="loner@example.com")
    client = Client()
    client.force_login(loner)
    response = client.get("/api/v1/sites")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
