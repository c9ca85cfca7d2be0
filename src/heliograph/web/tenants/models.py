"""Tenants: the customers whose data Heliograph keeps apart."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Tenant(models.Model):
    """One customer organisation; every row of analytics data carries its id."""

    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """What a member may do in a tenant; each role can do everything of the roles below it."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """Return True if this role is at least ``required``."""
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 1, Role.ANALYST: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Membership(models.Model):
    """A user's role in one tenant; a user may belong to several tenants."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant"),
        )

    def __str__(self) -> str:
        return f"{self.user_id} in {self.tenant_id} as {self.role}"
