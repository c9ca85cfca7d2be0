"""Invitations: an e-mail address asked to join a tenant with a role, by a link."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from heliograph.web.tenants.models import Role, Tenant


class Invitation(models.Model):
    """An invitation; only the SHA-256 of its link's token is kept (the link is in the e-mail)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = (
            # Re-inviting an address revokes its pending invitation first; this keeps two
            # concurrent re-invites from both succeeding.
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_pending_invitation_per_address",
            ),
        )

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.tenant_id} as {self.role}"
