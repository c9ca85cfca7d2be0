"""Build the Context the checks read, without writing anything."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from heliograph.core.config import ENV_PREFIX, load_settings
from heliograph.core.errors import ConfigError
from heliograph.ops.checks.model import Context, WebSettings
from heliograph.ops.checks.web_probe import probe_web_settings

# The checks judge the configuration with its secrets stood in: outside production,
# load_settings would otherwise write a new secret key into the data directory (a check must
# not write), and a missing secret file would hide every other finding behind HG-CFG-001.
# HG-SECRET-* judge the real secrets from the raw configuration.
STAND_IN_SECRET = "heliograph-check-stand-in-" + "x" * 40

WebProbe = Callable[[Mapping[str, str]], WebSettings]


def build_context(env: Mapping[str, str], *, probe: WebProbe = probe_web_settings) -> Context:
    """Load ``env`` as the service would, and evaluate web/settings.py under it."""
    production = env.get(ENV_PREFIX + "ENV", "development") == "production"
    settings_error = _load_error(env, production)
    loadable = with_stand_in_secrets(env)
    try:
        settings = load_settings(loadable)
    except ConfigError as error:
        settings, settings_error = None, settings_error or str(error)
    web, web_error = None, ""
    if settings is not None:
        try:
            web = probe(loadable)
        except (RuntimeError, OSError) as error:
            web_error = str(error)
    return Context(
        env=dict(env),
        production=production,
        settings=settings,
        settings_error=settings_error,
        web=web,
        web_error=web_error,
        uid=os.geteuid(),
        now=datetime.now(UTC),
    )


def _load_error(env: Mapping[str, str], production: bool) -> str:
    """Return why ``env`` does not load as the service would load it ('' when it does)."""
    configured = env.get(ENV_PREFIX + "SECRET_KEY") or env.get(ENV_PREFIX + "SECRET_KEY_FILE")
    real = dict(env)
    if not (production or configured):  # the service would generate one: no error, no write
        real[ENV_PREFIX + "SECRET_KEY"] = STAND_IN_SECRET
    try:
        load_settings(real)
    except ConfigError as error:
        return str(error)
    return ""


def with_stand_in_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """Return ``env`` with the Django secret key and a file-held SMTP password stood in."""
    stood_in = {k: v for k, v in env.items() if k != ENV_PREFIX + "SECRET_KEY_FILE"}
    stood_in[ENV_PREFIX + "SECRET_KEY"] = STAND_IN_SECRET
    if stood_in.pop(ENV_PREFIX + "SMTP_PASSWORD_FILE", ""):
        stood_in[ENV_PREFIX + "SMTP_PASSWORD"] = STAND_IN_SECRET
    return stood_in
