"""The operators' Django admin: read-only, staff only, never showing secrets at rest."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from heliograph.web.audit.models import AuditEntry
from heliograph.web.ops.services import operator_set
from tests.web.members import Members, signed_in

pytestmark = pytest.mark.django_db(transaction=True)
ADMIN_URLCONF = override_settings(ROOT_URLCONF="heliograph.web.ops.urls")
MODELS = (
    "tenants/tenant",
    "hg_sites/site",
    "tenants/membership",
    "auth/user",
    "accounts/invitation",
    "api/apitoken",
    "audit/auditentry",
    "audit/securityeventrecord",
)


@pytest.fixture
def operator(members: Members) -> Client:
    return signed_in(operator_set(user=members.owner_b, operator=True))


@ADMIN_URLCONF
def test_operators_see_every_list_and_record_read_only(members: Members, operator: Client) -> None:
    index = operator.get("/admin/")
    assert index.status_code == 200
    for model in MODELS:
        listing = operator.get(f"/admin/{model}/")
        assert listing.status_code == 200, model
        assert operator.get(f"/admin/{model}/add/").status_code == 403, model
        assert f'href="/admin/{model}/add/"' not in listing.content.decode(), model
    tenant = members.site_a.tenant
    page = operator.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    assert page.status_code == 200
    assert tenant.name in page.content.decode()
    assert 'type="submit"' not in page.content.decode().split('id="content-main"', 1)[1]
    assert operator.post(f"/admin/tenants/tenant/{tenant.pk}/delete/").status_code == 403
    assert operator.get("/admin/auth/group/").status_code == 404  # not registered


@ADMIN_URLCONF
def test_password_hashes_are_not_shown(members: Members, operator: Client) -> None:
    page = operator.get(f"/admin/auth/user/{members.owner.pk}/change/").content.decode()
    assert members.owner.username in page
    assert members.owner.password not in page
    assert "argon2" not in page


@ADMIN_URLCONF
def test_members_who_are_not_operators_are_sent_to_the_login(members: Members) -> None:
    for client in (signed_in(members.owner), Client()):
        response = client.get("/admin/tenants/tenant/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_the_public_urlconf_has_no_admin(members: Members, operator: Client) -> None:
    for path in ("/admin/", "/metrics", "/ops/health"):
        assert operator.get(path).status_code == 404, path


def test_granting_and_revoking_leaves_audit_records(members: Members) -> None:
    user = operator_set(user=members.viewer, operator=True)
    assert User.objects.get(pk=user.pk).is_staff
    operator_set(user=user, operator=True)  # no change, no record
    operator_set(user=user, operator=False)
    entries = AuditEntry.objects.filter(entity="user", entity_id=str(user.pk)).order_by("id")
    assert [(e.action, e.old, e.new) for e in entries] == [
        ("operator_granted", {"is_staff": False}, {"is_staff": True}),
        ("operator_revoked", {"is_staff": True}, {"is_staff": False}),
    ]
