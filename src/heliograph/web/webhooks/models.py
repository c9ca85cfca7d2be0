"""Webhooks: HTTPS endpoints of a tenant that receive signed JSON about its events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from heliograph.web.crypto_fields import EncryptedSecretField
from heliograph.web.tenants.models import Tenant


class WebhookEvent(models.TextChoices):
    """What a webhook subscribes to: the tenant's security events, by category."""

    AUTHENTICATION = "security.authentication", "Sign-ins and failed sign-ins"
    IAM = "security.iam", "Members, roles and invitations"
    CONFIGURATION = "security.configuration", "Configuration changes (sites, keys, webhooks)"
    WEB = "security.web", "Refused requests"


class Webhook(models.Model):
    """An endpoint of one tenant; its signing secret is sealed under the tenant's data key.

    Deleting a webhook revokes it: the secret is wiped, the row stays for the audit trail, and
    every page treats it as missing.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    signing_secret = EncryptedSecretField()
    secret_set_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    last_delivery_ok = models.BooleanField(null=True)
    last_delivery_detail = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"webhook {self.pk} of {self.tenant_id}"
