"""Reads of a tenant's webhooks; another tenant's webhook is as missing as no webhook."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from heliograph.core.tenancy import TenantScope
from heliograph.web.webhooks.models import Webhook


def webhooks_of(scope: TenantScope) -> QuerySet[Webhook]:
    """Return the tenant's webhooks that are not deleted, oldest first."""
    return Webhook.objects.filter(tenant_id=scope.tenant_id, revoked_at=None).order_by("pk")


def webhook_of(scope: TenantScope, webhook_id: int) -> Webhook:
    """Return the tenant's webhook ``webhook_id``; a deleted or foreign one raises Http404."""
    if not 0 < webhook_id < 2**63:  # beyond a 64-bit id the database would raise, not miss
        raise Http404
    webhook = webhooks_of(scope).filter(pk=webhook_id).first()
    if webhook is None:
        raise Http404
    return webhook
