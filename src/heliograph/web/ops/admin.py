"""Django admin for operators: read-only views of tenants, sites, people and the audit records.

Operators (users with ``is_staff``, granted by ``heliograph operator grant``) look; they do not
edit here. Every change to these records goes through a service function that writes its
audit record in the same transaction (CONVENTIONS 4 and 5), which the admin's generic forms
would bypass, and the security log and audit trail are append-only anyway. Secrets at rest
(password hashes, token and invitation hashes) are never shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import Model
from django.http import HttpRequest

from heliograph.web.accounts.models import Invitation
from heliograph.web.api.models import ApiToken
from heliograph.web.audit.models import AuditEntry, SecurityEventRecord
from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Membership, Tenant


def _is_operator(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff)


class OperatorsSite(admin.AdminSite):
    """The admin site of the administrative listener; any active staff user may look."""

    site_header = "Heliograph operations"
    site_title = "Heliograph operations"
    index_title = "Platform records (read-only)"
    site_url = None  # the public app is on another listener

    def has_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)


site = OperatorsSite(name="admin")


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """View lists and records; add, change and delete are refused."""

    list_per_page = 50
    actions = None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_operator(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Tenant, site=site)
class TenantAdmin(ReadOnly):
    list_display = ("id", "name", "time_zone", "created_at")
    search_fields = ("name",)
    ordering = ("id",)


@admin.register(Site, site=site)
class SiteAdmin(ReadOnly):
    list_display = ("id", "name", "tenant", "key", "allowed_domains", "created_at")
    list_select_related = ("tenant",)
    search_fields = ("name", "key")
    ordering = ("id",)


@admin.register(Membership, site=site)
class MembershipAdmin(ReadOnly):
    list_display = ("id", "user", "tenant", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "tenant")
    search_fields = ("user__username", "tenant__name")
    ordering = ("id",)


@admin.register(User, site=site)
class UserAdmin(ReadOnly):
    list_display = ("id", "username", "is_active", "is_staff", "last_login", "date_joined")
    list_filter = ("is_active", "is_staff")
    search_fields = ("username",)
    ordering = ("id",)
    # Not the password hash, not groups or permissions (the app's roles are memberships).
    fields = ("username", "email", "is_active", "is_staff", "last_login", "date_joined")


@admin.register(Invitation, site=site)
class InvitationAdmin(ReadOnly):
    list_display = ("id", "tenant", "email", "role", "created_at", "expires_at", "accepted_at")
    list_select_related = ("tenant",)
    search_fields = ("email",)
    ordering = ("-id",)
    exclude = ("token_hash",)


@admin.register(ApiToken, site=site)
class ApiTokenAdmin(ReadOnly):
    list_display = ("id", "tenant", "name", "prefix", "expires_at", "revoked_at", "last_used_at")
    list_select_related = ("tenant",)
    ordering = ("-id",)
    exclude = ("secret_hash",)


@admin.register(AuditEntry, site=site)
class AuditEntryAdmin(ReadOnly):
    list_display = ("id", "at", "tenant_id", "actor_label", "entity", "entity_id", "action")
    list_filter = ("entity", "action")
    search_fields = ("entity_id", "actor_label")
    ordering = ("-id",)


@admin.register(SecurityEventRecord, site=site)
class SecurityEventAdmin(ReadOnly):
    list_display = ("seq", "timestamp", "tenant_id", "action", "outcome")
    list_filter = ("outcome",)
    search_fields = ("action",)
    ordering = ("-seq",)
