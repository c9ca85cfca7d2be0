"""Dashboards render the store's numbers for the tenant's site, in the tenant's time zone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from tests.web.factories import DAY, DAY_QUERY, Visit, write_visits
from tests.web.members import Members, signed_in

PAGES = ("overview", "pages", "sources", "devices", "heatmap", "scroll")


def kpis(html: str) -> dict[str, str]:
    """Return the headline numbers of an overview page by label."""
    pairs = re.findall(
        r'<div class="kpi-label">([^<]+)</div>\s*<div class="kpi-value">([^<]+)</div>', html
    )
    return dict(pairs)


@pytest.fixture
def traffic(members: Members) -> Members:
    """A known day of traffic on A's site, a quieter day before it, and noise on B's site."""
    hour = DAY + timedelta(hours=10)
    visits = [
        Visit(
            "/pricing",
            at=hour,
            visitor=f"v{i}",
            session=f"s{i}",
            depth=40,
            referrer="https://news.example/item",
            browser="Firefox",
            clicks=(("main > button.buy", 600, 1500), ("header > a.cta", 1100, 30)),
        )
        for i in range(5)
    ]
    visits += [
        Visit("/", at=hour, visitor="v0", session="s9", browser="Chrome", depth=100),
        Visit(
            "/docs",
            at=hour + timedelta(minutes=2),
            visitor="v0",
            session="s9",
            browser="Chrome",
            clicks=(("main > button.buy", 610, 1490),),
        ),
    ]
    before = [Visit("/pricing", at=hour - timedelta(days=1), visitor="old", session="old")] * 2
    write_visits(members.site_a, *visits, *before)
    write_visits(members.site_b, Visit("/b-only", at=hour, visitor="vb", session="sb"))
    return members


def get(client: Client, members: Members, page: str, **params: str) -> str:
    response = client.get(f"/sites/{members.site_a.pk}/{page}/", {**DAY_QUERY, **params})
    assert response.status_code == 200
    return response.content.decode()


def test_the_overview_shows_the_days_numbers(traffic: Members) -> None:
    html = get(signed_in(traffic.viewer), traffic, "overview")
    assert kpis(html) == {
        "Page views": "7",
        "Visitors": "5",
        "Sessions": "6",
        "Bounce rate": "83%",  # five of six sessions saw one page
        "Avg. scroll depth": "43%",  # (5 * 40 + 100 + 0) / 7
    }
    assert "+250%" in html  # 7 page views against 2 the day before
    assert '<svg viewBox="0 0 960 300" class="chart-svg"' in html
    assert "b-only" not in html


def test_the_overview_lists_top_pages_and_sources(traffic: Members) -> None:
    html = get(signed_in(traffic.viewer), traffic, "overview")
    assert re.search(r"/pricing</a></span></td>\s*<td class=\"num\">5</td>", html)
    assert "news.example" in html
    assert "(direct)" in html


def test_the_pages_dashboard_has_top_entry_and_exit_pages(traffic: Members) -> None:
    html = get(signed_in(traffic.analyst), traffic, "pages")
    assert html.count("/pricing") >= 3
    assert "/docs" in html  # the exit page of the two-page session
    assert "Entry pages" in html
    assert "Exit pages" in html


def test_sources_and_devices(traffic: Members) -> None:
    client = signed_in(traffic.viewer)
    sources = get(client, traffic, "sources")
    assert re.search(r"news\.example</span></td>\s*<td class=\"num\">5</td>", sources)
    devices = get(client, traffic, "devices")
    assert "Firefox" in devices
    assert "Chrome" in devices
    assert "Linux" in devices


def test_the_click_map_of_a_page(traffic: Members) -> None:
    html = get(signed_in(traffic.viewer), traffic, "heatmap", path="/pricing")
    assert "<code>/pricing</code>" in html
    assert "10 clicks" in html
    assert re.search(r"main &gt; button\.buy</span></td>\s*<td class=\"num\">5</td>", html)
    assert 'class="heatmap-svg"' in html
    assert "1,280 \u00d7 3,000 px" in html


def test_the_click_map_defaults_to_the_top_page(traffic: Members) -> None:
    html = get(signed_in(traffic.viewer), traffic, "heatmap")
    assert "<code>/pricing</code>" in html
    assert '<option value="/docs">' in html


def test_the_scroll_map_of_a_page(traffic: Members) -> None:
    html = get(signed_in(traffic.viewer), traffic, "scroll", path="/pricing")
    assert "5 page views" in html
    assert "100% · 5 views" in html  # every view reached 40%
    assert "0% · 0 views" in html  # none reached 50%
    assert 'class="scroll-svg"' in html


def test_empty_periods_say_so(members: Members) -> None:
    client = signed_in(members.viewer)
    assert "No page views in this period" in get(client, members, "overview")
    assert "No clicks on this page" in get(client, members, "heatmap")
    assert "No page views of this page" in get(client, members, "scroll")


@pytest.mark.parametrize("preset", ["today", "7d", "30d"])
@pytest.mark.parametrize("page", PAGES)
def test_every_dashboard_answers_every_preset(members: Members, page: str, preset: str) -> None:
    client = signed_in(members.viewer)
    response = client.get(f"/sites/{members.site_a.pk}/{page}/", {"range": preset})
    assert response.status_code == 200
    assert f'href="?range={preset}' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "custom", "from": "2024-03-12"}, "Enter both dates"),
        ({"range": "custom", "from": "2024-03-12", "to": "2024-03-01"}, "after the last"),
        ({"range": "custom", "from": "2020-01-01", "to": "2024-01-01"}, "at most 366 days"),
        ({"range": "custom", "from": "0001-01-01", "to": "0001-01-02"}, "between 1970"),
        ({"range": "forever"}, "Unknown range"),
    ],
)
def test_a_bad_range_falls_back_to_seven_days(
    members: Members, params: dict[str, str], message: str
) -> None:
    response = signed_in(members.viewer).get(f"/sites/{members.site_a.pk}/overview/", params)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_days_are_the_tenants_days(members: Members) -> None:
    tenant = members.site_a.tenant
    tenant.time_zone = "Pacific/Auckland"  # UTC+13 in March
    tenant.save(update_fields=["time_zone"])
    write_visits(members.site_a, Visit("/late", at=DAY + timedelta(hours=12, minutes=30)))
    client = signed_in(members.viewer)
    same_utc_day = get(client, members, "overview")
    next_local_day = get(client, members, "overview", **{"from": "2024-03-13", "to": "2024-03-13"})
    assert kpis(same_utc_day)["Page views"] == "0"
    assert kpis(next_local_day)["Page views"] == "1"


def test_store_text_is_escaped_everywhere(members: Members) -> None:
    nasty = "/<script>alert(1)</script>"
    write_visits(
        members.site_a,
        Visit(
            nasty,
            referrer="https://x.example/<b>",
            clicks=(("<img src=x onerror=alert(1)>", 5, 5),),
        ),
    )
    client = signed_in(members.viewer)
    for page in PAGES:
        html = get(client, members, page, path=nasty)
        assert "<script>alert" not in html
        assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in get(client, members, "heatmap", path=nasty)
