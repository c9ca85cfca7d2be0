"""The one gate of every app view: a signed-in member, the session's tenant, a sufficient role.

Views never read a tenant id from the URL or the form: the tenant comes from the session and
is checked against the user's memberships before the view runs; objects are then looked up
within that tenant only, so another tenant's object answers exactly like a missing one
(CONVENTIONS 3).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec
from zoneinfo import ZoneInfo

from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from heliograph.core.tenancy import TenantScope
from heliograph.web.tenants.models import Membership, Role, Tenant

SESSION_TENANT = "heliograph.tenant_id"

P = ParamSpec("P")
TenantView = Callable[Concatenate[HttpRequest, "TenantContext", P], HttpResponse]
DjangoView = Callable[Concatenate[HttpRequest, P], HttpResponse]


@dataclass(frozen=True, slots=True)
class TenantOption:
    """One tenant the user may switch to."""

    tenant_id: int
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class TenantContext:
    """Who is acting, in which tenant, with which role; every view receives one."""

    user: User
    tenant: Tenant
    role: Role
    options: tuple[TenantOption, ...]

    @property
    def scope(self) -> TenantScope:
        return TenantScope(self.tenant.pk)

    @property
    def can_manage(self) -> bool:
        """Return True if the role may change the tenant's sites (admin and owner)."""
        return self.role.allows(Role.ADMIN)


def memberships_of(user: User) -> list[Membership]:
    """Return the user's memberships, oldest tenant first."""
    return list(Membership.objects.filter(user=user).select_related("tenant").order_by("tenant_id"))


def choose_tenant(request: HttpRequest, tenant_id: int) -> None:
    """Make ``tenant_id`` the session's tenant (the caller has checked the membership)."""
    request.session[SESSION_TENANT] = tenant_id


def resolve_context(request: HttpRequest) -> TenantContext | None:
    """Return the context of the session's tenant, falling back to the user's first tenant."""
    user = request.user
    if not isinstance(user, User) or not user.is_active:
        return None
    memberships = memberships_of(user)
    if not memberships:
        return None
    wanted = request.session.get(SESSION_TENANT)
    current = next((m for m in memberships if m.tenant_id == wanted), memberships[0])
    if current.tenant_id != wanted:
        choose_tenant(request, current.tenant_id)
    options = tuple(TenantOption(m.tenant_id, m.tenant.name, Role(m.role)) for m in memberships)
    return TenantContext(user=user, tenant=current.tenant, role=Role(current.role), options=options)


def tenant_view(minimum: Role) -> Callable[[TenantView[P]], DjangoView[P]]:
    """Run the view only for a member of the session's tenant whose role is at least ``minimum``.

    Anonymous users go to sign-in; a user who lost every membership is signed out; a role
    below ``minimum`` gets 403 before the view looks anything up. Responses are never cached.
    """

    def decorate(view: TenantView[P]) -> DjangoView[P]:
        def gate(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            context = resolve_context(request)
            if context is None:
                logout(request)
                return redirect_to_login(request.get_full_path())
            if not context.role.allows(minimum):
                raise PermissionDenied
            # Dates on the page read in the tenant's zone (templates render inside the view).
            with timezone.override(ZoneInfo(context.tenant.time_zone)):
                response = view(request, context, *args, **kwargs)
            add_never_cache_headers(response)
            return response

        functools.update_wrapper(gate, view)
        return gate

    return decorate
