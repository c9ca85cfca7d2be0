"""Headless Chromium on a page that embeds the tag: events reach the store under the right
tenant, with selectors that resolve to the clicked element and the click's page coordinates."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, sync_playwright

from .conftest import Instance

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script src="{tag}" data-site="{key}" async></script>
<style>body{{margin:0;font:16px sans-serif}} .tall{{height:4000px}}
 header{{height:80px;background:#eee}} a.button{{display:inline-block;margin:300px 0 0 200px;
 padding:20px 40px;background:#36c;color:#fff}}</style></head>
<body><header><nav><a href="/shop/checkout" id="to-checkout">Checkout</a></nav></header>
<main><section class="hero"><p>Welcome</p><a class="button" href="#">Buy now</a></section>
<form><input name="card" class="card-number" value=""></form>
<div class="tall"></div></main>
<script src="/app.js"></script></body></html>"""

# The "single-page app": links navigate with the History API instead of loading a page.
APP_JS = b"""document.getElementById('to-checkout').addEventListener('click', function (e) {
  e.preventDefault(); history.pushState({}, '', '/shop/checkout');
  document.querySelector('main p').textContent = 'Checkout';
});"""


@pytest.fixture
def site_server(instance: Instance) -> Iterator[tuple[str, str, int, int]]:
    """Serve the customer's page from another origin; return (page url, key, tenant, other)."""
    tenant_id, key = instance.create_site("Tenant A", "127.0.0.1")
    other_tenant, _ = instance.create_site("Tenant B", "b.example")
    html = PAGE.format(tag=f"{instance.url}/t/heliograph.js", key=key).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = (
                (APP_JS, "text/javascript") if self.path == "/app.js" else (html, "text/html")
            )
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    instance.start()
    yield f"http://127.0.0.1:{server.server_port}/shop", key, tenant_id, other_tenant
    server.shutdown()
    server.server_close()


def click_point(page: Page, selector: str) -> tuple[int, int]:
    """Click the middle of an element; return its page coordinates."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    scroll_y = page.evaluate("window.scrollY")
    page.mouse.click(x, y)
    return round(x), round(y + scroll_y)


def test_browser_events_arrive_in_the_store(
    instance: Instance, site_server: tuple[str, str, int, int]
) -> None:
    url, _key, tenant_id, other_tenant = site_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(url)
        page.wait_for_function("window.heliograph !== undefined")
        button_at = click_point(page, "a.button")
        page.fill("input.card-number", "4111 1111 1111 1111")
        page.click("input.card-number")
        page.mouse.wheel(0, 5000)
        page.wait_for_function("window.scrollY > 3000")
        time.sleep(0.3)  # let the throttled scroll listener record the depth
        page.evaluate("window.scrollTo(0, 0)")
        page.click("#to-checkout")  # SPA navigation through pushState
        page.wait_for_url("**/shop/checkout")
        page.close(run_before_unload=True)  # pagehide: the tag flushes with sendBeacon
        time.sleep(1.0)
        instance.stop()  # the final loader pass moves what is left into the store

        rows = instance.events(tenant_id)
        clicks = [r for r in rows if r["type"] == "click"]
        # Each stored selector must point at the element that was clicked.
        check = browser.new_page(viewport={"width": 1200, "height": 800})
        check.goto(url)
        resolved = check.evaluate(
            """sels => sels.map(s => { const el = document.querySelector(s);
                 return el ? (el.className || el.id) : null; })""",
            [str(r["selector"]) for r in clicks],
        )
        browser.close()

    assert instance.events(other_tenant) == []
    pageviews = sorted((r for r in rows if r["type"] == "pageview"), key=lambda r: str(r["ts"]))
    assert [r["path"] for r in pageviews] == ["/shop", "/shop/checkout"]
    assert pageviews[0]["session_id"] == pageviews[1]["session_id"]
    assert pageviews[0]["pageview_id"] != pageviews[1]["pageview_id"]
    assert pageviews[1]["referrer"] == url

    assert sorted(resolved) == ["button", "card-number", "to-checkout"]
    button = clicks[resolved.index("button")]
    assert abs(int(button["x"]) - button_at[0]) <= 2
    assert abs(int(button["y"]) - button_at[1]) <= 2
    assert (button["vw"], button["vh"]) == (1200, 800)
    assert int(button["dh"]) > 4000
    assert all("4111" not in str(value) for row in rows for value in row.values())

    depths = [int(r["depth"]) for r in rows if r["type"] == "scroll" and r["path"] == "/shop"]
    assert depths and max(depths) >= 90
    assert {r["device"] for r in rows} == {"desktop"}
