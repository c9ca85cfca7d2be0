"""The Members page (members, pending invitations, the invite form) and the invitation link."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from heliograph.core.errors import InputError, NotFound
from heliograph.web.accounts.access import TenantContext, choose_tenant, tenant_view
from heliograph.web.accounts.forms import InviteForm, NewAccountForm
from heliograph.web.accounts.invitations import (
    CreatedInvitation,
    Lookup,
    find_invitation,
    invitable_roles,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    may_invite,
)
from heliograph.web.accounts.mail import mail_enabled
from heliograph.web.accounts.models import Invitation
from heliograph.web.accounts.security import record_request
from heliograph.web.accounts.selectors import invitation_of, pending_invitations, tenant_members
from heliograph.web.audit.trail import actor_from_request
from heliograph.web.tenants.models import Role

# The security log shows where an invitation was used, never the token in its path.
REDACTED_PATH = "/invitations/<token>/"


@dataclass(frozen=True, slots=True)
class InvitationRow:
    """A pending invitation as the Members page lists it."""

    invitation: Invitation
    role: Role
    expired: bool
    can_revoke: bool


def _invitation_rows(ctx: TenantContext) -> list[InvitationRow]:
    now = timezone.now()
    return [
        InvitationRow(
            invitation=invitation,
            role=Role(invitation.role),
            expired=invitation.expires_at <= now,
            can_revoke=may_invite(ctx.role, Role(invitation.role)),
        )
        for invitation in pending_invitations(ctx.scope)
    ]


def _members_page(
    request: HttpRequest,
    ctx: TenantContext,
    form: InviteForm,
    *,
    created: CreatedInvitation | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "ctx": ctx,
        "form": form,
        "members": [(m, Role(m.role)) for m in tenant_members(ctx.scope)],
        "invitations": _invitation_rows(ctx),
        "created": created,
        "mail_enabled": mail_enabled(),
        "revoked": request.GET.get("revoked") == "1",
        "error": error,
    }
    return render(request, "accounts/invite_members.html", context, status=status)


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def members(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """List members and pending invitations; on POST invite an e-mail address."""
    roles = invitable_roles(ctx.role)
    form = InviteForm(request.POST if request.method == "POST" else None, roles=roles)
    if not form.is_valid():
        return _members_page(request, ctx, form, status=400 if form.is_bound else 200)
    try:
        created = invitation_create(
            tenant=ctx.tenant,
            email=form.cleaned_data["email"],
            role=Role(form.cleaned_data["role"]),
            actor=actor_from_request(request),
        )
    except InputError as error:
        form.add_error("role" if error.code == "role_ceiling" else "email", error.message)
        return _members_page(request, ctx, form, status=error.status)
    # Rendered, not redirected: with e-mail off the link is shown this once and kept nowhere.
    return _members_page(request, ctx, InviteForm(roles=roles), created=created)


@require_POST
@tenant_view(Role.ADMIN)
def revoke(request: HttpRequest, ctx: TenantContext, invitation_id: int) -> HttpResponse:
    """Revoke one of the tenant's pending invitations."""
    invitation = invitation_of(ctx.scope, invitation_id)
    try:
        invitation_revoke(invitation=invitation, actor=actor_from_request(request))
    except InputError as error:
        form = InviteForm(roles=invitable_roles(ctx.role))
        return _members_page(request, ctx, form, error=error.message, status=error.status)
    return redirect(reverse("accounts:members") + "?revoked=1")


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Show an invitation and accept it: with a new password, or as the signed-in invitee."""
    lookup = find_invitation(token)
    if lookup.invitation is None:
        response = _not_valid(request, lookup)
    else:
        response = _accept(request, token, lookup.invitation)
    add_never_cache_headers(response)
    return response


def _not_valid(request: HttpRequest, lookup: Lookup) -> HttpResponse:
    """Answer a used, revoked, expired or unknown token alike (the log alone says which)."""
    record_request(
        request,
        "invitation.rejected",
        category="iam",
        outcome="failure",
        tenant_id=lookup.tenant_id,
        status=404,
        labels={"reason": lookup.reason},
        path=REDACTED_PATH,
    )
    return render(request, "accounts/accept_invalid.html", status=404)


def _accept(request: HttpRequest, token: str, invitation: Invitation) -> HttpResponse:
    invitee = User.objects.filter(username=invitation.email).first()
    if invitee is None:
        return _new_account(request, token, invitation)
    if not request.user.is_authenticated:
        sign_in = reverse("accounts:sign_in") + "?" + urlencode({"next": request.path})
        return _accept_page(request, invitation, "sign_in", sign_in_url=sign_in)
    if request.user.pk != invitee.pk:
        return _accept_page(request, invitation, "wrong_user", status=403)
    return _join(request, token, invitation, invitee)


def _accept_page(
    request: HttpRequest, invitation: Invitation, state: str, *, status: int = 200, **extra: object
) -> HttpResponse:
    context = {"invitation": invitation, "role": Role(invitation.role), "state": state, **extra}
    return render(request, "accounts/accept.html", context, status=status)


def _new_account(request: HttpRequest, token: str, invitation: Invitation) -> HttpResponse:
    form = NewAccountForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            user = invitation_accept(
                token=token,
                user=None,
                password=form.cleaned_data["password"],
                actor=actor_from_request(request),
            )
        except NotFound:
            return _not_valid(request, find_invitation(token))
        except InputError as error:
            form.add_error("password", error.message)
        else:
            return _signed_in_to(request, user, invitation)
    status = 400 if form.is_bound else 200
    return _accept_page(request, invitation, "new", form=form, status=status)


def _signed_in_to(request: HttpRequest, user: User, invitation: Invitation) -> HttpResponse:
    login(request, user)  # a new session key: no session fixation (ASVS 3.2.1)
    choose_tenant(request, invitation.tenant_id)
    record_request(
        request,
        "user.login",
        category="authentication",
        tenant_id=invitation.tenant_id,
        user_id=user.pk,
        status=302,
        labels={"method": "invitation"},
        path=REDACTED_PATH,
    )
    return redirect("home")


def _join(request: HttpRequest, token: str, invitation: Invitation, user: User) -> HttpResponse:
    if request.method != "POST":
        return _accept_page(request, invitation, "join")
    try:
        invitation_accept(token=token, user=user, actor=actor_from_request(request))
    except NotFound:
        return _not_valid(request, find_invitation(token))
    except InputError as error:
        return _accept_page(request, invitation, "join", error=error.message, status=error.status)
    choose_tenant(request, invitation.tenant_id)
    return redirect("home")
