"""Mozilla server-side TLS profiles (guidelines v5.7) as ``ssl.SSLContext`` objects.

Python 3.11's ``ssl`` module cannot choose key-exchange groups; the groups half of a profile is
in :mod:`heliograph.tls.openssl_conf`, which OpenSSL reads when the process starts.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from pathlib import Path

from heliograph.core.config import ENV_PREFIX, TlsProfile, TlsSettings
from heliograph.core.errors import ConfigError

# Mozilla intermediate, TLS 1.2: ECDHE key exchange with AEAD ciphers only (no CBC, no RSA key
# transport, no finite-field DHE, so no DH parameters to get wrong). TLS 1.3 always uses
# OpenSSL's three AEAD suites, which are exactly Mozilla's.
INTERMEDIATE_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
GROUPS = ("X25519", "prime256v1", "secp384r1")  # Mozilla intermediate and modern, in order
MINIMUM_VERSION: dict[TlsProfile, ssl.TLSVersion] = {
    "intermediate": ssl.TLSVersion.TLSv1_2,
    "modern": ssl.TLSVersion.TLSv1_3,
}


def build_context(tls: TlsSettings) -> ssl.SSLContext:
    """Return a server context for ``tls.profile`` holding the configured certificate and key."""
    if tls.cert_file is None or tls.key_file is None:
        raise ConfigError(f"TLS needs {ENV_PREFIX}TLS_CERT_FILE and {ENV_PREFIX}TLS_KEY_FILE")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION[tls.profile]
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ciphers(INTERMEDIATE_CIPHERS)
    # CRIME (compression); renegotiation is a denial-of-service lever that HTTP/1.1 never
    # needs; session tickets off as Mozilla advises: OpenSSL never rotates the ticket key, so
    # one stolen key would decrypt every recorded session (no forward secrecy).
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_TICKET
    # Mozilla: every offered suite is strong, so let the client pick (ChaCha20 on phones).
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])  # the HTTP protocol behind it speaks HTTP/1.1
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except OSError as error:  # ssl.SSLError is an OSError too
        raise ConfigError(
            f"cannot load the certificate {tls.cert_file} ({ENV_PREFIX}TLS_CERT_FILE) with the "
            f"key {tls.key_file} ({ENV_PREFIX}TLS_KEY_FILE): {error}"
        ) from None
    return context


def certificate_not_after(cert_file: Path) -> datetime | None:
    """Return when the first certificate in ``cert_file`` expires (None if it cannot be read)."""
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return None
    return certificate.not_valid_after_utc
