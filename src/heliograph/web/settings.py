"""Django settings, derived from the one typed Settings object (core.config)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from heliograph.core.config import load_settings
from heliograph.core.errors import ConfigError
from heliograph.tls.hsts import HSTS_SECONDS

HELIOGRAPH = load_settings()
BASE_DIR = Path(__file__).resolve().parent


def _database(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path) if parts.path else ":memory:",
            "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
        }
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
        }
    raise ConfigError(
        f"DATABASE_URL must start with sqlite:// or postgres://, got {parts.scheme!r}"
    )


SECRET_KEY = HELIOGRAPH.secret_key
DEBUG = False
ALLOWED_HOSTS = (
    ["*"]
    if not HELIOGRAPH.production
    # The public name, and the administrative listener (loopback unless configured otherwise).
    else [urlsplit(HELIOGRAPH.base_url).hostname or "", HELIOGRAPH.admin_host, "localhost"]
)
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The Django admin, mounted only by the administrative listener (heliograph.web.ops).
    "django.contrib.admin.apps.SimpleAdminConfig",
    "heliograph.web.tenants",
    "heliograph.web.sites",
    "heliograph.web.audit",
    "heliograph.web.accounts",
    "heliograph.web.dashboards",
    "heliograph.web.api",
    "heliograph.web.mailserver",
    "heliograph.web.webhooks",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "heliograph.web.ops.listener.ListenerUrlconfMiddleware",  # before anything resolves URLs
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "heliograph.web.accounts.middleware.ContentSecurityPolicyMiddleware",
]
ROOT_URLCONF = "heliograph.web.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                # The admin's templates need these two.
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": _database(HELIOGRAPH.metadata_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
LOGIN_URL = "/sign-in/"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Served over TLS (our own, or a proxy's for an https public URL), or in production: cookies
# travel over HTTPS only. A browser still sends them to http://localhost (a secure context).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = (
    HELIOGRAPH.tls.enabled or HELIOGRAPH.production or HELIOGRAPH.base_url.startswith("https:")
)
# HSTS on responses to HTTPS requests only (SecurityMiddleware checks request.is_secure());
# heliograph.tls.hsts adds the same header to the collector's answers.
SECURE_HSTS_SECONDS = HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = HELIOGRAPH.tls.hsts_preload
# SECURE_PROXY_SSL_HEADER stays unset on purpose: Django would believe X-Forwarded-Proto from
# any peer. uvicorn rewrites the ASGI scope's scheme from HELIOGRAPH_TRUSTED_PROXIES only, and
# request.is_secure() reads that scheme.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Invitation e-mail (accounts.mail). HELIOGRAPH_SMTP_* (EMAIL_HOST and the rest) win when set;
# otherwise the backend uses the SMTP server stored by `heliograph mail set`; neither: e-mail off.
EMAIL_BACKEND = "heliograph.web.mailserver.backend.MailServerBackend"
EMAIL_HOST = HELIOGRAPH.smtp.host
EMAIL_PORT = HELIOGRAPH.smtp.port
EMAIL_HOST_USER = HELIOGRAPH.smtp.user
EMAIL_HOST_PASSWORD = HELIOGRAPH.smtp.password
EMAIL_USE_TLS = HELIOGRAPH.smtp.starttls
EMAIL_USE_SSL = HELIOGRAPH.smtp.ssl
EMAIL_TIMEOUT = 10  # seconds: a hung mail server must not hold a web worker for long
DEFAULT_FROM_EMAIL = HELIOGRAPH.smtp.mail_from or "heliograph@localhost"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"heliograph": {"handlers": ["console"], "level": "INFO"}},
}
