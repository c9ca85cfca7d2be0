"""Who is calling: a bearer token or the browser session, resolved to one tenant and one role.

A token acts for its tenant with the role its creator holds there now: a token whose creator
left the tenant (or was deactivated) stops working, and a demoted creator's token is demoted
too. Its scopes narrow that role further. The session gets every scope and the role of the
session's tenant (accounts.access.resolve_context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone

from heliograph.core.errors import InputError
from heliograph.core.tenancy import TenantScope
from heliograph.web.accounts.access import resolve_context
from heliograph.web.accounts.security import record_request
from heliograph.web.api.models import ApiToken, Scope
from heliograph.web.api.tokens import TokenRejected, check_token, touch
from heliograph.web.tenants.models import Membership, Role, Tenant

ALL_SCOPES = frozenset(scope.value for scope in Scope)


class Unauthenticated(InputError):
    """No usable credentials: 401 with a WWW-Authenticate challenge."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, status=401)


@dataclass(frozen=True, slots=True)
class Caller:
    """The tenant a request acts in, who acts, with which role and scopes."""

    tenant: Tenant
    user: User
    role: Role
    scopes: frozenset[str]
    token: ApiToken | None = None

    @property
    def scope(self) -> TenantScope:
        return TenantScope(self.tenant.pk)

    @property
    def via(self) -> Literal["token", "session"]:
        return "session" if self.token is None else "token"


def authenticate(request: HttpRequest) -> Caller:
    """Return the caller of ``request``; a bearer header wins over the session."""
    header = request.headers.get("Authorization")
    if header is not None:
        return _by_token(request, header)
    return _by_session(request)


def _by_session(request: HttpRequest) -> Caller:
    if not request.user.is_authenticated:
        raise Unauthenticated("unauthenticated", "send a bearer token or sign in")
    context = resolve_context(request)
    if context is None:
        raise InputError("forbidden", "you are not a member of any tenant", status=403)
    return Caller(context.tenant, context.user, context.role, ALL_SCOPES)


def _by_token(request: HttpRequest, header: str) -> Caller:
    now = timezone.now()
    scheme, _, raw = header.partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise TokenRejected("not_bearer")
        token = check_token(raw.strip(), now=now)
        user, role = _acting_member(token)
    except TokenRejected as rejected:
        _record_failure(request, rejected)
        raise Unauthenticated("invalid_token", "the token is invalid, expired or revoked") from None
    touch(token, now)
    return Caller(token.tenant, user, role, frozenset(token.scopes), token)


def _acting_member(token: ApiToken) -> tuple[User, Role]:
    user = token.created_by
    if user is None or not user.is_active:
        raise TokenRejected("creator_inactive", token)
    membership = Membership.objects.filter(user=user, tenant_id=token.tenant_id).first()
    if membership is None:
        raise TokenRejected("creator_not_member", token)
    return user, Role(membership.role)


def _record_failure(request: HttpRequest, rejected: TokenRejected) -> None:
    """Log a refused token (never the token itself): detection watches the rate of these."""
    token = rejected.token
    labels: dict[str, str | int | float | bool] = {"reason": rejected.reason}
    if token is not None:
        labels["token_id"] = token.pk
    record_request(
        request,
        "api.auth_failed",
        category="authentication",
        outcome="failure",
        tenant_id=token.tenant_id if token is not None else None,
        status=401,
        labels=labels,
    )
