"""A customer's first hour, in Chromium: sign in, create a site, paste the snippet into a page,
use that page, and find the traffic in the overview, top pages, click map and scroll map.

Screenshots of each page are saved under ``artifacts/screenshots/`` for a human to look at.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .conftest import Instance
from .test_browser_pipeline import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
EMAIL, PASSWORD = "owner@example.com", "correct horse battery staple"

LANDING = """<!doctype html><html><head><meta charset="utf-8"><title>Acme</title>{snippet}
<style>body{{margin:0;font:16px sans-serif}} section{{height:1500px;padding:40px}}
a.cta{{display:inline-block;padding:16px 32px;background:#c33;color:#fff}}</style></head>
<body><section class="hero"><h1>Acme rockets</h1><a class="cta" href="#">Order now</a></section>
<section class="specs"><p>Specifications</p></section><footer>Acme</footer></body></html>"""


class CustomerSite:
    """The customer's own web server: it serves whatever snippet it is given."""

    def __init__(self) -> None:
        self.snippet = ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = LANDING.format(snippet=outer.snippet).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/rockets"


@pytest.fixture
def customer_site() -> Iterator[CustomerSite]:
    site = CustomerSite()
    yield site
    site.server.shutdown()
    site.server.server_close()


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sign_in_create_site_collect_and_see_it(
    instance: Instance, customer_site: CustomerSite
) -> None:
    tenant = re.search(r"tenant (\d+)", instance.cli("tenant", "create", "Acme"))[1]  # type: ignore[index]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "heliograph.cli",
            "user",
            "create",
            f"--email={EMAIL}",
            f"--tenant={tenant}",
            "--role=owner",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        text=True,
        env=instance.env(),
        check=True,
        capture_output=True,
    )
    instance.start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        app = browser.new_page(viewport={"width": 1360, "height": 900})
        app.goto(instance.url + "/")
        app.fill("input[name=email]", EMAIL)
        app.fill("input[name=password]", PASSWORD)
        app.click("button[type=submit]")
        app.wait_for_url(lambda url: "sign-in" not in url)
        app.goto(instance.url + "/sites/new/")
        app.fill("input[name=name]", "Acme rockets")
        app.fill("textarea[name=domains]", "127.0.0.1")
        app.click("form:has(textarea[name=domains]) button[type=submit]")
        expect(app.locator("pre.snippet")).to_contain_text("data-site=")
        site_url = app.url
        customer_site.snippet = html.unescape(app.locator("pre.snippet code").inner_text())

        visitor = browser.new_page(viewport={"width": 1200, "height": 800})
        for _ in range(3):  # three page views; the button is clicked on each
            visitor.goto(customer_site.url)
            visitor.wait_for_function("window.heliograph !== undefined")
            visitor.click("a.cta")
            visitor.mouse.wheel(0, 4000)
            visitor.wait_for_function("window.scrollY > 2000")
            time.sleep(0.3)  # the tag's scroll listener is throttled
        visitor.close(run_before_unload=True)  # pagehide flushes the last batch

        site_id = re.search(r"/sites/(\d+)/", site_url)[1]  # type: ignore[index]
        overview = f"{instance.url}/sites/{site_id}/overview/?range=today"
        deadline = time.monotonic() + 30
        while True:  # the loader moves spool segments into the store within a second or so
            app.goto(overview)
            if app.locator(".kpi-value").first.inner_text().strip() == "3":
                break
            assert time.monotonic() < deadline, app.locator(".kpis").inner_text()
            time.sleep(0.5)
        shoot(app, "overview")
        kpis = app.locator(".kpis").inner_text()
        assert "Page views\n3" in kpis.replace("\n\n", "\n")
        assert "Visitors\n1" in kpis.replace("\n\n", "\n")

        app.goto(f"{instance.url}/sites/{site_id}/pages/?range=today")
        expect(app.locator("main")).to_contain_text("/rockets")
        shoot(app, "pages")

        app.goto(f"{instance.url}/sites/{site_id}/heatmap/?range=today&path=/rockets")
        expect(app.locator("main")).to_contain_text("a.cta")
        assert app.locator("main svg").count() >= 1
        shoot(app, "heatmap")

        app.goto(f"{instance.url}/sites/{site_id}/scroll/?range=today&path=/rockets")
        assert app.locator("main svg").count() >= 1
        shoot(app, "scroll")
        browser.close()
    for name in ("overview", "pages", "heatmap", "scroll"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
