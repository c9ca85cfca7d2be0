"""Every operation of /api/v1, declared once: the router, the gate and the OpenAPI document
are all built from OPERATIONS."""

from __future__ import annotations

from collections.abc import Callable

from heliograph.store import api as store
from heliograph.web.api import views
from heliograph.web.api.declare import Access, AnyOperation, Call, Empty, Operation, Q
from heliograph.web.api.models import Scope
from heliograph.web.api.schemas import (
    CreatedToken,
    HeatmapQuery,
    OverviewQuery,
    PageList,
    ReferrerList,
    ScrollQuery,
    SecurityEventList,
    SecurityEventQuery,
    SiteCreate,
    SiteList,
    SiteOut,
    TableQuery,
    TokenCreate,
    TokenList,
)
from heliograph.web.tenants.models import Role

READ_SITES = Access(Role.VIEWER, frozenset({Scope.ANALYTICS_READ, Scope.SITES_MANAGE}))
MANAGE_SITES = Access(Role.ADMIN, frozenset({Scope.SITES_MANAGE}))
READ_ANALYTICS = Access(Role.VIEWER, frozenset({Scope.ANALYTICS_READ}))
ADMIN_SESSION = Access(Role.ADMIN)

_SITES = "sites"
_DASHBOARDS = "dashboards"
_RANGE = "Days ``start``..``end`` are local days in ``tz`` (default: the tenant's zone)."


def _dashboard(
    name: str, handler: Callable[[Call[Q, Empty]], object], query: type[Q], response: object
) -> Operation[Q, Empty]:
    """Declare a read of one site's dashboard data; the handler's docstring is its summary."""
    return Operation(
        method="GET",
        path=f"/sites/{{id}}/{name}",
        operation_id=f"site_{name.replace('-', '_')}",
        summary=(handler.__doc__ or name).strip(),
        access=READ_ANALYTICS,
        handler=handler,
        query=query,
        body=Empty,
        response=response,
        tag=_DASHBOARDS,
        description=_RANGE,
        uses_store=True,
    )


OPERATIONS: tuple[AnyOperation, ...] = (
    Operation(
        method="GET",
        path="/sites",
        operation_id="list_sites",
        summary="List the sites",
        access=READ_SITES,
        handler=views.list_sites,
        query=Empty,
        body=Empty,
        response=SiteList,
        tag=_SITES,
    ),
    Operation(
        method="POST",
        path="/sites",
        operation_id="create_site",
        summary="Create a site",
        access=MANAGE_SITES,
        handler=views.create_site,
        query=Empty,
        body=SiteCreate,
        response=SiteOut,
        status=201,
        tag=_SITES,
    ),
    Operation(
        method="GET",
        path="/sites/{id}",
        operation_id="get_site",
        summary="Get a site",
        access=READ_SITES,
        handler=views.get_site,
        query=Empty,
        body=Empty,
        response=SiteOut,
        tag=_SITES,
    ),
    Operation(
        method="POST",
        path="/sites/{id}/rotate-key",
        operation_id="rotate_site_key",
        summary="Give a site a new key",
        access=MANAGE_SITES,
        handler=views.rotate_site_key,
        query=Empty,
        body=Empty,
        response=SiteOut,
        tag=_SITES,
        description="Beacons with the old key are refused once the collector's cache expires.",
    ),
    _dashboard("overview", views.overview, OverviewQuery, store.Overview),
    _dashboard("pages", views.pages, TableQuery, PageList),
    _dashboard("entry-pages", views.entry_pages, TableQuery, PageList),
    _dashboard("exit-pages", views.exit_pages, TableQuery, PageList),
    _dashboard("referrers", views.referrers, TableQuery, ReferrerList),
    _dashboard("devices", views.devices, TableQuery, store.Devices),
    _dashboard("heatmap", views.heatmap, HeatmapQuery, store.ClickMap),
    _dashboard("scroll", views.scroll, ScrollQuery, store.ScrollMap),
    Operation(
        method="GET",
        path="/tokens",
        operation_id="list_tokens",
        summary="List the API tokens",
        access=ADMIN_SESSION,
        handler=views.list_tokens,
        query=Empty,
        body=Empty,
        response=TokenList,
        tag="tokens",
    ),
    Operation(
        method="POST",
        path="/tokens",
        operation_id="create_token",
        summary="Create an API token",
        access=ADMIN_SESSION,
        handler=views.create_token,
        query=Empty,
        body=TokenCreate,
        response=CreatedToken,
        status=201,
        tag="tokens",
        description="The answer holds the token's plaintext: it is shown this once only.",
    ),
    Operation(
        method="DELETE",
        path="/tokens/{id}",
        operation_id="revoke_token",
        summary="Revoke an API token",
        access=ADMIN_SESSION,
        handler=views.revoke_token,
        query=Empty,
        body=Empty,
        response=None,
        status=204,
        tag="tokens",
    ),
    Operation(
        method="GET",
        path="/security-events",
        operation_id="list_security_events",
        summary="The tenant's security events, newest first",
        access=ADMIN_SESSION,
        handler=views.security_events,
        query=SecurityEventQuery,
        body=Empty,
        response=SecurityEventList,
        tag="security",
    ),
)
