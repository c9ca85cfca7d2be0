"""Reads of a tenant's sites; every lookup is confined to the scope's tenant."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store
from heliograph.web.sites.models import Site

log = logging.getLogger("heliograph.web.sites")


def sites_of(scope: TenantScope) -> QuerySet[Site]:
    """Return the tenant's sites, oldest first."""
    return Site.objects.filter(tenant_id=scope.tenant_id).order_by("pk")


def site_of(scope: TenantScope, site_id: int) -> Site:
    """Return the tenant's site ``site_id``; another tenant's site is as missing as no site."""
    if not 0 < site_id < 2**63:  # beyond a 64-bit id the database would raise, not miss
        raise Http404
    site = sites_of(scope).filter(pk=site_id).first()
    if site is None:
        raise Http404
    return site


@dataclass(frozen=True, slots=True)
class SiteRow:
    """A site with its traffic so far, for the site list."""

    site: Site
    activity: store.Activity | None  # None when the event store did not answer


def sites_with_activity(scope: TenantScope) -> list[SiteRow]:
    """Return the tenant's sites with when each was first and last seen."""
    rows = []
    for site in sites_of(scope):
        try:
            activity: store.Activity | None = store.site_activity(scope, site_id=site.pk)
        except store.StoreError:
            log.warning("sites.activity_unavailable site_id=%d", site.pk)
            activity = None
        rows.append(SiteRow(site, activity))
    return rows
