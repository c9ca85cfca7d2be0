"""Operational endpoints of the administrative listener: metrics, health, admin static files."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import django.contrib.admin
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from heliograph.core import metrics as process_metrics
from heliograph.store import api as store

ADMIN_STATIC_ROOT = Path(django.contrib.admin.__file__).resolve().parent / "static"


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Every registered process metric in the Prometheus text format."""
    response = HttpResponse(process_metrics.exposition(), content_type=process_metrics.CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """200 when the metadata database answers and the event store is open, else 503."""
    checks = {"database": _database_answers(), "event_store": store.store_ready()}
    healthy = all(checks.values())
    response = JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
    response["Cache-Control"] = "no-store"
    return response


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except DatabaseError:
        return False


@require_safe
def admin_static(request: HttpRequest, path: str) -> HttpResponse:
    """Serve the Django admin's own CSS, JavaScript and images (nothing outside that folder)."""
    root = ADMIN_STATIC_ROOT / "admin"
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Http404
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    response = HttpResponse(target.read_bytes(), content_type=content_type)
    response["Cache-Control"] = "public, max-age=3600"
    return response
