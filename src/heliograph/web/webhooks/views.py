"""Pages of a tenant's webhooks (owners and admins): list, create, test, new secret, delete."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from heliograph.core.errors import InputError, NotFound
from heliograph.web.accounts.access import TenantContext, tenant_view
from heliograph.web.audit.trail import actor_from_request
from heliograph.web.tenants.models import Role
from heliograph.web.webhooks.delivery import SIGNATURE_HEADER
from heliograph.web.webhooks.forms import WebhookForm
from heliograph.web.webhooks.models import Webhook, WebhookEvent
from heliograph.web.webhooks.selectors import webhook_of, webhooks_of
from heliograph.web.webhooks.services import (
    WebhookWithSecret,
    webhook_create,
    webhook_delete,
    webhook_replace_secret,
    webhook_send_test,
)

EVENT_LABELS = dict(WebhookEvent.choices)


def _tested(ctx: TenantContext, raw: str) -> Webhook | None:
    """Return the webhook whose test result the list should announce (the tenant's only)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    return webhooks_of(ctx.scope).filter(pk=int(raw)).first()


@require_http_methods(["GET"])
@tenant_view(Role.ADMIN)
def webhook_list(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """List the tenant's webhooks with when their secret was set and their last delivery."""
    context = {
        "ctx": ctx,
        "webhooks": [
            (hook, [EVENT_LABELS.get(e, e) for e in hook.events]) for hook in webhooks_of(ctx.scope)
        ],
        "tested": _tested(ctx, request.GET.get("tested", "")),
        "deleted": request.GET.get("deleted") == "1",
    }
    return render(request, "webhooks/list.html", context)


def _secret_page(
    request: HttpRequest, ctx: TenantContext, made: WebhookWithSecret, *, replaced: bool
) -> HttpResponse:
    # Rendered, not redirected: the secret is shown this once and kept nowhere in clear.
    context = {
        "ctx": ctx,
        "webhook": made.webhook,
        "secret": made.secret,
        "replaced": replaced,
        "header": SIGNATURE_HEADER,
    }
    return render(request, "webhooks/secret.html", context)


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def webhook_new(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """Create a webhook from its URL and events; show its signing secret once."""
    form = WebhookForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            made = webhook_create(
                tenant=ctx.tenant,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                created_by=ctx.user,
                actor=actor_from_request(request),
            )
        except InputError as error:
            form.add_error("events" if error.code == "invalid_events" else "url", error.message)
        else:
            return _secret_page(request, ctx, made, replaced=False)
    status = 400 if form.is_bound else 200
    return render(request, "webhooks/new.html", {"ctx": ctx, "form": form}, status=status)


@require_POST
@tenant_view(Role.ADMIN)
def webhook_test(request: HttpRequest, ctx: TenantContext, webhook_id: int) -> HttpResponse:
    """Send a signed test event to the webhook now, then show how it went."""
    webhook = webhook_of(ctx.scope, webhook_id)
    try:
        webhook_send_test(webhook=webhook, actor=actor_from_request(request))
    except NotFound:
        raise Http404 from None  # deleted while this request ran
    return redirect(reverse("webhooks:list") + f"?tested={webhook.pk}")


@require_POST
@tenant_view(Role.ADMIN)
def webhook_replace(request: HttpRequest, ctx: TenantContext, webhook_id: int) -> HttpResponse:
    """Give the webhook a new signing secret and show it once."""
    webhook = webhook_of(ctx.scope, webhook_id)
    try:
        made = webhook_replace_secret(webhook=webhook, actor=actor_from_request(request))
    except NotFound:
        raise Http404 from None  # deleted while this request ran
    return _secret_page(request, ctx, made, replaced=True)


@require_POST
@tenant_view(Role.ADMIN)
def webhook_remove(request: HttpRequest, ctx: TenantContext, webhook_id: int) -> HttpResponse:
    """Delete the webhook: no more deliveries, its secret wiped."""
    try:
        webhook_delete(webhook=webhook_of(ctx.scope, webhook_id), actor=actor_from_request(request))
    except NotFound:
        raise Http404 from None  # deleted while this request ran
    return redirect(reverse("webhooks:list") + "?deleted=1")
