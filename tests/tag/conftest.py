"""Shared fixtures for the tag: paths, the pinned esbuild install, a test site and Chromium."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG_DIR = ROOT / "tag"
STATIC_DIR = ROOT / "src" / "heliograph" / "collector" / "static"
BUILT_TAG = STATIC_DIR / "heliograph.js"
MANIFEST = STATIC_DIR / "heliograph.manifest.json"

CHROMIUM = "/usr/bin/chromium"
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
VIEWPORT = {"width": 800, "height": 600}
SITE_KEY = "site_Test-1"
WAIT_S = 10.0

# The wire format the collector validates (POST /collect): exact keys, types and limits. A
# beacon groups events into runs ("runs" format) that state their events as columns; tests
# read them back flat, each event with its batch's sid and vid and its run's pid, url,
# viewport and document size, as the collector's loader does.
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BATCH_KEYS = {"site", "sid", "vid", "runs"}
SIZE_KEYS = ("vw", "vh", "dw", "dh")
RUN_KEYS = {"pid", "url", *SIZE_KEYS}
COMMON_KEYS = {"type", "ts", "sid", "vid", "pid", "url", "vw", "vh", "dw", "dh"}
TYPE_KEYS = {"pageview": {"ref"}, "click": {"sel", "x", "y"}, "scroll": {"depth"}}
INT_KEYS = {"ts", "vw", "vh", "dw", "dh", "x", "y", "depth"}
TAG_BATCH = 10


@dataclass(frozen=True)
class TagFiles:
    """Where the tag's source, build script and committed build live."""

    tag_dir: Path = TAG_DIR
    source: Path = TAG_DIR / "src" / "heliograph.js"
    build_script: Path = TAG_DIR / "build.mjs"
    built: Path = BUILT_TAG
    manifest: Path = MANIFEST


@pytest.fixture(scope="session")
def tag_files() -> TagFiles:
    return TagFiles()


@pytest.fixture(scope="session")
def node() -> str:
    """Return the path of node, failing the test when it is missing."""
    found = shutil.which("node")
    assert found, "node (20 or later) is needed to build the tag"
    return found


@pytest.fixture(scope="session")
def esbuild_installed() -> Path:
    """Install the locked build dependencies into tag/node_modules unless they are there."""
    if not (TAG_DIR / "node_modules" / "esbuild").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the pinned esbuild"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=TAG_DIR, check=True, timeout=300)
    return TAG_DIR / "node_modules"


def check_event(event: dict[str, Any]) -> None:
    """Assert that one event has exactly the fields, types and limits of the wire format."""
    assert event["type"] in TYPE_KEYS, event
    assert set(event) == COMMON_KEYS | TYPE_KEYS[event["type"]], event
    for key in INT_KEYS & set(event):
        assert type(event[key]) is int, (key, event)
    for key in ("sid", "pid"):
        assert ID.match(event[key]), (key, event)
    assert event["vid"] == "" or ID.match(event["vid"]), event
    assert isinstance(event["url"], str)
    assert len(event["url"]) <= 2048
    assert isinstance(event.get("ref", ""), str)
    assert len(event.get("ref", "")) <= 2048
    assert isinstance(event.get("sel", ""), str)
    assert len(event.get("sel", "")) <= 512
    assert 0 <= event.get("depth", 0) <= 100
    assert all(0 <= event[key] <= 1_000_000 for key in ("vw", "vh", "dw", "dh"))


def check_beacon(body: str) -> dict[str, Any]:
    """Parse a request body, assert it is a valid beacon, and return it with its events flat
    under ``"events"`` (each with the batch's sid and vid and its page's pid and url)."""
    beacon = json.loads(body)
    assert set(beacon) == BATCH_KEYS, beacon
    assert beacon["runs"], beacon
    events = []
    for run in beacon["runs"]:
        kinds = run["type"]
        assert kinds and len(run["ts"]) == len(kinds), run
        # Only the columns of the run's kinds, each with one entry per event of its kind.
        own = set().union(*(TYPE_KEYS[kind] for kind in kinds))
        assert set(run) == RUN_KEYS | {"type", "ts"} | own, run
        columns = {key: iter(run[key]) for key in own}
        for kind, ts in zip(kinds, run["ts"], strict=True):
            event = {"type": kind, "ts": ts, **{k: next(columns[k]) for k in TYPE_KEYS[kind]}}
            ids = {"sid": beacon["sid"], "vid": beacon["vid"], "pid": run["pid"], "url": run["url"]}
            events.append({**event, **ids, **{key: run[key] for key in SIZE_KEYS}})
        assert all(next(column, None) is None for column in columns.values()), run
    # Consecutive runs are merged: a new run means a new page view, URL, viewport or size.
    keys = [tuple(run[key] for key in sorted(RUN_KEYS)) for run in beacon["runs"]]
    assert all(a != b for a, b in itertools.pairwise(keys)), keys
    # The tag sends a batch as soon as 10 events are queued (BATCH in heliograph.js), far under
    # the collector's limit of 100; each page run is non-empty, so neither is a batch.
    assert len(events) <= TAG_BATCH, len(events)
    for event in events:
        check_event(event)
    return {"site": beacon["site"], "events": events}


@dataclass(frozen=True)
class Received:
    """One request that reached /collect."""

    method: str
    host: str
    headers: dict[str, str]
    body: str


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tag test</title>
<style>
  body {{margin: 0; font: 16px/1.4 sans-serif}}
  .spacer {{height: 700px}}
  .tall {{height: 3000px}}
</style>
</head><body>
<header><nav class="menu">
  <a class="item" href="#a">Home</a><a class="item active" href="#b">About</a>
</nav></header>
<main id="app">
  <button class="btn primary wide" type="button" data-note="DATASECRET">Buy BUTTONSECRET</button>
</main>
<div class="spacer"></div>
<section class="cards">
  <div class="card">first</div>
  <div class="css-1x2y3z card featured">
    <p class="body">
      <span class="label">One</span><span class="label big">Two <b class="hot">bold</b></span>
    </p>
  </div>
</section>
<form class="f" onsubmit="return false">
  <label for="pw">LABELSECRET</label>
  <input id="pw" class="field" name="NAMESECRET" placeholder="PLACEHOLDERSECRET" autocomplete="off">
  <textarea class="notes" title="TITLESECRET"></textarea>
  <select class="pick"><option>OPTIONSECRET-A</option><option>OPTIONSECRET-B</option></select>
</form>
<footer><div id=":r1:" class="Home_main__nLjiQ panel is-open"><i class="icon">i</i></div>
  <a id="jane.doe@example.com" class="user-jane@example.com contact" href="#c">mail</a></footer>
<div class="tall"></div>
{tag}
</body></html>
"""

PLAIN = "<!doctype html><html><head><title>plain</title></head><body><p>plain</p></body></html>"


class TagSite:
    """A test web site: pages on one origin, the tag and /collect on another, as in production."""

    def __init__(self) -> None:
        self.key = SITE_KEY
        self.script = BUILT_TAG.read_bytes()
        self.pages: dict[str, str] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        port = self._httpd.server_address[1]
        self.page_origin = f"http://127.0.0.1:{port}"
        self.tag_origin = f"http://localhost:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def page(self, name: str, extra: str = "", key: str = SITE_KEY, embed: bool = True) -> str:
        """Register a page embedding the tag for site `key` and return its URL."""
        attrs = f'data-site="{key}" {extra}' if key else extra
        tag = f'<script src="{self.tag_origin}/t/heliograph.js" {attrs} async></script>'
        self.pages[name] = PAGE.format(tag=tag if embed else "")
        return f"{self.page_origin}/p/{name}/start?q=1"

    def plain(self, name: str = "elsewhere") -> str:
        """Return the URL of a page without the tag."""
        return f"{self.page_origin}/plain/{name}"

    def record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def posts(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST"]

    def beacons(self) -> list[dict[str, Any]]:
        """Return every body POSTed to /collect, each checked against the wire format."""
        return [check_beacon(r.body) for r in self.posts()]

    def events(self) -> list[dict[str, Any]]:
        return [event for beacon in self.beacons() for event in beacon["events"]]

    def wait_for(
        self, ready: Callable[[list[dict[str, Any]]], bool], timeout: float = WAIT_S
    ) -> list[dict[str, Any]]:
        """Poll the received events until `ready(events)` holds, failing after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if ready(events):
                return events
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for events; received {events!r}")
            time.sleep(0.02)


def _handler_for(site: TagSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

        def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _received(self, body: bytes) -> Received:
            headers = {key.lower(): value for key, value in self.headers.items()}
            return Received(self.command, headers.get("host", ""), headers, body.decode())

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            parts = path.split("/")
            if path == "/t/heliograph.js":
                self._reply(200, site.script, "text/javascript")
            elif len(parts) > 2 and parts[1] == "p" and parts[2] in site.pages:
                self._reply(200, site.pages[parts[2]].encode(), "text/html; charset=utf-8")
            elif parts[1] == "plain":
                self._reply(200, PLAIN.encode(), "text/html; charset=utf-8")
            else:
                self._reply(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.path == "/collect":
                site.record(self._received(body))
                self._reply(202)
            else:
                self._reply(404)

        def do_OPTIONS(self) -> None:
            # A preflight would mean the tag sends something other than a simple request.
            site.record(self._received(b""))
            self._reply(204)

    return Handler


@pytest.fixture
def site() -> Iterator[TagSite]:
    served = TagSite()
    yield served
    served.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for a test module. Not for the session: Playwright's sync API keeps an
    event loop running while it is open, and any later test that opens Playwright itself (the
    browser pipeline, the product flow) would fail with "Sync API inside the asyncio loop"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.set_default_timeout(WAIT_S * 1000)
    yield ctx
    ctx.close()
