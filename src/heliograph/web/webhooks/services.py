"""Write operations on webhooks, one transaction each, every change audited.

The signing secret is returned once, by :func:`webhook_create` and
:func:`webhook_replace_secret`; the database keeps it only sealed under the tenant's data key.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from heliograph.core.errors import InputError, NotFound
from heliograph.web.audit.trail import Actor, audit_change
from heliograph.web.crypto_fields import clear_secret, reveal_secret, seal_secret
from heliograph.web.tenants.models import Tenant
from heliograph.web.webhooks import delivery
from heliograph.web.webhooks.models import Webhook, WebhookEvent

log = logging.getLogger("heliograph.web.webhooks")

MAX_WEBHOOKS = 20  # per tenant: enough for every integration, too few to fan out abuse
TEST_EVENT = "webhook.test"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ENTITY = "webhook"


@dataclass(frozen=True, slots=True)
class WebhookWithSecret:
    """A webhook and its signing secret in clear, for the one page that shows it."""

    webhook: Webhook
    secret: str = field(repr=False)


def new_signing_secret() -> str:
    """Return a fresh signing secret (256 bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def normalise_url(raw: str) -> str:
    """Return ``raw`` if it is an https URL (http only to this machine, outside production)."""
    url = raw.strip()
    if not url or len(url) > 2000 or any(c.isspace() for c in url):
        raise InputError("invalid_url", "enter a URL such as https://example.com/hooks/heliograph")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        raise InputError("invalid_url", "the URL is not valid") from None
    local = (parts.hostname or "") in _LOCAL_HOSTS and not settings.HELIOGRAPH.production
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise InputError("https_required", "a webhook URL must start with https://")
    if not parts.hostname:
        raise InputError("invalid_url", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        # A credential in the URL would be stored and shown in clear; the signature replaces it.
        raise InputError("credentials_in_url", "leave credentials out of the URL")
    if parts.fragment:
        raise InputError("invalid_url", "a webhook URL has no #fragment")
    return url


def normalise_events(events: list[str]) -> list[str]:
    """Return the subscribed events, known and in a stable order; at least one."""
    known = set(WebhookEvent.values)
    chosen = sorted(set(events))
    if not chosen or not set(chosen) <= known:
        raise InputError("invalid_events", "choose at least one kind of event")
    return chosen


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _seal_new_secret(webhook: Webhook) -> str:
    secret = new_signing_secret()
    seal_secret(webhook, "signing_secret", secret)
    webhook.secret_set_at = timezone.now()
    webhook.save(update_fields=["signing_secret", "secret_set_at"])
    return secret


def webhook_create(
    *, tenant: Tenant, url: str, events: list[str], created_by: User | None, actor: Actor
) -> WebhookWithSecret:
    """Add a webhook to ``tenant``; return it with its signing secret (shown once)."""
    url, events = normalise_url(url), normalise_events(events)
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # serialise the count
        if Webhook.objects.filter(tenant=tenant, revoked_at=None).count() >= MAX_WEBHOOKS:
            raise InputError("too_many", f"a workspace has at most {MAX_WEBHOOKS} webhooks")
        webhook = Webhook.objects.create(
            tenant=tenant, url=url, events=events, created_by=created_by
        )
        secret = _seal_new_secret(webhook)  # sealed once the row has the id it is bound to
        audit_change(
            actor=actor,
            tenant_id=tenant.pk,
            entity=_ENTITY,
            entity_id=webhook.pk,
            action="created",
            new={"url": url, "events": events, "secret": "set"},
        )
    log.info("webhooks.created id=%d tenant_id=%d", webhook.pk, tenant.pk)
    return WebhookWithSecret(webhook, secret)


def _locked(webhook: Webhook) -> Webhook:
    """Return the row of ``webhook`` locked for this transaction, unless it was deleted."""
    row = Webhook.objects.select_for_update().filter(pk=webhook.pk, revoked_at=None).first()
    if row is None:
        raise NotFound("this webhook is deleted")
    return row


def webhook_replace_secret(*, webhook: Webhook, actor: Actor) -> WebhookWithSecret:
    """Give ``webhook`` a new signing secret; the old one stops signing at once."""
    with transaction.atomic():
        webhook = _locked(webhook)
        old = webhook.secret_set_at
        secret = _seal_new_secret(webhook)
        audit_change(
            actor=actor,
            tenant_id=webhook.tenant_id,
            entity=_ENTITY,
            entity_id=webhook.pk,
            action="secret_replaced",
            old={"secret_set_at": _iso(old)},
            new={"secret_set_at": _iso(webhook.secret_set_at)},
        )
    return WebhookWithSecret(webhook, secret)


def webhook_delete(*, webhook: Webhook, actor: Actor) -> Webhook:
    """Revoke ``webhook``: no more deliveries, its secret wiped; the row stays for the audit."""
    with transaction.atomic():
        webhook = _locked(webhook)
        webhook.revoked_at = timezone.now()
        clear_secret(webhook, "signing_secret")
        webhook.save(update_fields=["revoked_at", "signing_secret"])
        audit_change(
            actor=actor,
            tenant_id=webhook.tenant_id,
            entity=_ENTITY,
            entity_id=webhook.pk,
            action="deleted",
            old={"url": webhook.url, "events": webhook.events},
        )
    return webhook


def webhook_deliver(
    *, webhook: Webhook, event_type: str, data: dict[str, object]
) -> delivery.DeliveryResult:
    """Sign and POST one event to ``webhook`` and remember how it went."""
    secret = reveal_secret(webhook, "signing_secret")
    if secret is None or webhook.revoked_at is not None:
        raise NotFound("this webhook is deleted")
    body = delivery.envelope(event_type, webhook.tenant_id, data)
    result = delivery.deliver(
        webhook.url, secret, event_type, body, public_only=settings.HELIOGRAPH.production
    )
    webhook.last_delivery_at = timezone.now()
    webhook.last_delivery_ok = result.ok
    webhook.last_delivery_detail = result.detail[:200]
    Webhook.objects.filter(pk=webhook.pk).update(
        last_delivery_at=webhook.last_delivery_at,
        last_delivery_ok=result.ok,
        last_delivery_detail=webhook.last_delivery_detail,
    )
    log.info(
        "webhooks.delivered id=%d event=%s ok=%s detail=%s",
        webhook.pk,
        event_type,
        result.ok,
        result.detail,
    )
    return result


def webhook_send_test(*, webhook: Webhook, actor: Actor) -> delivery.DeliveryResult:
    """Send a test event now (outside any transaction: no lock is held while the POST waits)."""
    result = webhook_deliver(
        webhook=webhook,
        event_type=TEST_EVENT,
        data={"message": "A test delivery from Heliograph.", "webhook_id": webhook.pk},
    )
    with transaction.atomic():
        audit_change(
            actor=actor,
            tenant_id=webhook.tenant_id,
            entity=_ENTITY,
            entity_id=webhook.pk,
            action="test_sent",
            new={"delivered": result.ok, "detail": result.detail},
        )
    return result
