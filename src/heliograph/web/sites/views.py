"""Pages of a tenant's sites: list, create, detail with the snippet, key rotation."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from heliograph.core.errors import InputError
from heliograph.web.accounts.access import TenantContext, tenant_view
from heliograph.web.audit.trail import actor_from_request
from heliograph.web.sites.forms import SiteForm
from heliograph.web.sites.selectors import site_of, sites_of, sites_with_activity
from heliograph.web.sites.services import site_create, site_rotate_key, snippet
from heliograph.web.tenants.models import Role


@require_http_methods(["GET"])
@tenant_view(Role.VIEWER)
def site_list(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """List the tenant's sites with when they were first and last seen."""
    return render(request, "sites/list.html", {"ctx": ctx, "rows": sites_with_activity(ctx.scope)})


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def site_new(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """Create a site from a name and its allowed domains."""
    form = SiteForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            site = site_create(
                tenant=ctx.tenant,
                name=form.cleaned_data["name"],
                domains=form.domain_list(),
                actor=actor_from_request(request),
            )
        except InputError as error:
            field = "name" if error.code == "invalid_name" else "domains"
            form.add_error(field, error.message)
        else:
            return redirect("sites:detail", site.pk)
    status = 400 if form.is_bound else 200
    return render(request, "sites/new.html", {"ctx": ctx, "form": form}, status=status)


@require_http_methods(["GET"])
@tenant_view(Role.VIEWER)
def site_detail(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """Show a site's key, allowed domains and the snippet to paste into its pages."""
    site = site_of(ctx.scope, site_id)
    context = {
        "ctx": ctx,
        "site": site,
        "sites": sites_of(ctx.scope),
        "snippet": snippet(site, settings.HELIOGRAPH.base_url),
        "rotated": request.GET.get("rotated") == "1",
        "tab": "settings",
    }
    return render(request, "sites/detail.html", context)


@require_POST
@tenant_view(Role.ADMIN)
def site_rotate(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """Give the site a new key; the collector refuses the old one once its cache expires."""
    site = site_rotate_key(site=site_of(ctx.scope, site_id), actor=actor_from_request(request))
    return redirect(reverse("sites:detail", args=[site.pk]) + "?rotated=1")
