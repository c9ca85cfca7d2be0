"""/metrics in the Prometheus text format and /ops/health, on the admin URLconf."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from heliograph.core import metrics
from heliograph.core.config import Settings

pytestmark = pytest.mark.django_db
ADMIN_URLCONF = override_settings(ROOT_URLCONF="heliograph.web.ops.urls")


@ADMIN_URLCONF
def test_metrics_renders_what_the_parts_registered() -> None:
    metrics.register("heliograph_test_events_total", "counter", "Test events.", lambda: 42)
    metrics.register("heliograph_test_absent", "gauge", "No value now.", lambda: None)
    try:
        response = Client().get("/metrics")
    finally:
        metrics.unregister("heliograph_test_events_total")
        metrics.unregister("heliograph_test_absent")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = response.content.decode()
    assert (
        "# HELP heliograph_test_events_total Test events.\n"
        "# TYPE heliograph_test_events_total counter\n"
        "heliograph_test_events_total 42\n"
    ) in body
    assert "heliograph_test_absent" not in body


@ADMIN_URLCONF
def test_health_is_ok_with_the_database_and_the_event_store(event_store: Settings) -> None:
    response = Client().get("/ops/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "event_store": True}}


@ADMIN_URLCONF
def test_admin_static_files_stay_in_their_folder() -> None:
    client = Client()
    css = client.get("/static/admin/css/base.css")
    assert css.status_code == 200
    assert css["Content-Type"] == "text/css"
    for path in ("/static/admin/../../__init__.py", "/static/admin/%2e%2e/%2e%2e/models.py"):
        assert client.get(path).status_code == 404, path
