"""The metadata side of the collector's site registry."""

from __future__ import annotations

from django.db import close_old_connections

from heliograph.collector.sites import SiteInfo
from heliograph.web.sites.models import Site


def lookup_site(key: str) -> SiteInfo | None:
    """Return the collector's view of the site with ``key``, or None."""
    close_old_connections()
    row = (
        Site.objects.filter(key=key)
        .values_list("id", "tenant_id", "key", "allowed_domains")
        .first()
    )
    if row is None:
        return None
    site_id, tenant_id, site_key, domains = row
    return SiteInfo(
        site_id=site_id, tenant_id=tenant_id, key=site_key, allowed_domains=tuple(domains)
    )
