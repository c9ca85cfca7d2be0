"""The site pages: list with activity, create, detail with the snippet, key rotation."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest

from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Role
from tests.web.factories import DAY, Visit, write_visits
from tests.web.members import Members, signed_in


def test_the_list_shows_the_tenants_sites_with_first_and_last_seen(members: Members) -> None:
    site = members.site_a
    write_visits(
        site,
        Visit("/", at=DAY + timedelta(hours=9, minutes=5)),
        Visit("/x", at=DAY + timedelta(days=2, hours=17, minutes=45)),
    )
    page = signed_in(members.viewer).get("/sites/").content.decode()
    assert "A site" in page
    assert "B site" not in page
    assert "Mar 12, 2024 09:05" in page
    assert "Mar 14, 2024 17:45" in page
    assert ">2</td>" in page  # two events


def test_times_read_in_the_tenants_time_zone(members: Members) -> None:
    tenant = members.site_a.tenant
    tenant.time_zone = "Europe/Berlin"
    tenant.save(update_fields=["time_zone"])
    write_visits(members.site_a, Visit("/", at=DAY + timedelta(hours=9, minutes=5)))
    page = signed_in(members.viewer).get("/sites/").content.decode()
    assert "Mar 12, 2024 10:05" in page


def test_a_site_without_events_was_never_seen(members: Members) -> None:
    page = signed_in(members.viewer).get("/sites/").content.decode()
    assert "Never" in page


def test_an_admin_creates_a_site(members: Members) -> None:
    client = signed_in(members.admin)
    response = client.post(
        "/sites/new/", {"name": " Docs ", "domains": "Docs.Example.com\n*.docs.example.com"}
    )
    site = Site.objects.get(name="Docs")
    assert response["Location"] == f"/sites/{site.pk}/"
    assert site.tenant_id == members.site_a.tenant_id
    assert site.allowed_domains == ["docs.example.com", "*.docs.example.com"]
    detail = client.get(response["Location"]).content.decode()
    assert site.key in detail
    assert f'data-site="{site.key}"' in detail.replace("&quot;", '"')


def test_a_bad_domain_is_refused_with_a_message(members: Members) -> None:
    client = signed_in(members.owner)
    response = client.post("/sites/new/", {"name": "Bad", "domains": "not a host!"})
    assert response.status_code == 400
    assert b"is not a hostname" in response.content
    assert not Site.objects.filter(name="Bad").exists()


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_analysts_and_viewers_cannot_create_sites(members: Members, role: Role) -> None:
    client = signed_in(members.by_role(role))
    response = client.post("/sites/new/", {"name": "Nope", "domains": "nope.example"})
    assert response.status_code == 403
    assert not Site.objects.filter(name="Nope").exists()


def test_the_detail_shows_key_domains_and_snippet(members: Members) -> None:
    site = members.site_a
    page = signed_in(members.viewer).get(f"/sites/{site.pk}/").content.decode()
    assert site.key in page
    assert "a.example" in page
    assert "/t/heliograph.js" in page
    assert "Only admins and owners can rotate the key" in page


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_admins_rotate_the_key(members: Members, role: Role) -> None:
    site = members.site_a
    old = site.key
    response = signed_in(members.by_role(role)).post(f"/sites/{site.pk}/rotate-key/")
    assert response["Location"] == f"/sites/{site.pk}/?rotated=1"
    site.refresh_from_db()
    assert site.key != old
    assert site.key_rotated_at is not None


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_analysts_and_viewers_cannot_rotate_the_key(members: Members, role: Role) -> None:
    site = members.site_a
    old = site.key
    response = signed_in(members.by_role(role)).post(f"/sites/{site.pk}/rotate-key/")
    assert response.status_code == 403
    site.refresh_from_db()
    assert site.key == old


def test_rotation_is_a_post(members: Members) -> None:
    site = members.site_a
    assert signed_in(members.owner).get(f"/sites/{site.pk}/rotate-key/").status_code == 405
    site.refresh_from_db()
    assert site.key_rotated_at is None


def test_rotation_is_a_security_event(members: Members) -> None:
    site = members.site_a
    with mock.patch("heliograph.core.security_events.record") as record:
        signed_in(members.admin).post(f"/sites/{site.pk}/rotate-key/")
    (event,) = (call.args[0] for call in record.call_args_list)
    assert event.action == "site.key_rotated"
    assert (event.tenant_id, event.user_id, event.labels) == (
        site.tenant_id,
        members.admin.pk,
        {"entity_id": str(site.pk)},
    )


def test_rotation_leaves_an_audit_entry_with_old_and_new_key(members: Members) -> None:
    from heliograph.web.audit.models import AuditEntry

    site = members.site_a
    old_key = site.key
    signed_in(members.admin).post(f"/sites/{site.pk}/rotate-key/")
    site.refresh_from_db()
    entry = AuditEntry.objects.filter(entity="site", action="key_rotated").get()
    assert (entry.tenant_id, entry.actor_id, entry.entity_id) == (
        site.tenant_id,
        members.admin.pk,
        str(site.pk),
    )
    assert (entry.old, entry.new) == ({"key": old_key}, {"key": site.key})


def test_site_keys_never_start_with_a_dash() -> None:
    """A key is typed on command lines (`heliograph simulate --site KEY`), where a leading "-"
    reads as an option; about one token in 64 would start with one."""
    from heliograph.web.sites.services import new_site_key

    keys = [new_site_key() for _ in range(3000)]
    assert not [key for key in keys if key.startswith("-")]
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{15}", key) for key in keys)
