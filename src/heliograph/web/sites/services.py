"""Write operations on sites, one transaction each."""

from __future__ import annotations

import re
import secrets

from django.db import transaction
from django.utils import timezone

from heliograph.core.errors import InputError
from heliograph.web.audit.trail import SYSTEM, Actor, audit_change
from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Tenant

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")


def normalise_domains(domains: list[str]) -> list[str]:
    """Lower-case and validate hostnames (``*.example.com`` allows subdomains)."""
    cleaned: list[str] = []
    for raw in domains:
        domain = raw.strip().lower().rstrip(".")
        if not _DOMAIN.match(domain) or len(domain) > 253:
            raise InputError("invalid_domain", f"{raw!r} is not a hostname such as www.example.com")
        if domain not in cleaned:
            cleaned.append(domain)
    if not cleaned:
        raise InputError("invalid_domain", "a site needs at least one allowed domain")
    return cleaned


def new_site_key() -> str:
    """Return a fresh public site key (it appears in page source; it is not a secret).

    Never one that starts with "-": command lines (``heliograph simulate --site KEY``) would
    read it as an option.
    """
    while True:
        key = secrets.token_urlsafe(12)
        if not key.startswith("-"):
            return key


def site_create(*, tenant: Tenant, name: str, domains: list[str], actor: Actor = SYSTEM) -> Site:
    """Create a site for ``tenant`` with its allowed domains."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InputError("invalid_name", "a site name has 1 to 200 characters")
    with transaction.atomic():
        site = Site.objects.create(
            tenant=tenant, name=name, key=new_site_key(), allowed_domains=normalise_domains(domains)
        )
        audit_change(
            actor=actor,
            tenant_id=tenant.pk,
            entity="site",
            entity_id=site.pk,
            action="created",
            new={"name": site.name, "allowed_domains": site.allowed_domains, "key": site.key},
        )
        return site


def site_rotate_key(*, site: Site, actor: Actor = SYSTEM) -> Site:
    """Give ``site`` a new key; beacons with the old key are refused from now on."""
    with transaction.atomic():
        old_key = site.key
        site.key = new_site_key()
        site.key_rotated_at = timezone.now()
        site.save(update_fields=["key", "key_rotated_at"])
        audit_change(
            actor=actor,
            tenant_id=site.tenant_id,
            entity="site",
            entity_id=site.pk,
            action="key_rotated",
            old={"key": old_key},
            new={"key": site.key},
        )
    return site


def snippet(site: Site, base_url: str) -> str:
    """Return the HTML a customer pastes into their pages."""
    return f'<script src="{base_url}/t/heliograph.js" data-site="{site.key}" async></script>'
