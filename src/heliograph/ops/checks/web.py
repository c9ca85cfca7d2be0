"""HG-DJANGO, HG-COOKIE, HG-URL, HG-ADMIN: what the web app sends and where it listens."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from heliograph.ops.checks.model import (
    Check,
    Context,
    Outcome,
    Severity,
    WebSettings,
    failed,
    passed,
    skipped,
    verdict,
)

SAMESITE_OK = ("Lax", "Strict")


def _web(ctx: Context) -> WebSettings | Outcome:
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    if ctx.web is None:
        return failed(f"the web settings could not be evaluated: {ctx.web_error}")
    return ctx.web


def debug_off(ctx: Context) -> Outcome:
    web = _web(ctx)
    if isinstance(web, Outcome):
        return web
    if web.debug:
        return failed("DEBUG is on: error pages show settings, code and request data")
    return passed("DEBUG is off")


def hosts_named(ctx: Context) -> Outcome:
    web = _web(ctx)
    if isinstance(web, Outcome):
        return web
    if "*" in web.allowed_hosts or not web.allowed_hosts:
        return failed(f"ALLOWED_HOSTS is {list(web.allowed_hosts)}: any Host header is believed")
    return passed(f"ALLOWED_HOSTS is {', '.join(web.allowed_hosts)}")


def cookies_secure(ctx: Context) -> Outcome:
    web = _web(ctx)
    if isinstance(web, Outcome):
        return web
    flags = {"SESSION_COOKIE_SECURE": web.session_cookie_secure}
    flags["CSRF_COOKIE_SECURE"] = web.csrf_cookie_secure
    problems = [
        f"{name} is off: the cookie also travels over plain HTTP"
        for name, on in flags.items()
        if not on
    ]
    return verdict(problems, "session and CSRF cookies are Secure")


def session_cookie_httponly(ctx: Context) -> Outcome:
    web = _web(ctx)
    if isinstance(web, Outcome):
        return web
    if not web.session_cookie_httponly:
        return failed("SESSION_COOKIE_HTTPONLY is off: page scripts can read the session id")
    return passed("the session cookie is HttpOnly")


def cookies_samesite(ctx: Context) -> Outcome:
    web = _web(ctx)
    if isinstance(web, Outcome):
        return web
    values = {"SESSION_COOKIE_SAMESITE": web.session_cookie_samesite}
    values["CSRF_COOKIE_SAMESITE"] = web.csrf_cookie_samesite
    problems = [
        f"{name} is {value!r}" for name, value in values.items() if value not in SAMESITE_OK
    ]
    return verdict(problems, "session and CSRF cookies are SameSite=Lax or Strict")


def public_url_https(ctx: Context) -> Outcome:
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    url = ctx.settings.public_url
    if not url:
        return failed(
            f"HELIOGRAPH_PUBLIC_URL is not set: links and the snippet use {ctx.settings.base_url}"
        )
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return failed(f"HELIOGRAPH_PUBLIC_URL is {url}, not an https:// URL")
    return passed(f"the public URL is {url}")


def admin_on_loopback(ctx: Context) -> Outcome:
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    host = ctx.settings.admin_host
    if is_loopback(host):
        return passed(f"the admin listener is on {host}:{ctx.settings.admin_port}")
    return failed(f"the admin listener is on {host or 'every address'}, reachable from outside")


def is_loopback(host: str) -> bool:
    """Say whether ``host`` is a loopback address (names other than localhost are not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


CHECKS = (
    Check(
        "HG-DJANGO-001",
        "DEBUG is off",
        Severity.ERROR,
        "set DEBUG = False in web/settings.py (Heliograph never turns it on)",
        debug_off,
    ),
    Check(
        "HG-DJANGO-002",
        "ALLOWED_HOSTS names the public host",
        Severity.ERROR,
        "set HELIOGRAPH_ENV=production and HELIOGRAPH_PUBLIC_URL: production allows that host only",
        hosts_named,
    ),
    Check(
        "HG-COOKIE-001",
        "session and CSRF cookies are Secure",
        Severity.ERROR,
        "in production, web/settings.py must set SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE",
        cookies_secure,
    ),
    Check(
        "HG-COOKIE-002",
        "the session cookie is HttpOnly",
        Severity.ERROR,
        "keep SESSION_COOKIE_HTTPONLY = True in web/settings.py",
        session_cookie_httponly,
    ),
    Check(
        "HG-COOKIE-003",
        "session and CSRF cookies are SameSite",
        Severity.ERROR,
        "set SESSION_COOKIE_SAMESITE and CSRF_COOKIE_SAMESITE to 'Lax' (or 'Strict')",
        cookies_samesite,
    ),
    Check(
        "HG-URL-001",
        "the public URL is https",
        Severity.ERROR,
        "set HELIOGRAPH_PUBLIC_URL=https://analytics.example.com (the name users and tags use)",
        public_url_https,
    ),
    Check(
        "HG-ADMIN-001",
        "the admin listener is bound to loopback",
        Severity.ERROR,
        "set HELIOGRAPH_ADMIN_HOST=127.0.0.1 and reach it over SSH or a VPN; to expose it on "
        "purpose, add HG-ADMIN-001 to HELIOGRAPH_CHECKS_SILENCED",
        admin_on_loopback,
    ),
)
