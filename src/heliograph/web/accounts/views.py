"""Sign-in, sign-out, the tenant switcher and the front door."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from heliograph.web.accounts.access import (
    TenantContext,
    choose_tenant,
    memberships_of,
    tenant_view,
)
from heliograph.web.accounts.forms import SIGN_IN_FAILED, SignInForm, SwitchTenantForm
from heliograph.web.accounts.security import record_request
from heliograph.web.accounts.services import authenticate_member
from heliograph.web.sites.selectors import sites_of
from heliograph.web.tenants.models import Role


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe and target.startswith("/") else reverse("home")


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Show the sign-in form; on POST sign the member in or answer with one generic error."""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_next_url(request))
    form = SignInForm(request.POST if request.method == "POST" else None)
    error = ""
    if form.is_valid():
        user = authenticate_member(
            request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
        )
        if user is not None:
            login(request, user)  # a new session key: no session fixation (ASVS 3.2.1)
            tenant_id = memberships_of(user)[0].tenant_id
            choose_tenant(request, tenant_id)
            record_request(
                request,
                "user.login",
                category="authentication",
                tenant_id=tenant_id,
                user_id=user.pk,
                status=302,
            )
            return redirect(_next_url(request))
    if request.method == "POST":
        error = SIGN_IN_FAILED
        record_request(request, "user.login", category="authentication", outcome="failure")
    response = render(
        request,
        "accounts/sign_in.html",
        {"form": form, "error": error, "next": _next_url(request)},
        status=200,
    )
    add_never_cache_headers(response)
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """End the session (POST only, so another site cannot sign a user out with a link)."""
    user_id = request.user.pk if request.user.is_authenticated else None
    logout(request)
    if user_id is not None:
        record_request(request, "user.logout", category="authentication", user_id=user_id)
    return redirect("accounts:sign_in")


@require_POST
@tenant_view(Role.VIEWER)
def switch_tenant(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """Make another of the user's tenants the current one."""
    form = SwitchTenantForm(request.POST)
    wanted = form.cleaned_data["tenant"] if form.is_valid() else None
    if wanted not in {option.tenant_id for option in ctx.options}:
        raise Http404
    choose_tenant(request, wanted)
    record_request(
        request,
        "user.tenant_switched",
        category="iam",
        tenant_id=wanted,
        user_id=ctx.user.pk,
        labels={"from_tenant": ctx.tenant.pk},
    )
    return redirect("home")


def home(request: HttpRequest) -> HttpResponse:
    """Send a visitor to sign-in, and a member to their first site's overview."""
    if not request.user.is_authenticated:
        return redirect("accounts:sign_in")
    return _member_home(request)


@tenant_view(Role.VIEWER)
def _member_home(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    first = sites_of(ctx.scope).first()
    if first is None:
        return HttpResponseRedirect(reverse("sites:list"))
    return HttpResponseRedirect(reverse("dashboards:overview", args=[first.pk]))
