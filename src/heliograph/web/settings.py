"""Django settings, derived from the one typed Settings object (core.config)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from heliograph.core.config import load_settings
from heliograph.core.errors import ConfigError

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
    ["*"] if not HELIOGRAPH.production else [urlsplit(HELIOGRAPH.base_url).hostname or ""]
)
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "heliograph.web.tenants",
    "heliograph.web.sites",
    "heliograph.web.audit",
    "heliograph.web.accounts",
    "heliograph.web.dashboards",
    "heliograph.web.api",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "heliograph.web.accounts.middleware.ContentSecurityPolicyMiddleware",
]
ROOT_URLCONF = "heliograph.web.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
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
# Invitation e-mail (accounts.mail); an empty EMAIL_HOST means e-mail is off.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
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
