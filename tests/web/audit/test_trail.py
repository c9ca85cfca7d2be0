"""Every change to tenants, memberships and sites leaves who/what/old/new in its transaction."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from heliograph.web.accounts.services import membership_grant, user_create
from heliograph.web.audit.models import AuditEntry
from heliograph.web.audit.trail import SYSTEM, Actor, audit_change
from heliograph.web.sites.services import site_create
from heliograph.web.tenants.models import Role
from heliograph.web.tenants.services import tenant_create

pytestmark = pytest.mark.django_db
ACTOR = Actor(user_id=42, label="user 42", source_ip="192.0.2.5")


def test_creations_and_role_changes_are_audited() -> None:
    tenant = tenant_create(name="Acme", actor=ACTOR)
    site = site_create(tenant=tenant, name="Shop", domains=["shop.example"], actor=ACTOR)
    user = user_create(email="ana@example.com", password="x" * 14, tenant=tenant,
                       role=Role.VIEWER)
    membership_grant(user=user, tenant=tenant, role=Role.ADMIN, actor=ACTOR)
    entries = list(AuditEntry.objects.filter(tenant_id=tenant.pk).order_by("id"))
    assert [(e.entity, e.action) for e in entries] == [
        ("tenant", "created"), ("site", "created"), ("membership", "created"),
        ("membership", "role_changed"),
    ]
    assert entries[1].new == {"name": "Shop", "allowed_domains": ["shop.example"],
                              "key": site.key}
    assert (entries[3].old, entries[3].new) == (
        {"user": user.pk, "role": "viewer"}, {"user": user.pk, "role": "admin"})
    assert entries[2].actor_label == SYSTEM.label
    assert entries[3].actor_id == 42


def test_a_failed_change_leaves_no_audit_entry() -> None:
    tenant = tenant_create(name="Acme")
    before = AuditEntry.objects.count()
    def grant_then_fail() -> None:
        with transaction.atomic():
            user = User.objects.create(username="u")
            membership_grant(user=user, tenant=tenant, role=Role.OWNER)
            raise RuntimeError("the change fails after the audit entry was written")

    with pytest.raises(RuntimeError):
        grant_then_fail()
    assert AuditEntry.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_audit_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_change(actor=SYSTEM, tenant_id=1, entity="site", entity_id=1, action="x")
