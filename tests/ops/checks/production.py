"""Materialise the files deploy/production.env names, under a root directory, as an operator would.

The checks then run against the shipped file with its paths rebased (``--root``): a
self-signed certificate for the public host, a KEK file made by heliograph's own
``create_kek_file``, a keyring holding one data key, and 0600 secret files in 0700 directories.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from heliograph.core.config import load_settings
from heliograph.core.crypto.kek import create_kek_file
from heliograph.core.crypto.setup import open_keyring
from heliograph.ops.checks.context import build_context
from heliograph.ops.checks.envfile import parse_env_file, rebase_paths
from heliograph.ops.checks.model import Result, WebSettings
from heliograph.ops.checks.runner import run_checks

SHIPPED = Path(__file__).resolve().parents[3] / "deploy" / "production.env"
# What web/settings.py must compute in production for every web check to pass.
GOOD_WEB = WebSettings(
    debug=False,
    allowed_hosts=("analytics.example.com",),
    middleware=("django.middleware.security.SecurityMiddleware",),
    hsts_seconds=63072000,
    hsts_include_subdomains=False,
    hsts_preload=False,
    proxy_ssl_header=None,
    session_cookie_secure=True,
    session_cookie_httponly=True,
    session_cookie_samesite="Lax",
    csrf_cookie_secure=True,
    csrf_cookie_samesite="Lax",
)


def results(
    env: dict[str, str], *, web: WebSettings = GOOD_WEB, other_user: bool = False
) -> dict[str, Result]:
    """Run every check on ``env`` with the given web settings; index the results by id."""
    ctx = build_context(env, probe=lambda _env: web)
    if other_user:
        ctx = replace(ctx, uid=ctx.uid + 1)
    return {r.check.id: r for r in run_checks(ctx)}


def shipped_env(root: Path) -> dict[str, str]:
    """Return the shipped production configuration with its paths under ``root``."""
    return rebase_paths(parse_env_file(SHIPPED), root)


def materialise(root: Path) -> dict[str, str]:
    """Create every file the shipped configuration names under ``root``; return its env."""
    env = shipped_env(root)
    data = Path(env["HELIOGRAPH_DATA_DIR"])
    data.mkdir(parents=True, mode=0o700)
    create_kek_file(Path(env["HELIOGRAPH_KEK_FILE"]))
    write_secret(Path(env["HELIOGRAPH_SECRET_KEY_FILE"]), secrets.token_urlsafe(48) + "\n")
    write_secret(Path(env["HELIOGRAPH_SMTP_PASSWORD_FILE"]), "an smtp password\n")
    host = urlsplit(env["HELIOGRAPH_PUBLIC_URL"]).hostname or ""
    write_certificate(env, host)
    open_keyring(load_settings(env)).encrypt(1, "spool", b"a first record")  # the keyring file
    return env


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a new 0600 file in a 0700 directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_certificate(
    env: dict[str, str],
    host: str,
    *,
    valid_from: timedelta = timedelta(days=-1),
    valid_for: timedelta = timedelta(days=90),
    for_another_key: bool = False,
) -> None:
    """Write a self-signed certificate for ``host`` and its key where ``env`` says."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject_key = ec.generate_private_key(ec.SECP256R1()) if for_another_key else key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    start = datetime.now(UTC) + valid_from
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(subject_key, hashes.SHA256())
    )
    cert_file = Path(env["HELIOGRAPH_TLS_CERT_FILE"])
    cert_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_secret(Path(env["HELIOGRAPH_TLS_KEY_FILE"]), pem.decode())
