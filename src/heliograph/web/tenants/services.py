"""Write operations on tenants, one transaction each."""

from __future__ import annotations

import zoneinfo

from django.db import transaction

from heliograph.core.errors import InputError
from heliograph.web.audit.trail import SYSTEM, Actor, audit_change
from heliograph.web.tenants.models import Tenant


def _check_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError("invalid_time_zone", f"unknown time zone {name!r}") from None
    return name


def tenant_create(*, name: str, time_zone: str = "UTC", actor: Actor = SYSTEM) -> Tenant:
    """Create a tenant."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InputError("invalid_name", "a tenant name has 1 to 200 characters")
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name, time_zone=_check_time_zone(time_zone))
        audit_change(
            actor=actor,
            tenant_id=tenant.pk,
            entity="tenant",
            entity_id=tenant.pk,
            action="created",
            new={"name": tenant.name, "time_zone": tenant.time_zone},
        )
        return tenant
