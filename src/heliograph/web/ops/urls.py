"""URL routes of the administrative listener (never mounted on the public one)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

from heliograph.web.ops import views
from heliograph.web.ops.admin import site

urlpatterns: list[URLPattern | URLResolver] = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", site.urls),
    path("metrics", views.metrics, name="metrics"),
    path("ops/health", views.health, name="ops-health"),
    path("static/admin/<path:path>", views.admin_static, name="admin-static"),
]
