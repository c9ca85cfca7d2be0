"""Deleting the organisation from the app: owners only, name and password, B untouched."""

from __future__ import annotations

from django.conf import settings

from heliograph.core.crypto.setup import process_keyring
from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store
from heliograph.web.audit.models import AuditEntry, SecurityEventRecord
from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Membership, Role, Tenant
from tests.web.factories import Visit, write_visits
from tests.web.members import Members, signed_in

URL = "/settings/delete-organisation/"
PASSWORD = "correct horse battery staple 42"


def _with_password(members: Members) -> None:
    members.owner.set_password(PASSWORD)
    members.owner.save()


def test_only_owners_reach_the_page(members: Members) -> None:
    for role in (Role.ADMIN, Role.ANALYST, Role.VIEWER):
        response = signed_in(members.by_role(role)).get(URL)
        assert response.status_code == 403
    page = signed_in(members.owner).get(URL)
    assert page.status_code == 200
    assert b"cannot be undone" in page.content and b"A site" in page.content


def test_a_wrong_name_or_password_deletes_nothing(members: Members) -> None:
    _with_password(members)
    client = signed_in(members.owner)
    tenant = members.site_a.tenant
    wrong_name = client.post(URL, {"name": "Tenant B", "password": PASSWORD})
    assert wrong_name.status_code == 400
    wrong_password = client.post(URL, {"name": tenant.name, "password": "guess"})
    assert wrong_password.status_code == 400
    assert Tenant.objects.filter(pk=tenant.pk).exists()
    assert not process_keyring(settings.HELIOGRAPH).is_shredded(tenant.pk)
    assert SecurityEventRecord.objects.filter(
        action="tenant.delete_refused", tenant_id=tenant.pk
    ).exists()


def test_the_owner_deletes_the_tenant_and_the_other_keeps_everything(members: Members) -> None:
    _with_password(members)
    tenant_a, tenant_b = members.site_a.tenant, members.site_b.tenant
    write_visits(members.site_a, Visit("/a"), Visit("/a2"))
    write_visits(members.site_b, Visit("/b"))
    before_b = store.count_events(TenantScope(tenant_b.pk))
    assert store.count_events(TenantScope(tenant_a.pk)) == 2

    response = signed_in(members.owner).post(URL, {"name": tenant_a.name, "password": PASSWORD})
    assert response.status_code == 302

    assert not Tenant.objects.filter(pk=tenant_a.pk).exists()
    assert not Site.objects.filter(pk=members.site_a.pk).exists()
    assert not Membership.objects.filter(tenant_id=tenant_a.pk).exists()
    assert store.count_events(TenantScope(tenant_a.pk)) == 0
    assert process_keyring(settings.HELIOGRAPH).is_shredded(tenant_a.pk)
    entry = AuditEntry.objects.get(entity="tenant", action="deleted", tenant_id=tenant_a.pk)
    assert entry.actor_id == members.owner.pk and entry.new["data_keys_destroyed"] >= 0
    # Tenant B: its row, site, members and events are all still there.
    assert Tenant.objects.filter(pk=tenant_b.pk).exists()
    assert store.count_events(TenantScope(tenant_b.pk)) == before_b
    assert signed_in(members.owner_b).get("/").status_code in (200, 302)


def test_an_owner_of_b_cannot_delete_a(members: Members) -> None:
    members.owner_b.set_password(PASSWORD)
    members.owner_b.save()
    tenant_a = members.site_a.tenant
    response = signed_in(members.owner_b).post(URL, {"name": tenant_a.name, "password": PASSWORD})
    assert response.status_code == 400  # the form names B: A's name does not match
    assert Tenant.objects.filter(pk=tenant_a.pk).exists()
