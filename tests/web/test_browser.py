"""The pages in a real browser: signed in through the form, no CSP violation, pictures drawn."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, sync_playwright

from heliograph.web.accounts.services import user_create
from heliograph.web.tenants.models import Role
from tests.web.factories import Visit, write_visits
from tests.web.members import Members

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a browser test password"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving() -> Iterator[str]:
    """Serve the Django app on a free loopback port in a thread (the app serves /static/ itself;
    pytest-django's live_server would answer /static/ with its own handler instead)."""
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_dashboards_work_under_the_policy(members: Members) -> None:
    user_create(
        email="browser@example.com",
        password=PASSWORD,
        tenant=members.site_a.tenant,
        role=Role.VIEWER,
    )
    recent = timezone.now() - timedelta(hours=1)
    write_visits(
        members.site_a,
        *[
            Visit("/", at=recent, visitor=f"v{i}", depth=60, clicks=(("a.cta", 300, 200),))
            for i in range(6)
        ],
    )
    site = members.site_a.pk
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(message.text)

    # No database access below: Playwright's event loop makes Django refuse ORM calls.
    with serving() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.on("console", watch)
        page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
        page.goto(f"{base}/")
        page.fill("input[name=email]", "browser@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/sites/{site}/overview/")
        assert page.locator(".kpi-value").first.inner_text() == "6"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        chart = page.locator(".chart svg").bounding_box()
        page.goto(f"{base}/sites/{site}/heatmap/?path=/")
        heat = page.locator(".heatmap svg").bounding_box()
        page.goto(f"{base}/sites/{site}/scroll/?path=/")
        scroll = page.locator(".scrollmap svg").bounding_box()
        page.click("text=Sign out")
        page.wait_for_url("**/sign-in/")
        browser.close()
    assert problems == []
    assert background == "rgb(246, 247, 249)"  # the stylesheet loaded under style-src 'self'
    for box in (chart, heat, scroll):
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 150
