"""API tokens: a tenant's machine credentials, stored as keyed hashes only."""

from __future__ import annotations

import enum

from django.conf import settings
from django.db import models

from heliograph.web.tenants.models import Tenant


class Scope(enum.StrEnum):
    """What a token may do; a token has one or more scopes."""

    ANALYTICS_READ = "analytics:read"
    SITES_MANAGE = "sites:manage"


class ApiToken(models.Model):
    """A bearer token ``hg_<prefix>_<secret>``: the prefix finds it, the secret's HMAC proves it.

    The secret itself is shown once at creation and kept nowhere (ASVS 2.10.2, 6.4.1).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (hg_{self.prefix}_…)"
