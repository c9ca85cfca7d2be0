"""HG-TLS and HG-HSTS: traffic is encrypted in transit and browsers are told to insist on it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

from heliograph.ops.checks.files import mode_problem
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

EXPIRY_WARNING = timedelta(days=14)
ONE_YEAR_SECONDS = 365 * 24 * 3600  # the minimum hstspreload.org accepts
SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"


@dataclass(frozen=True, slots=True)
class Material:
    chain: list[x509.Certificate]
    key: PrivateKeyTypes

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def _served(ctx: Context) -> tuple[Path, Path] | Outcome:
    """Return the certificate and key files Heliograph serves, or why a TLS check is moot."""
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    tls = ctx.settings.tls
    if tls.cert_file is not None and tls.key_file is not None:
        return tls.cert_file, tls.key_file
    if tls.trusted_proxies:
        return skipped("TLS terminates at the trusted proxies; Heliograph holds no certificate")
    return skipped("Heliograph serves plain HTTP (HG-TLS-001)")


def _load(cert_file: Path, key_file: Path) -> Material | str:
    """Return the parsed certificate chain and key, or what is wrong with them."""
    try:
        chain = x509.load_pem_x509_certificates(cert_file.read_bytes())
    except OSError as error:
        return f"cannot read the certificate {cert_file}: {error.strerror}"
    except ValueError:
        return f"{cert_file} holds no PEM certificate"
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except OSError as error:
        return f"cannot read the private key {key_file}: {error.strerror}"
    except TypeError:
        return f"{key_file} is encrypted with a passphrase; the server cannot start unattended"
    except ValueError:
        return f"{key_file} holds no PEM private key"
    return Material(chain, key)


def _material(ctx: Context) -> Material | Outcome:
    files = _served(ctx)
    if isinstance(files, Outcome):
        return files
    material = _load(*files)
    if isinstance(material, str):
        return skipped("the certificate or key does not load (HG-TLS-002)")
    return material


def terminated(ctx: Context) -> Outcome:
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    tls = ctx.settings.tls
    if tls.enabled:
        return passed(f"Heliograph terminates TLS (Mozilla {tls.profile} profile)")
    if tls.trusted_proxies:
        return passed(f"TLS terminates at trusted proxies {', '.join(tls.trusted_proxies)}")
    return failed("no certificate and no trusted TLS proxy: everything travels in plain HTTP")


def files_load(ctx: Context) -> Outcome:
    files = _served(ctx)
    if isinstance(files, Outcome):
        return files
    material = _load(*files)
    if isinstance(material, str):
        return failed(material)
    return passed(f"certificate for {_subject(material.leaf)} and its key load")


def key_private(ctx: Context) -> Outcome:
    files = _served(ctx)
    if isinstance(files, Outcome):
        return files
    problem = mode_problem(files[1])
    return failed(problem) if problem else passed(f"{files[1]} is readable by its owner only")


def valid_now(ctx: Context) -> Outcome:
    material = _material(ctx)
    if isinstance(material, Outcome):
        return material
    leaf = material.leaf
    if ctx.now < leaf.not_valid_before_utc:
        return failed(f"the certificate is valid only from {leaf.not_valid_before_utc:%Y-%m-%d}")
    if ctx.now >= leaf.not_valid_after_utc:
        return failed(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    return passed(f"the certificate is valid until {leaf.not_valid_after_utc:%Y-%m-%d}")


def not_expiring(ctx: Context) -> Outcome:
    material = _material(ctx)
    if isinstance(material, Outcome):
        return material
    left = material.leaf.not_valid_after_utc - ctx.now
    if left < EXPIRY_WARNING:
        return failed(f"the certificate expires in {max(left.days, 0)} days")
    return passed(f"the certificate has {left.days} days left")


def matches_key(ctx: Context) -> Outcome:
    material = _material(ctx)
    if isinstance(material, Outcome):
        return material
    if _spki(material.leaf.public_key()) == _spki(material.key.public_key()):
        return passed("the certificate's public key is the private key's")
    return failed("the certificate (the first one in the file) was not issued for this key")


def _spki(key: PublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def covers_host(ctx: Context) -> Outcome:
    material = _material(ctx)
    if isinstance(material, Outcome):
        return material
    host = urlsplit(ctx.settings.public_url if ctx.settings else "").hostname
    if not host:
        return skipped("no public URL to compare with (HG-URL-001)")
    if _covers(material.leaf, host):
        return passed(f"the certificate names {host}")
    return failed(f"the certificate does not name {host} (it names {_subject(material.leaf)})")


def _covers(cert: x509.Certificate, host: str) -> bool:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False  # browsers ignore the common name
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return any(_dns_match(name, host) for name in names.get_values_for_type(x509.DNSName))
    return address in names.get_values_for_type(x509.IPAddress)


def _dns_match(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        label, _, parent = host.partition(".")
        return bool(label) and parent == pattern[2:]
    return pattern == host


def _subject(cert: x509.Certificate) -> str:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return cert.subject.rfc4514_string() or "no name"
    shown = [str(n) for n in names.get_values_for_type(x509.DNSName)]
    shown += [str(a) for a in names.get_values_for_type(x509.IPAddress)]
    return ", ".join(shown) or "no name"


def hsts_sent(ctx: Context) -> Outcome:
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    if ctx.web is None:
        return failed(f"the web settings could not be evaluated: {ctx.web_error}")
    tls, web = ctx.settings.tls, ctx.web
    problems = []
    if not (tls.enabled or tls.trusted_proxies):
        problems.append("browsers ignore HSTS over plain HTTP and nothing terminates TLS")
    if SECURITY_MIDDLEWARE not in web.middleware:
        problems.append(f"{SECURITY_MIDDLEWARE} is not in MIDDLEWARE")
    if web.hsts_seconds < ONE_YEAR_SECONDS:
        problems.append(f"SECURE_HSTS_SECONDS is {web.hsts_seconds}, under one year")
    if tls.hsts_preload and not (web.hsts_preload and web.hsts_include_subdomains):
        problems.append("HELIOGRAPH_HSTS_PRELOAD is on but the header lacks preload")
    return verdict(problems, f"Strict-Transport-Security: max-age={web.hsts_seconds}")


CHECKS = (
    Check(
        "HG-TLS-001",
        "TLS is terminated by Heliograph or a trusted proxy",
        Severity.ERROR,
        "set HELIOGRAPH_TLS_CERT_FILE and HELIOGRAPH_TLS_KEY_FILE, or, behind a TLS-terminating "
        "proxy, HELIOGRAPH_TRUSTED_PROXIES to its addresses",
        terminated,
    ),
    Check(
        "HG-TLS-002",
        "the certificate and private key are readable PEM",
        Severity.ERROR,
        "point HELIOGRAPH_TLS_CERT_FILE at the PEM chain (leaf first) and HELIOGRAPH_TLS_KEY_FILE "
        "at its unencrypted PEM key, both readable by the service user",
        files_load,
        production_only=False,
    ),
    Check(
        "HG-TLS-003",
        "the private key is readable by its owner only",
        Severity.ERROR,
        "chmod 600 the key file and chown it to the service user",
        key_private,
    ),
    Check(
        "HG-TLS-004",
        "the certificate is valid now",
        Severity.ERROR,
        "renew the certificate (e.g. certbot renew); a running serve reloads it within seconds",
        valid_now,
    ),
    Check(
        "HG-TLS-005",
        "the certificate does not expire within 14 days",
        Severity.WARNING,
        "renew now; automate renewal (ACME) so this never reaches expiry",
        not_expiring,
    ),
    Check(
        "HG-TLS-006",
        "the certificate matches the private key",
        Severity.ERROR,
        "pair the certificate with the key it was issued for (the leaf certificate comes first)",
        matches_key,
        production_only=False,
    ),
    Check(
        "HG-TLS-007",
        "the certificate names the public URL's host",
        Severity.ERROR,
        "issue the certificate for the host of HELIOGRAPH_PUBLIC_URL (subjectAltName)",
        covers_host,
    ),
    Check(
        "HG-HSTS-001",
        "HSTS is sent for at least a year",
        Severity.ERROR,
        "terminate TLS (HG-TLS-001) and let web/settings.py send SECURE_HSTS_SECONDS of at least "
        "31536000 in production",
        hsts_sent,
    ),
)
