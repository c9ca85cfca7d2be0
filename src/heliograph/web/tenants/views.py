"""Deleting the organisation from the app: owners only, with the name typed and the password."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from heliograph.core import security_events
from heliograph.core.errors import InputError
from heliograph.core.security_events import SecurityEvent
from heliograph.web.accounts.access import TenantContext, tenant_view
from heliograph.web.audit.trail import actor_from_request
from heliograph.web.tenants.deletion import tenant_delete
from heliograph.web.tenants.models import Membership, Role


class DeleteTenantForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=200, strip=True)
    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(render_value=False), max_length=1024
    )


@require_http_methods(["GET", "POST"])
@tenant_view(Role.OWNER)
def delete_tenant(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """Show what deleting the organisation destroys; on a confirmed POST, delete it."""
    form = DeleteTenantForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound:
        status = 400
        if form.is_valid():
            if not ctx.user.check_password(form.cleaned_data["password"]):
                security_events.record(
                    SecurityEvent(
                        action="tenant.delete_refused",
                        category="iam",
                        outcome="failure",
                        tenant_id=ctx.tenant.pk,
                        user_id=ctx.user.pk,
                        message="wrong password on organisation deletion",
                    )
                )
                form.add_error("password", "That is not your password.")
            else:
                try:
                    tenant_delete(
                        ctx.tenant,
                        settings=settings.HELIOGRAPH,
                        confirm_name=form.cleaned_data["name"],
                        actor=actor_from_request(request),
                    )
                except InputError as error:
                    field = "name" if error.code == "confirmation_mismatch" else None
                    form.add_error(field, error.message)
                    status = error.status
                else:
                    if Membership.objects.filter(user=ctx.user).exists():
                        return redirect("home")
                    logout(request)
                    return redirect("accounts:sign_in")
    sites = list(ctx.tenant.sites.order_by("name").values_list("name", flat=True))
    return render(
        request,
        "tenants/delete.html",
        {"ctx": ctx, "form": form, "sites": sites},
        status=status,
    )
