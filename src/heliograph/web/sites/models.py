"""Sites: the websites a tenant embeds the tag on."""

from __future__ import annotations

from django.db import models

from heliograph.web.tenants.models import Tenant


class Site(models.Model):
    """A website with a public key (in the snippet) and the domains allowed to send beacons."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    key = models.CharField(max_length=64, unique=True)
    allowed_domains = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    key_rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
