"""Settings declared once, typed, read from the environment, failing fast with what to set."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from heliograph.core.errors import ConfigError

StoreBackend = Literal["chdb", "clickhouse"]
ENV_PREFIX = "HELIOGRAPH_"


@dataclass(frozen=True, slots=True)
class CollectorLimits:
    """Size and rate limits applied to every beacon before it touches the spool."""

    max_body_bytes: int = 64 * 1024
    site_rate_per_s: float = 2000.0
    site_burst: int = 10000
    client_rate_per_s: float = 20.0
    client_burst: int = 200


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where invitation e-mail goes; an empty host turns e-mail off."""

    host: str = ""
    port: int = 587
    user: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = True
    ssl: bool = False
    mail_from: str = ""


TlsProfile = Literal["intermediate", "modern"]


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS that ``heliograph serve`` terminates itself; no certificate means plain HTTP (behind
    a TLS-terminating proxy, or on a developer's machine)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    profile: TlsProfile = "intermediate"  # Mozilla server-side TLS profile
    hsts_preload: bool = False
    # Addresses of TLS-terminating proxies whose X-Forwarded-For/-Proto headers are believed.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Heliograph reads from its environment, validated once at start-up."""

    data_dir: Path
    store_backend: StoreBackend = "chdb"
    clickhouse_url: str = ""
    database_url: str = ""
    secret_key: str = ""
    production: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    kek_file: Path | None = None  # key encryption keys; None: HELIOGRAPH_KEK or the default file
    kek_env: str = ""  # base64 of a 32-byte key encryption key (alternative to a file)
    spool_segment_bytes: int = 32 * 1024 * 1024
    spool_segment_seconds: float = 1.0
    loader_interval_seconds: float = 0.5
    limits: CollectorLimits = field(default_factory=CollectorLimits)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    # The administrative listener (Django admin, metrics, ops API): never the public one.
    admin_host: str = "127.0.0.1"
    admin_port: int = 8001

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "events"

    @property
    def keyring_path(self) -> Path:
        return self.data_dir / "keys" / "keyring.json"

    @property
    def default_kek_file(self) -> Path:
        return self.data_dir / "keys" / "kek.json"

    @property
    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'heliograph.sqlite3'}"

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls.enabled else "http"
        return self.public_url or f"{scheme}://{self.host}:{self.port}"


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{ENV_PREFIX}{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{ENV_PREFIX}{name} must be positive, got {raw!r}")
    return value


def read_secret_file(path: Path) -> str:
    """Return the secret in ``path`` minus one trailing newline; only its owner may read it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"secret file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret file {path} must not be readable by group or others (chmod 600 {path})"
        )
    try:
        value = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read secret file {path}: {error}") from None
    if not value:
        raise ConfigError(f"secret file {path} is empty")
    return value


def secret_setting(env: Mapping[str, str], name: str) -> str:
    """Return secret ``name`` given inline (HELIOGRAPH_X) or, better, in a file (..._FILE)."""
    inline = env.get(ENV_PREFIX + name, "")
    file = env.get(ENV_PREFIX + name + "_FILE", "")
    if inline and file:
        raise ConfigError(f"set only one of {ENV_PREFIX}{name} and {ENV_PREFIX}{name}_FILE")
    return read_secret_file(Path(file)) if file else inline


def _secret_key(env: Mapping[str, str], data_dir: Path, production: bool) -> str:
    """Return the configured secret; on embedded defaults, create one in the data directory."""
    configured = secret_setting(env, "SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be at least 32 characters")
        return configured
    if production:
        raise ConfigError(
            f"{ENV_PREFIX}SECRET_KEY is required in production: set {ENV_PREFIX}SECRET_KEY_FILE to "
            "a 0600 file holding 50 random characters (or the variable itself)"
        )
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ``env`` (default: the process environment) or raise ConfigError."""
    env = os.environ if env is None else env
    production = env.get(ENV_PREFIX + "ENV", "development") == "production"
    data_dir = Path(env.get(ENV_PREFIX + "DATA_DIR", "heliograph-data")).resolve()
    backend = env.get(ENV_PREFIX + "STORE", "chdb")
    if backend not in ("chdb", "clickhouse"):
        raise ConfigError(f"{ENV_PREFIX}STORE must be 'chdb' or 'clickhouse', got {backend!r}")
    clickhouse_url = env.get(ENV_PREFIX + "CLICKHOUSE_URL", "")
    if backend == "clickhouse" and not clickhouse_url:
        raise ConfigError(f"{ENV_PREFIX}STORE=clickhouse needs {ENV_PREFIX}CLICKHOUSE_URL")
    port = _port(env, "PORT", 8000)
    return Settings(
        data_dir=data_dir,
        store_backend=backend,  # type: ignore[arg-type]  # checked just above
        clickhouse_url=clickhouse_url,
        database_url=env.get("DATABASE_URL", ""),
        secret_key=_secret_key(env, data_dir, production),
        production=production,
        host=env.get(ENV_PREFIX + "HOST", "127.0.0.1"),
        port=port,
        public_url=env.get(ENV_PREFIX + "PUBLIC_URL", "").rstrip("/"),
        spool_segment_bytes=_int(env, "SPOOL_SEGMENT_BYTES", 32 * 1024 * 1024, minimum=4096),
        spool_segment_seconds=_float(env, "SPOOL_SEGMENT_SECONDS", 1.0),
        loader_interval_seconds=_float(env, "LOADER_INTERVAL_SECONDS", 0.5),
        limits=_limits(env),
        kek_file=Path(env[ENV_PREFIX + "KEK_FILE"]) if env.get(ENV_PREFIX + "KEK_FILE") else None,
        kek_env=_kek_env(env, production),
        smtp=_smtp(
            env, production=production, has_public_url=bool(env.get(ENV_PREFIX + "PUBLIC_URL"))
        ),
        tls=_tls(env),
        admin_host=env.get(ENV_PREFIX + "ADMIN_HOST", "127.0.0.1"),
        admin_port=_port(env, "ADMIN_PORT", 8001),
    )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int(env, name, default, minimum=1)
    if port > 65535:
        raise ConfigError(f"{ENV_PREFIX}{name} must be at most 65535, got {port}")
    return port


def _tls(env: Mapping[str, str]) -> TlsSettings:
    cert = env.get(ENV_PREFIX + "TLS_CERT_FILE", "")
    key = env.get(ENV_PREFIX + "TLS_KEY_FILE", "")
    if bool(cert) != bool(key):
        raise ConfigError(
            f"set both {ENV_PREFIX}TLS_CERT_FILE and {ENV_PREFIX}TLS_KEY_FILE, or neither"
        )
    profile = env.get(ENV_PREFIX + "TLS_PROFILE", "intermediate")
    if profile not in ("intermediate", "modern"):
        raise ConfigError(
            f"{ENV_PREFIX}TLS_PROFILE must be 'intermediate' or 'modern', got {profile!r}"
        )
    proxies = tuple(
        p.strip() for p in env.get(ENV_PREFIX + "TRUSTED_PROXIES", "").split(",") if p.strip()
    )
    return TlsSettings(
        cert_file=Path(cert) if cert else None,
        key_file=Path(key) if key else None,
        profile=profile,  # type: ignore[arg-type]  # checked just above
        hsts_preload=_bool(env, "HSTS_PRELOAD", False),
        trusted_proxies=proxies,
    )


def _kek_env(env: Mapping[str, str], production: bool) -> str:
    value = env.get(ENV_PREFIX + "KEK", "")
    if production and not value and not env.get(ENV_PREFIX + "KEK_FILE"):
        raise ConfigError(
            f"production needs a key encryption key: set {ENV_PREFIX}KEK_FILE to a 0600 key file "
            f"(heliograph keys init --file PATH) or {ENV_PREFIX}KEK to 32 bytes in base64"
        )
    return value


def _limits(env: Mapping[str, str]) -> CollectorLimits:
    default = CollectorLimits()
    return CollectorLimits(
        max_body_bytes=_int(env, "MAX_BODY_BYTES", default.max_body_bytes, minimum=1024),
        site_rate_per_s=_float(env, "SITE_RATE", default.site_rate_per_s),
        site_burst=_int(env, "SITE_BURST", default.site_burst, minimum=1),
        client_rate_per_s=_float(env, "CLIENT_RATE", default.client_rate_per_s),
        client_burst=_int(env, "CLIENT_BURST", default.client_burst, minimum=1),
    )


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(ENV_PREFIX + name, "").strip().lower()
    if raw == "":
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{ENV_PREFIX}{name} must be true or false, got {raw!r}")
    return raw in ("true", "1", "yes")


def _smtp(env: Mapping[str, str], *, production: bool, has_public_url: bool) -> SmtpSettings:
    host = env.get(ENV_PREFIX + "SMTP_HOST", "").strip()
    if not host:
        return SmtpSettings()
    ssl = _bool(env, "SMTP_SSL", False)
    smtp = SmtpSettings(
        host=host,
        port=_int(env, "SMTP_PORT", 465 if ssl else 587, minimum=1),
        user=env.get(ENV_PREFIX + "SMTP_USER", ""),
        password=secret_setting(env, "SMTP_PASSWORD"),
        starttls=_bool(env, "SMTP_STARTTLS", not ssl),
        ssl=ssl,
        mail_from=env.get(ENV_PREFIX + "MAIL_FROM", "").strip(),
    )
    _check_smtp(smtp, production)
    if production and not has_public_url:
        raise ConfigError(
            f"e-mail carries links back to Heliograph: set {ENV_PREFIX}PUBLIC_URL, "
            "e.g. https://analytics.example.com"
        )
    return smtp


def _check_smtp(smtp: SmtpSettings, production: bool) -> None:
    if smtp.port > 65535:
        raise ConfigError(f"{ENV_PREFIX}SMTP_PORT must be at most 65535, got {smtp.port}")
    if smtp.starttls and smtp.ssl:
        raise ConfigError(
            f"set only one of {ENV_PREFIX}SMTP_STARTTLS (port 587) and {ENV_PREFIX}SMTP_SSL (465)"
        )
    if "@" not in smtp.mail_from or any(c in smtp.mail_from for c in "\r\n"):
        raise ConfigError(
            f"{ENV_PREFIX}SMTP_HOST is set: set {ENV_PREFIX}MAIL_FROM to the sender address, "
            "e.g. heliograph@example.com"
        )
    if bool(smtp.user) != bool(smtp.password):
        raise ConfigError(
            f"set both {ENV_PREFIX}SMTP_USER and {ENV_PREFIX}SMTP_PASSWORD, or neither"
        )
    # ASVS 9.2.2: outbound connections use TLS; no SMTP password in clear text in production.
    if production and smtp.user and not (smtp.starttls or smtp.ssl):
        raise ConfigError(
            f"production sends the SMTP password only over TLS: set {ENV_PREFIX}SMTP_STARTTLS=true "
            f"or {ENV_PREFIX}SMTP_SSL=true"
        )
