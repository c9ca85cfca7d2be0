"""The built tag in headless Chromium: what it sends, when, and what it never sends or stores."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import BrowserContext, Page

if TYPE_CHECKING:
    from conftest import TagSite

pytestmark = pytest.mark.browser

# Records every call the page makes to sendBeacon or fetch, synchronously, so a test can prove
# that nothing was sent at the moment the tag would have sent it.
SPY = """
window.__hgCalls = [];
const beacon = Navigator.prototype.sendBeacon;
Navigator.prototype.sendBeacon = function (url, body) {
  window.__hgCalls.push(['beacon', String(url), String(body)]);
  return beacon.call(this, url, body);
};
const realFetch = window.fetch;
window.fetch = function (url, init) {
  const {body, method, keepalive, credentials} = init || {};
  window.__hgCalls.push(['fetch', String(url), String(body), {method, keepalive, credentials}]);
  return realFetch.apply(this, arguments);
};
"""

# What a browser does when the tab is hidden; the tag flushes on it.
HIDE = """() => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
  document.dispatchEvent(new Event('visibilitychange'));
  delete document.visibilityState;
}"""

# Load the tag the way a tag manager does, after the page has loaded.
INJECT = """([src, key]) => new Promise((resolve, reject) => {
  const script = document.createElement('script');
  script.src = src;
  script.dataset.site = key;
  script.onload = resolve;
  script.onerror = reject;
  document.body.append(script);
})"""

STORED = """() => ({
  local: Object.fromEntries(Object.entries(localStorage)),
  session: sessionStorage.length,
  cookie: document.cookie,
})"""


def scroll_to(page: Page, y: int) -> None:
    """Scroll and return once the tag's throttled measurement (250 ms) has run."""
    # Our timer is set after the tag's, in the same scroll event, and with a longer delay, so it
    # fires after the tag's timer whatever the load on the machine.
    page.evaluate(
        """y => new Promise((resolve, reject) => {
            addEventListener('scroll', () => setTimeout(resolve, 300), {once: true});
            setTimeout(() => reject(new Error('the page did not scroll')), 5000);
            scrollTo(0, y);
        })""",
        y,
    )


def open_tagged(context: BrowserContext, url: str) -> Page:
    """Open `url` and wait until the tag has run."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.heliograph && document.readyState === 'complete'")
    return page


def hide(page: Page) -> None:
    page.evaluate(HIDE)


def calls(page: Page) -> list[list[Any]]:
    result: list[list[Any]] = page.evaluate("window.__hgCalls")
    return result


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def test_pageview_on_load_carries_ids_url_and_referrer(
    site: TagSite, context: BrowserContext
) -> None:
    url = site.page("home")
    page = context.new_page()
    page.goto(site.plain("from"))
    before = int(time.time() * 1000)
    with page.expect_navigation(url=url):
        page.evaluate("url => location.assign(url)", url)
    page.wait_for_function("window.heliograph && document.readyState === 'complete'")
    hide(page)

    [event, _scroll] = site.wait_for(lambda events: len(events) >= 2)
    stored = page.evaluate(STORED)
    sizes = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert event["type"] == "pageview"
    assert event["url"] == url
    assert event["ref"] == site.plain("from")
    assert event["vid"] == stored["local"]["hg_v"]
    assert len(event["vid"]) == 22
    # Every event, here the scroll depth sent on hiding, renews the session's last activity.
    assert stored["local"]["hg_s"] == f"{event['sid']}.{_scroll['ts']}"
    assert event["pid"] not in (event["sid"], event["vid"])
    assert before <= event["ts"] <= int(time.time() * 1000)
    assert {"width": event["vw"], "height": event["vh"]} == page.viewport_size
    assert [event["dw"], event["dh"]] == sizes
    for request in site.posts():
        assert json.loads(request.body)["site"] == site.key
        # The endpoint comes from the script's own origin, not the page's.
        assert request.host == site.tag_origin.removeprefix("http://")
        assert request.headers["content-type"].startswith("text/plain")


def test_session_continues_across_loads_and_ends_after_30_idle_minutes(
    site: TagSite, context: BrowserContext
) -> None:
    page = open_tagged(context, site.page("home"))
    # Rewrite the last activity of the stored session to `m` minutes ago.
    expire = (
        "m => localStorage.setItem('hg_s',"
        " localStorage.getItem('hg_s').split('.')[0] + '.' + (Date.now() - m * 60000))"
    )

    def reload_and_flush(idle_minutes: int) -> dict[str, Any]:
        count = len(site.events())
        page.evaluate(expire, idle_minutes)
        page.reload()
        page.wait_for_function("window.heliograph && document.readyState === 'complete'")
        hide(page)
        return site.wait_for(lambda events: len(events) >= count + 2)[count]

    hide(page)
    [first, _] = site.wait_for(lambda events: len(events) >= 2)
    second = reload_and_flush(idle_minutes=29)
    third = reload_and_flush(idle_minutes=31)

    assert second["sid"] == first["sid"]
    assert second["vid"] == first["vid"]
    assert second["pid"] != first["pid"]
    assert third["sid"] != first["sid"]
    assert third["vid"] == first["vid"]


@pytest.mark.parametrize(
    ("target", "expected", "scrolled"),
    [
        (
            "b.hot",
            "section.cards > div.card.featured:nth-of-type(2) > p.body"
            " > span.label.big:nth-of-type(2) > b.hot",
            True,
        ),
        ("#app button", "#app > button.btn.primary", False),
        ("a.item.active", "html > body > header > nav.menu > a.item:nth-of-type(2)", False),
        ("textarea", "html > body > form.f > textarea.notes", True),
        # React's useId id, a CSS-module class and a state class are not stable: skipped.
        ("i.icon", "html > body > footer > div.panel > i.icon", True),
        # An id and a class holding an e-mail address are personal data: skipped.
        ("a.contact", "html > body > footer > a.contact", True),
    ],
)
def test_click_records_selector_path_and_page_coordinates(
    site: TagSite, context: BrowserContext, target: str, expected: str, scrolled: bool
) -> None:
    page = open_tagged(context, site.page("home"))
    # Scrolled, so that page and viewport coordinates differ (the element stays in view).
    page.evaluate("s => window.scrollTo(0, document.querySelector(s).offsetTop - 300)", target)
    page.click(target, position={"x": 3, "y": 2})
    # Playwright's position is from the padding box, inside the element's border.
    box = page.evaluate(
        "s => { const el = document.querySelector(s), r = el.getBoundingClientRect();"
        " return [r.left + el.clientLeft + scrollX, r.top + el.clientTop + scrollY, scrollY]; }",
        target,
    )
    sizes = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    hide(page)

    events = site.wait_for(lambda events: len(of_type(events, "click")) >= 1)
    [click] = of_type(events, "click")
    assert click["sel"] == expected
    assert (box[2] > 0) is scrolled
    assert abs(click["x"] - (box[0] + 3)) <= 1
    assert abs(click["y"] - (box[1] + 2)) <= 1
    assert {"width": click["vw"], "height": click["vh"]} == page.viewport_size
    assert [click["dw"], click["dh"]] == sizes
    assert click["pid"] == of_type(events, "pageview")[0]["pid"]


def test_scroll_depth_is_the_maximum_reached_and_sent_only_when_it_changes(
    site: TagSite, context: BrowserContext
) -> None:
    page = open_tagged(context, site.page("home"))
    height = page.evaluate("document.documentElement.scrollHeight")
    scroll_to(page, 1000)
    scroll_to(page, 0)
    hide(page)
    events = site.wait_for(lambda events: len(of_type(events, "scroll")) >= 1)
    assert of_type(events, "scroll")[0]["depth"] == round((1000 + 600) / height * 100)

    hide(page)  # unchanged depth: no second scroll event
    page.click("#app button")
    hide(page)
    events = site.wait_for(lambda events: len(of_type(events, "click")) >= 1)
    assert len(of_type(events, "scroll")) == 1

    scroll_to(page, height)
    hide(page)
    events = site.wait_for(lambda events: len(of_type(events, "scroll")) >= 2)
    depths = [e["depth"] for e in of_type(events, "scroll")]
    assert depths == [round(1600 / height * 100), 100]
    assert len({e["pid"] for e in events}) == 1


def test_scroll_depth_on_load_counts_the_first_screen(
    site: TagSite, context: BrowserContext
) -> None:
    page = open_tagged(context, site.page("home"))
    height = page.evaluate("document.documentElement.scrollHeight")
    hide(page)
    [scroll] = of_type(site.wait_for(lambda events: len(events) >= 2), "scroll")
    assert scroll["depth"] == round(600 / height * 100)


def test_scroll_depth_is_measured_when_the_tag_starts_on_a_scrolled_page(
    site: TagSite, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(site.page("late", embed=False))
    height = page.evaluate("document.documentElement.scrollHeight")
    # Scrolled before the tag exists, as a tag manager would load it: only the tag's own
    # measurement at start can know the page was seen down to 1000 + 600 px.
    page.evaluate(
        "() => { scrollTo(0, 1000);"
        " return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); }"
    )
    page.evaluate(INJECT, [f"{site.tag_origin}/t/heliograph.js", site.key])
    page.evaluate(f"() => {{ scrollTo(0, 0); ({HIDE})(); }}")

    [_view, scroll] = site.wait_for(lambda events: len(events) >= 2)
    assert scroll["depth"] == round(1600 / height * 100)


def test_spa_navigation_starts_a_new_page_view_in_the_same_session(
    site: TagSite, context: BrowserContext
) -> None:
    first_url = site.page("spa")
    page = open_tagged(context, first_url)
    page.evaluate("window.pops = 0; addEventListener('popstate', () => pops++)")
    second_url = f"{site.page_origin}/p/spa/second"
    page.evaluate("history.pushState({}, '', '/p/spa/second')")
    page.evaluate("history.replaceState({}, '', location.href + '#part')")  # same page
    page.evaluate("history.pushState({}, '', location.href)")  # same URL again
    page.evaluate("history.back()")
    page.evaluate("history.back()")
    page.wait_for_function("pops === 2")  # the tag's listener, registered first, has run
    hide(page)

    events = site.wait_for(lambda events: len(of_type(events, "pageview")) >= 3)
    views = of_type(events, "pageview")
    assert [v["url"] for v in views] == [first_url, second_url, first_url]
    assert [v["ref"] for v in views[1:]] == [first_url, second_url]
    assert len({v["pid"] for v in views}) == 3
    assert len({e["sid"] for e in events}) == 1
    # Each page view that ended reported its scroll depth, under its own id and URL.
    scrolls = {e["pid"]: e["url"] for e in of_type(events, "scroll")}
    assert scrolls == {
        views[0]["pid"]: first_url,
        views[1]["pid"]: second_url,
        views[2]["pid"]: first_url,
    }


@pytest.mark.parametrize("leave", ["close", "navigate"])
def test_leaving_the_page_flushes_with_a_beacon(
    site: TagSite, context: BrowserContext, leave: str
) -> None:
    page = open_tagged(context, site.page("home"))
    page.click("#app button")
    if leave == "close":
        page.close(run_before_unload=True)
    else:
        page.goto(site.plain())

    events = site.wait_for(lambda events: len(events) >= 3)
    assert [e["type"] for e in events] == ["pageview", "click", "scroll"]
    # sendBeacon sends a no-cors request; the fetch fallback would be a cors one.
    assert {r.headers["sec-fetch-mode"] for r in site.posts()} == {"no-cors"}


def test_a_page_that_extends_object_prototype_still_sends_valid_beacons(
    site: TagSite, context: BrowserContext
) -> None:
    """Some old libraries add enumerable properties to Object.prototype. None may reach a
    beacon: the collector refuses unknown fields, and the whole batch would be lost."""
    context.add_init_script("Object.prototype.legacyHelper = function () { return 1; };")
    context.add_init_script("Object.prototype.legacyFlag = 'on';")
    page = open_tagged(context, site.page("home"))
    page.click("#app button")
    hide(page)
    events = site.wait_for(lambda events: len(events) >= 3)  # each beacon checked key by key
    assert [e["type"] for e in events] == ["pageview", "click", "scroll"]


def test_ten_events_are_sent_at_once(site: TagSite, context: BrowserContext) -> None:
    context.add_init_script(SPY)
    page = open_tagged(context, site.page("home"))
    # One task: empty the queue, then click 9 and 10 times, so the 5 s timer cannot interfere.
    counts = page.evaluate(
        f"""() => {{
        ({HIDE})();
        const before = __hgCalls.length, button = document.querySelector('#app button');
        for (let i = 0; i < 9; i++) button.click();
        const after9 = __hgCalls.length;
        button.click();
        return [before, after9, __hgCalls.length];
    }}"""
    )
    assert counts == [1, 1, 2]
    [how, url, body] = calls(page)[1]
    assert (how, url) == ("beacon", f"{site.tag_origin}/collect")
    [run] = json.loads(body)["runs"]  # ten clicks on one page view: one run, ids sent once
    assert run["type"] == ["click"] * 10  # the events as columns
    assert len(run["ts"]) == len(run["sel"]) == len(run["x"]) == len(run["y"]) == 10
    site.wait_for(lambda events: len(events) == 12)


def test_a_document_that_grows_starts_a_new_run(site: TagSite, context: BrowserContext) -> None:
    """Clicks carry the document size they happened in: when the page grows (content loaded
    later), the tag starts a new run with the new size instead of mislabelling the click."""
    context.add_init_script(SPY)
    page = open_tagged(context, site.page("home"))
    page.click("#app button")
    page.evaluate(
        "() => { const d = document.createElement('div'); d.style.height = '5000px';"
        " document.body.appendChild(d); }"
    )
    page.click("#app button")
    hide(page)
    events = site.wait_for(lambda events: len(of_type(events, "click")) >= 2)
    first, second = of_type(events, "click")
    assert second["dh"] >= first["dh"] + 5000
    assert (first["pid"], first["vw"]) == (second["pid"], second["vw"])
    bodies = [json.loads(body) for how, _url, body, *_ in calls(page) if how == "beacon"]
    sizes = [run["dh"] for body in bodies for run in body["runs"]]
    assert len(sizes) >= 2 and sizes[-1] == second["dh"]


def test_queued_events_are_sent_within_five_seconds(site: TagSite, context: BrowserContext) -> None:
    start = time.monotonic()
    open_tagged(context, site.page("home"))
    site.wait_for(lambda events: len(events) >= 1, timeout=15)
    assert time.monotonic() - start >= 4.5


@pytest.mark.parametrize(
    "refuse",
    [
        "Navigator.prototype.sendBeacon = () => false;",
        "delete Navigator.prototype.sendBeacon;",
    ],
)
def test_fetch_without_credentials_when_beacon_is_unavailable(
    site: TagSite, context: BrowserContext, refuse: str
) -> None:
    context.add_init_script(SPY)
    context.add_init_script(refuse)
    # A cookie the browser would send to the collector if the tag let it.
    cookie = {"name": "ambient", "value": "1", "url": site.tag_origin}
    context.add_cookies([{**cookie, "sameSite": "None", "secure": True}])
    page = open_tagged(context, site.page("home"))
    hide(page)

    site.wait_for(lambda events: len(events) >= 2)
    init = {"method": "POST", "keepalive": True, "credentials": "omit"}
    assert calls(page)
    for how, url, _body, options in calls(page):
        assert (how, url, options) == ("fetch", f"{site.tag_origin}/collect", init)
    for request in site.posts():
        assert request.headers["sec-fetch-mode"] == "cors"
        assert request.headers["content-type"] == "text/plain"
        assert "cookie" not in request.headers
    assert [r for r in site.received if r.method == "OPTIONS"] == []


@pytest.mark.parametrize(
    "signal",
    [
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});",
        "window.doNotTrack = '1';",
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});",
    ],
    ids=["navigator.doNotTrack", "window.doNotTrack", "globalPrivacyControl"],
)
def test_privacy_signals_send_and_store_nothing(
    site: TagSite, context: BrowserContext, signal: str
) -> None:
    context.add_init_script(SPY)
    context.add_init_script(signal)
    page = open_tagged(context, site.page("home"))
    page.evaluate("heliograph.consent(true)")
    page.click("#app button")
    hide(page)

    assert calls(page) == []
    assert page.evaluate(STORED) == {"local": {}, "session": 0, "cookie": ""}
    page.goto(site.plain())
    assert site.received == []


def test_privacy_signal_removes_identifiers_from_an_earlier_visit(
    site: TagSite, context: BrowserContext
) -> None:
    page = open_tagged(context, site.page("home"))
    assert set(page.evaluate(STORED)["local"]) == {"hg_v", "hg_s"}
    page.add_init_script("window.doNotTrack = '1';")
    page.reload()
    page.wait_for_function("window.heliograph")
    assert page.evaluate(STORED)["local"] == {}


def test_consent_required_waits_for_consent_and_withdrawal_erases(
    site: TagSite, context: BrowserContext
) -> None:
    context.add_init_script(SPY)
    page = open_tagged(context, site.page("home", 'data-consent="required"'))
    page.click("#app button")
    hide(page)
    assert calls(page) == []
    assert page.evaluate(STORED)["local"] == {}

    page.evaluate("heliograph.consent(true)")
    assert set(page.evaluate(STORED)["local"]) == {"hg_v", "hg_s"}
    page.click("#app button")
    hide(page)
    events = site.wait_for(lambda events: len(events) >= 3)
    assert [e["type"] for e in events] == ["pageview", "click", "scroll"]

    # A click queued, then dropped by the withdrawal (one task, so no timer flushes it between).
    page.evaluate("document.querySelector('#app button').click(); heliograph.consent(false)")
    assert page.evaluate(STORED)["local"] == {}
    sent = len(calls(page))
    page.click("#app button")
    page.evaluate("window.scrollTo(0, 2000)")
    hide(page)
    assert len(calls(page)) == sent
    assert page.evaluate(STORED)["local"] == {}

    # Consent given again starts afresh: nothing from before the withdrawal comes back.
    page.evaluate("heliograph.consent(true)")
    hide(page)
    events = site.wait_for(lambda events: len(events) >= 5)
    assert [e["type"] for e in events[3:]] == ["pageview", "scroll"]
    assert events[3]["vid"] != events[0]["vid"]


@pytest.mark.parametrize(
    ("extra", "init"),
    [
        ("data-cookieless", ""),
        (
            "",
            "Object.defineProperty(window, 'localStorage',"
            " {get() { throw new DOMException('blocked', 'SecurityError'); }});",
        ),
    ],
    ids=["data-cookieless", "storage-blocked"],
)
def test_cookieless_mode_stores_nothing_on_the_device(
    site: TagSite, context: BrowserContext, extra: str, init: str
) -> None:
    context.add_init_script(init)
    url = site.page("home", extra)
    page = open_tagged(context, url)
    page.click("#app button")
    hide(page)
    events = site.wait_for(lambda events: len(events) >= 3)
    page.reload()
    page.wait_for_function("window.heliograph && document.readyState === 'complete'")
    hide(page)
    events = site.wait_for(lambda events: len(events) >= 5)

    assert {e["vid"] for e in events} == {""}
    assert len({e["sid"] for e in events}) == 2  # one in-memory session per page load
    assert context.cookies() == []
    if not init:
        assert page.evaluate(STORED) == {"local": {}, "session": 0, "cookie": ""}


def test_typed_secrets_and_page_text_never_leave_the_page(
    site: TagSite, context: BrowserContext
) -> None:
    page = open_tagged(context, site.page("home"))
    page.click("#pw")
    page.keyboard.type("hunter2-TYPEDSECRET")
    page.click("label[for=pw]")
    page.fill("textarea", "TEXTAREASECRET")
    page.click("textarea")
    page.select_option("select", index=1)
    page.click("select")
    page.keyboard.press("Escape")
    page.click("#app button")
    hide(page)

    events = site.wait_for(lambda events: len(of_type(events, "click")) >= 5)
    sels = [e["sel"] for e in of_type(events, "click")]
    assert "#pw" in sels
    assert "html > body > form.f > textarea.notes" in sels
    everything = "".join(r.body for r in site.received) + json.dumps(page.evaluate(STORED))
    assert "SECRET" not in everything.upper()
    assert "hunter2" not in everything


def test_without_a_site_key_the_tag_does_nothing(site: TagSite, context: BrowserContext) -> None:
    context.add_init_script(SPY)
    page = open_tagged(context, site.page("home", key=""))
    page.evaluate("heliograph.consent(true)")
    page.click("#app button")
    hide(page)
    assert calls(page) == []
    assert page.evaluate(STORED) == {"local": {}, "session": 0, "cookie": ""}


def test_a_batch_ends_when_the_visitor_id_changes(site: TagSite, context: BrowserContext) -> None:
    """Ids are stated once per batch, so events of another visitor start a new one: here the
    storage fails mid-page and the tag carries on cookieless."""
    context.add_init_script(SPY)
    page = open_tagged(context, site.page("home"))
    page.evaluate(
        """() => {
        const button = document.querySelector('#app button');
        button.click();  // queued under the stored visitor id
        Storage.prototype.setItem = () => { throw new DOMException('full', 'QuotaExceededError'); };
        button.click();  // the session write fails: no visitor id from here on
    }"""
    )
    hide(page)
    site.wait_for(lambda events: len(events) >= 3)
    bodies = [json.loads(body) for how, _url, body, *_ in calls(page) if how == "beacon"]
    assert len(bodies) == 2
    first, second = bodies
    assert first["vid"] != "" and second["vid"] == ""
    assert [kind for run in first["runs"] for kind in run["type"]] == ["pageview", "click"]
    assert next(kind for run in second["runs"] for kind in run["type"]) == "click"
    assert first["sid"] == second["sid"]  # the same session, now kept in memory
