"""Reads of a tenant's members and invitations; every lookup is confined to the scope's tenant."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from heliograph.core.tenancy import TenantScope, require_scope
from heliograph.web.accounts.models import Invitation
from heliograph.web.tenants.models import Membership, Role


def tenant_members(scope: TenantScope) -> list[Membership]:
    """Return the tenant's memberships with their users, highest role first, then by e-mail."""
    memberships = Membership.objects.filter(tenant_id=require_scope(scope).tenant_id)
    rows = list(memberships.select_related("user"))
    return sorted(rows, key=lambda m: (-Role(m.role).rank, m.user.get_username()))


def pending_invitations(scope: TenantScope) -> QuerySet[Invitation]:
    """Return the tenant's open invitations (expired ones too), newest first."""
    return (
        Invitation.objects.filter(
            tenant_id=require_scope(scope).tenant_id,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        )
        .select_related("invited_by")
        .order_by("-created_at", "-pk")
    )


def invitation_of(scope: TenantScope, invitation_id: int) -> Invitation:
    """Return the tenant's invitation ``invitation_id``; another tenant's is as missing as none."""
    if not 0 < invitation_id < 2**63:  # beyond a 64-bit id the database would raise, not miss
        raise Http404
    invitation = (
        Invitation.objects.filter(tenant_id=require_scope(scope).tenant_id, pk=invitation_id)
        .select_related("tenant")
        .first()
    )
    if invitation is None:
        raise Http404
    return invitation
