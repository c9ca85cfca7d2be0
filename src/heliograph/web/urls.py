"""URL routes of the web app."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from heliograph.web.accounts import views as accounts
from heliograph.web.dashboards.assets import static_file
from heliograph.web.tenants import views as tenant_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", accounts.home, name="home"),
    path("", include("heliograph.web.accounts.urls")),
    path("sites/", include("heliograph.web.sites.urls")),
    path("sites/", include("heliograph.web.dashboards.urls")),
    path("settings/webhooks/", include("heliograph.web.webhooks.urls")),
    path("settings/delete-organisation/", tenant_views.delete_tenant, name="delete_tenant"),
    path("static/<path:path>", static_file, name="static"),
    path("api/v1/", include("heliograph.web.api.urls")),
]
