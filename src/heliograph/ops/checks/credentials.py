"""HG-SECRET and HG-DB: secrets are strong, and kept in files rather than in the configuration."""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from heliograph.core.config import ENV_PREFIX, secret_setting
from heliograph.core.crypto.kek import LocalKek, load_kek_file
from heliograph.core.errors import ConfigError
from heliograph.ops.checks.files import kek_file
from heliograph.ops.checks.model import (
    Check,
    Context,
    Outcome,
    Severity,
    failed,
    passed,
    skipped,
    verdict,
)

# Django's own deploy check (security.W009) wants 50 characters and 5 distinct ones; we also
# want the characters to carry 128 bits by a plain frequency estimate.
MIN_SECRET_LENGTH = 50
MIN_SECRET_DISTINCT = 5
MIN_SECRET_BITS = 128
# Words that mark a value copied from an example rather than generated.
PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "replaceme",
    "replace-me",
    "replace_me",
    "placeholder",
    "example",
    "default",
    "password",
    "django-insecure",
    "secret-key",
    "secret_key",
    "secretkey",
    "not-secret",
    "insecure",
)
# 32 random bytes almost surely hold more than 16 distinct values; fewer means a made-up key.
MIN_KEK_DISTINCT_BYTES = 16
INLINE_SECRETS = {"SECRET_KEY": "SECRET_KEY_FILE", "SMTP_PASSWORD": "SMTP_PASSWORD_FILE"}


def secret_key_weaknesses(value: str) -> list[str]:
    """Say why ``value`` is not a strong Django secret key (empty list: it is)."""
    problems = []
    lowered = value.lower()
    found = [word for word in PLACEHOLDERS if word in lowered]
    if found:
        problems.append(f"it contains the placeholder {found[0]!r}")
    if len(value) < MIN_SECRET_LENGTH:
        problems.append(f"it has {len(value)} characters, fewer than {MIN_SECRET_LENGTH}")
    if len(set(value)) < MIN_SECRET_DISTINCT:
        problems.append(f"it uses only {len(set(value))} distinct characters")
    elif (bits := _estimated_bits(value)) < MIN_SECRET_BITS:
        problems.append(f"its characters carry about {bits:.0f} bits, under {MIN_SECRET_BITS}")
    return problems


def _estimated_bits(value: str) -> float:
    counts = Counter(value).values()
    per_char = -sum(c / len(value) * math.log2(c / len(value)) for c in counts)
    return per_char * len(value)


def _secret_key(ctx: Context) -> tuple[str, str] | Outcome:
    """Return the Django secret key and where it comes from, or the outcome when there is none."""
    try:
        configured = secret_setting(ctx.env, "SECRET_KEY")
    except ConfigError as error:
        return failed(str(error))
    if configured:
        source = "_FILE" if ctx.raw("SECRET_KEY_FILE") else ""
        return configured, f"{ENV_PREFIX}SECRET_KEY{source}"
    if ctx.production:
        return failed(f"no secret key: {ENV_PREFIX}SECRET_KEY_FILE is not set")
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    generated = ctx.settings.data_dir / "secret_key"
    if not generated.exists():
        return passed(f"none configured: the first start generates a random one in {generated}")
    return generated.read_text(encoding="ascii").strip(), str(generated)


def secret_key_strong(ctx: Context) -> Outcome:
    found = _secret_key(ctx)
    if isinstance(found, Outcome):
        return found
    value, source = found
    problems = secret_key_weaknesses(value)
    return verdict([f"the secret key from {source}: {p}" for p in problems], f"{source} is strong")


def kek_valid(ctx: Context) -> Outcome:
    inline = ctx.raw("KEK")
    if inline:
        return _judge_kek(f"{ENV_PREFIX}KEK", lambda: [_inline_kek(inline)])
    path = kek_file(ctx)
    if path is not None and (ctx.raw("KEK_FILE") or path.exists()):
        return _judge_kek(str(path), partial(_file_keks, path))
    if ctx.production:
        return failed(f"no key encryption key: set {ENV_PREFIX}KEK_FILE")
    if path is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    return passed(f"none configured: the first start creates {path} (mode 0600)")


def _inline_kek(raw: str) -> LocalKek:
    try:
        secret = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{ENV_PREFIX}KEK is not base64") from None
    return LocalKek("env", secret)  # refuses anything but 32 bytes


def _file_keks(path: Path) -> list[LocalKek]:
    keks = load_kek_file(path)
    return [k for k in (keks.current, *keks.previous) if isinstance(k, LocalKek)]


def _judge_kek(source: str, load: Callable[[], list[LocalKek]]) -> Outcome:
    try:
        keys = load()
    except ConfigError as error:
        return failed(str(error))
    weak = [k.key_id for k in keys if len(set(k.secret)) < MIN_KEK_DISTINCT_BYTES]
    if weak:
        return failed(f"{source}: key {weak[0]!r} is not random ({len(weak)} such keys)")
    return passed(f"{source} holds {len(keys)} random 32-byte key(s)")


def no_inline_secrets(ctx: Context) -> Outcome:
    inline = [(name, file) for name, file in INLINE_SECRETS.items() if ctx.raw(name)]
    if ctx.raw("KEK"):
        inline.append(("KEK", "KEK_FILE"))
    return verdict(
        [
            f"{ENV_PREFIX}{name} is written inline (use {ENV_PREFIX}{file}): it shows in the "
            "process environment, `docker inspect` and crash reports"
            for name, file in inline
        ],
        "no secret is written inline in the configuration",
    )


def database_url_without_password(ctx: Context) -> Outcome:
    url = ctx.env.get("DATABASE_URL", "")
    if not url:
        return passed("no DATABASE_URL: the metadata database is SQLite in the data directory")
    try:
        password = urlsplit(url).password
    except ValueError:
        return failed("DATABASE_URL does not parse as a URL")
    if password:
        return failed("DATABASE_URL carries the database password in clear text")
    return passed("DATABASE_URL carries no password")


CHECKS = (
    Check(
        "HG-SECRET-001",
        "the Django secret key is strong",
        Severity.ERROR,
        "generate one: (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(48))' "
        "> /etc/heliograph/secrets/secret_key) and set HELIOGRAPH_SECRET_KEY_FILE to it",
        secret_key_strong,
    ),
    Check(
        "HG-SECRET-002",
        "the key encryption key is present, 32 bytes and random",
        Severity.ERROR,
        "set HELIOGRAPH_KEK_FILE to a Heliograph key file (created by "
        "heliograph.core.crypto.kek.create_kek_file, mode 0600)",
        kek_valid,
        production_only=False,
    ),
    Check(
        "HG-SECRET-003",
        "no secret is written inline in the configuration",
        Severity.ERROR,
        "put each secret in a 0600 file and point the *_FILE variable at it "
        "(HELIOGRAPH_SECRET_KEY_FILE, HELIOGRAPH_SMTP_PASSWORD_FILE, HELIOGRAPH_KEK_FILE)",
        no_inline_secrets,
    ),
    Check(
        "HG-DB-001",
        "DATABASE_URL carries no password",
        Severity.ERROR,
        "drop the password from DATABASE_URL and put it in the service user's ~/.pgpass "
        "(mode 0600, or PGPASSFILE=/etc/heliograph/secrets/pgpass), which libpq reads",
        database_url_without_password,
    ),
)
