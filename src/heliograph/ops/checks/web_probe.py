"""Print, as JSON, the Django settings web/settings.py computes for this process's environment.

`heliograph check` runs this in a child process whose environment is the checked
configuration, so the checks judge what the web app would really do, not a copy of its rules.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from heliograph.core.config import ENV_PREFIX
from heliograph.ops.checks.model import WebSettings

SETTINGS_MODULE = "heliograph.web.settings"
NAMES = (
    "DEBUG",
    "ALLOWED_HOSTS",
    "MIDDLEWARE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_SAMESITE",
)
TIMEOUT_SECONDS = 60


def probe_web_settings(env: Mapping[str, str]) -> WebSettings:
    """Evaluate web/settings.py under ``env`` in a child process; raise RuntimeError if it fails."""
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k != "DATABASE_URL"
    }
    child_env.update(env)
    try:
        completed = subprocess.run(  # noqa: S603  our own interpreter and module, no shell
            [sys.executable, "-m", __name__],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{SETTINGS_MODULE} took over {TIMEOUT_SECONDS} s to load") from None
    try:
        answer = json.loads(completed.stdout)
    except ValueError:
        detail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{SETTINGS_MODULE} could not be evaluated: {detail[0]}") from None
    if not answer["ok"]:
        raise RuntimeError(answer["error"])
    return web_settings(answer["settings"])


def web_settings(values: Mapping[str, Any]) -> WebSettings:
    """Build WebSettings from the probe's JSON."""
    header = values["SECURE_PROXY_SSL_HEADER"]
    return WebSettings(
        debug=bool(values["DEBUG"]),
        allowed_hosts=tuple(values["ALLOWED_HOSTS"]),
        middleware=tuple(values["MIDDLEWARE"]),
        hsts_seconds=int(values["SECURE_HSTS_SECONDS"] or 0),
        hsts_include_subdomains=bool(values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]),
        hsts_preload=bool(values["SECURE_HSTS_PRELOAD"]),
        proxy_ssl_header=(str(header[0]), str(header[1])) if header else None,
        session_cookie_secure=bool(values["SESSION_COOKIE_SECURE"]),
        session_cookie_httponly=bool(values["SESSION_COOKIE_HTTPONLY"]),
        session_cookie_samesite=values["SESSION_COOKIE_SAMESITE"] or None,
        csrf_cookie_secure=bool(values["CSRF_COOKIE_SECURE"]),
        csrf_cookie_samesite=values["CSRF_COOKIE_SAMESITE"] or None,
    )


def _evaluate() -> dict[str, Any]:
    from django.conf import global_settings

    from heliograph.core.errors import ConfigError

    try:
        module = importlib.import_module(SETTINGS_MODULE)
    except ConfigError as error:
        return {"ok": False, "error": f"configuration error: {error}"}
    values = {name: getattr(module, name, getattr(global_settings, name)) for name in NAMES}
    return {"ok": True, "settings": values}


if __name__ == "__main__":
    json.dump(_evaluate(), sys.stdout, default=list)
