"""Dashboard reads over the API answer the numbers written to the store, for the tenant's site."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from heliograph.store import api as store
from tests.web.api.helpers import bearer, issue
from tests.web.factories import DAY, Visit, write_visits
from tests.web.members import Members, signed_in

DAY_RANGE = {"start": "2024-03-12", "end": "2024-03-12", "tz": "UTC"}


@pytest.fixture
def traffic(members: Members) -> Members:
    """A known day of traffic on A's site, a visit the day before, and noise on B's site."""
    hour = DAY + timedelta(hours=10)
    visits = [
        Visit(
            "/pricing", at=hour, visitor=f"v{i}", session=f"s{i}", depth=40,
            referrer="https://news.example/item", browser="Firefox",
            clicks=(("main > button.buy", 600, 1500), ("header > a.cta", 1100, 30)),
        )
        for i in range(5)
    ]
    visits += [
        Visit("/", at=hour, visitor="v0", session="s9", browser="Chrome", depth=100),
        Visit("/docs", at=hour + timedelta(minutes=2), visitor="v0", session="s9",
              browser="Chrome"),
    ]
    before = Visit("/pricing", at=hour - timedelta(days=1), visitor="old", session="old")
    write_visits(members.site_a, *visits, before)
    write_visits(members.site_b, Visit("/b-only", at=hour, visitor="vb", session="sb"))
    return members


def read(client: Client, members: Members, report: str, **params: str) -> Any:
    response = client.get(f"/api/v1/sites/{members.site_a.pk}/{report}", {**DAY_RANGE, **params})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def reader(traffic: Members) -> Client:
    """A client with an analytics token of tenant A."""
    return bearer(issue(traffic.analyst, scopes=["analytics:read"])[1])


def test_the_overview_counts_the_days_page_views(traffic: Members, reader: Client) -> None:
    overview = read(reader, traffic, "overview")
    assert {k: overview[k] for k in ("pageviews", "visitors", "sessions")} == {
        "pageviews": 7, "visitors": 5, "sessions": 6,
    }
    assert overview["bounce_rate"] == pytest.approx(5 / 6)
    assert overview["avg_scroll_depth"] == pytest.approx((5 * 40 + 100) / 7)
    series = overview["series"]
    assert len(series) == 24  # one day reads hour by hour
    assert series[10] == {"bucket": "2024-03-12T10:00:00Z", "pageviews": 7, "visitors": 5}
    assert sum(point["pageviews"] for point in series) == 7


def test_the_overview_series_follows_the_interval(traffic: Members, reader: Client) -> None:
    overview = read(reader, traffic, "overview", start="2024-03-11", interval="day")
    assert [(p["bucket"], p["pageviews"]) for p in overview["series"]] == [
        ("2024-03-11T00:00:00Z", 1), ("2024-03-12T00:00:00Z", 7),
    ]


def test_pages_entry_and_exit_pages(traffic: Members, reader: Client) -> None:
    def rows(report: str) -> list[tuple[str, int, int]]:
        items = read(reader, traffic, report)["items"]
        return [(i["path"], i["pageviews"], i["visitors"]) for i in items]

    assert rows("pages") == [("/pricing", 5, 5), ("/", 1, 1), ("/docs", 1, 1)]
    assert rows("entry-pages") == [("/pricing", 5, 5), ("/", 1, 1)]
    assert rows("exit-pages") == [("/pricing", 5, 5), ("/docs", 1, 1)]
    assert [i["path"] for i in read(reader, traffic, "pages", limit="1")["items"]] == ["/pricing"]


def test_referrers_and_devices(traffic: Members, reader: Client) -> None:
    referrers = read(reader, traffic, "referrers")["items"]
    assert [(r["referrer_host"], r["visitors"], r["pageviews"]) for r in referrers] == [
        ("news.example", 5, 5), ("(direct)", 1, 2),
    ]
    devices = read(reader, traffic, "devices")
    assert devices["browser"] == [{"name": "Firefox", "visitors": 5},
                                  {"name": "Chrome", "visitors": 1}]
    assert devices["device"] == [{"name": "desktop", "visitors": 5}]


def test_heatmap_and_scroll_of_a_path(traffic: Members, reader: Client) -> None:
    heatmap = read(reader, traffic, "heatmap", path="/pricing")
    assert heatmap["path"] == "/pricing" and heatmap["clicks"] == 10
    assert sorted((b["bx"], b["by"], b["clicks"]) for b in heatmap["buckets"]) == [
        (600, 1500, 5), (1100, 20, 5),
    ]
    assert {s["selector"]: s["clicks"] for s in heatmap["selectors"]} == {
        "main > button.buy": 5, "header > a.cta": 5,
    }
    scroll = read(reader, traffic, "scroll", path="/pricing")
    assert scroll["pageviews"] == 5
    reach = {r["depth"]: r["pageviews"] for r in scroll["reach"]}
    assert (reach[40], reach[50]) == (5, 0)


def test_days_are_local_to_the_tenants_zone_unless_tz_is_given(members: Members) -> None:
    tenant = members.site_a.tenant
    tenant.time_zone = "America/New_York"
    tenant.save(update_fields=["time_zone"])
    # 02:00 UTC on the 13th is still the evening of the 12th in New York.
    write_visits(members.site_a, Visit("/late", at=DAY + timedelta(hours=26)))
    client = signed_in(members.viewer)
    url = f"/api/v1/sites/{members.site_a.pk}/overview"
    in_new_york = client.get(url, {"start": "2024-03-12", "end": "2024-03-12"}).json()
    in_utc = client.get(url, {"start": "2024-03-12", "end": "2024-03-12", "tz": "UTC"}).json()
    assert (in_new_york["pageviews"], in_utc["pageviews"]) == (1, 0)
    assert in_new_york["series"][0]["bucket"] == "2024-03-12T00:00:00-04:00"


@pytest.mark.parametrize(
    ("report", "params", "code"),
    [
        ("overview", {"start": None}, "invalid_parameter"),
        ("overview", {"start": "2024-13-01"}, "invalid_parameter"),
        ("overview", {"start": "2024-03-12T10:00:00Z"}, "invalid_parameter"),
        ("overview", {"start": "2024-03-13"}, "invalid_range"),
        ("overview", {"start": "2023-03-12"}, "invalid_range"),
        ("overview", {"start": "1960-01-01", "end": "1960-01-02"}, "invalid_range"),
        ("overview", {"tz": "Mars/Olympus"}, "invalid_time_zone"),
        ("overview", {"tz": "Etc/Nowhere"}, "invalid_time_zone"),
        ("overview", {"tz": "../../etc/passwd"}, "invalid_parameter"),
        ("overview", {"tz": "x" * 65}, "invalid_parameter"),
        ("overview", {"interval": "week"}, "invalid_parameter"),
        ("pages", {"limit": "0"}, "invalid_parameter"),
        ("pages", {"limit": "1001"}, "invalid_parameter"),
        ("pages", {"limit": "ten"}, "invalid_parameter"),
        ("heatmap", {}, "invalid_parameter"),
        ("heatmap", {"path": "/" * 2049}, "invalid_parameter"),
        ("heatmap", {"path": "/a\u0000"}, "invalid_parameter"),
        ("heatmap", {"path": "/", "bucket_px": "0"}, "invalid_parameter"),
        ("scroll", {"path": ""}, "invalid_parameter"),
    ],
)
def test_bad_parameters_are_400_json(
    members: Members, report: str, params: dict[str, str | None], code: str
) -> None:
    query = {k: v for k, v in {**DAY_RANGE, **params}.items() if v is not None}
    response = signed_in(members.viewer).get(f"/api/v1/sites/{members.site_a.pk}/{report}", query)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message"}


def test_an_unavailable_store_is_503_json(
    members: Members, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise store.StoreError("the event store is not open")

    monkeypatch.setattr(store, "overview", down)
    response = signed_in(members.viewer).get(
        f"/api/v1/sites/{members.site_a.pk}/overview", DAY_RANGE
    )
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"
