"""Every page works under a strict CSP: headers, no inline code, nothing from another origin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from heliograph.web.dashboards.assets import STATIC_ROOT, asset_url
from tests.web.factories import DAY, Visit, write_visits
from tests.web.members import Members, signed_in

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
EXTERNAL = re.compile(
    r"""\b(?:src|href|action|xlink:href|srcset|poster)\s*=\s*["']?\s*(?:https?:)?//""", re.I
)
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.I)


def app_pages(members: Members) -> dict[str, str]:
    """Every page of the app as an owner sees it, with data in the maps."""
    site = members.site_a.pk
    query = "?range=custom&from=2024-03-12&to=2024-03-12"
    pages = {
        "sites": "/sites/",
        "new site": "/sites/new/",
        "site": f"/sites/{site}/",
        "rotated": f"/sites/{site}/?rotated=1",
    }
    for name in ("overview", "pages", "sources", "devices", "heatmap", "scroll"):
        pages[name] = f"/sites/{site}/{name}/{query}&path=/p"
    return pages


@pytest.fixture
def rendered(members: Members) -> dict[str, tuple[int, str, dict[str, str]]]:
    """Status, HTML and headers of every page, plus sign-in, not-found and forbidden pages."""
    write_visits(
        members.site_a,
        Visit("/p", at=DAY + timedelta(hours=8), depth=70, clicks=(("a", 10, 10),)),
    )
    owner, viewer, anonymous = signed_in(members.owner), signed_in(members.viewer), Client()
    found = {name: owner.get(url) for name, url in app_pages(members).items()}
    found["sign-in"] = anonymous.get("/sign-in/")
    found["sign-in failed"] = anonymous.post("/sign-in/", {"email": "x@y.z", "password": "p"})
    found["not found"] = owner.get("/sites/987654/")
    found["forbidden"] = viewer.get("/sites/new/")
    found["redirect"] = anonymous.get("/")
    return {name: (r.status_code, r.content.decode(), dict(r.headers)) for name, r in found.items()}


def test_every_response_carries_the_policy(
    rendered: dict[str, tuple[int, str, dict[str, str]]],
) -> None:
    for name, (_, _, headers) in rendered.items():
        assert headers["Content-Security-Policy"] == POLICY, name
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert "unsafe-eval" not in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_every_response_denies_browser_features_and_cross_origin_use(
    rendered: dict[str, tuple[int, str, dict[str, str]]],
) -> None:
    for name, (_, _, headers) in rendered.items():
        policy = headers["Permissions-Policy"]
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert f"{feature}=()" in policy, (name, feature)
        assert "publickey-credentials" not in policy  # passkeys need WebAuthn
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", name
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin", name
        assert headers["Referrer-Policy"] == "same-origin", name
        assert "Strict-Transport-Security" not in headers, name  # plain HTTP here


def test_pages_have_no_inline_code_and_load_nothing_from_elsewhere(
    rendered: dict[str, tuple[int, str, dict[str, str]]],
) -> None:
    for name, (status, html, _) in rendered.items():
        if status == 302:
            continue
        assert "<script" not in html.lower(), name
        assert not INLINE_HANDLER.search(html), name
        assert not STYLE_ATTRIBUTE.search(html), name
        assert "<style" not in html.lower(), name
        assert "javascript:" not in html.lower(), name
        assert not EXTERNAL.search(html), (name, EXTERNAL.search(html))


def test_the_snippet_is_text_not_markup(
    rendered: dict[str, tuple[int, str, dict[str, str]]],
) -> None:
    html = rendered["site"][1]
    assert "&lt;script src=&quot;http://" in html


def test_app_pages_are_not_cached(rendered: dict[str, tuple[int, str, dict[str, str]]]) -> None:
    for name in ("sites", "overview", "heatmap", "site"):
        assert "no-store" in rendered[name][2]["Cache-Control"], name
        assert "private" in rendered[name][2]["Cache-Control"], name


def test_the_stylesheet_is_self_contained() -> None:
    css = (STATIC_ROOT / "heliograph" / "app.css").read_text()
    assert "http" not in css
    assert "@import" not in css
    assert "url(" not in css


def test_static_files_are_served_with_cache_headers(db: None) -> None:
    client = Client()
    versioned = client.get(asset_url("heliograph/app.css"))
    assert versioned.status_code == 200
    assert versioned["Content-Type"].startswith("text/css")
    assert versioned["Cache-Control"] == "public, max-age=31536000, immutable"
    assert versioned["Content-Security-Policy"] == POLICY
    assert b"--accent" in versioned.content
    again = client.get(asset_url("heliograph/app.css"), HTTP_IF_NONE_MATCH=versioned["ETag"])
    assert again.status_code == 304
    plain = client.get("/static/heliograph/app.css")
    plain.close()
    assert plain["Cache-Control"] == "public, max-age=300"
    icon = client.get("/static/heliograph/favicon.svg")
    icon.close()
    assert icon["Content-Type"] == "image/svg+xml"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../settings.py",
        "/static/%2e%2e/settings.py",
        "/static/heliograph/../../settings.py",
        "/static/heliograph/%2e%2e/%2e%2e/settings.py",
        "/static/%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/heliograph/",
        "/static/heliograph",
        "/static/nothing.css",
    ],
)
def test_static_files_cannot_leave_their_directory(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 404
    assert b"SECRET_KEY" not in response.content
    assert b"root:" not in response.content


def test_static_files_refuse_writes(db: None) -> None:
    assert Client().post("/static/heliograph/app.css").status_code == 405
