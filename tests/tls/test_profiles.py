"""Mozilla profiles as contexts, the OpenSSL groups file, and certificate reload without restart."""

from __future__ import annotations

import contextlib
import os
import ssl
import stat
from pathlib import Path

import pytest

from heliograph.core import metrics
from heliograph.core.config import Settings, TlsSettings, load_settings
from heliograph.core.errors import ConfigError
from heliograph.tls.certificates import CertificateStore
from heliograph.tls.openssl_conf import openssl_conf_text, write_openssl_conf
from heliograph.tls.profiles import INTERMEDIATE_CIPHERS, build_context

from .certs import Authority, issue, make_authority


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return make_authority(tmp_path / "ca")


def tls_settings(tmp_path: Path, ca: Authority, profile: str = "intermediate") -> TlsSettings:
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    issue(ca, cert, key)
    return TlsSettings(cert_file=cert, key_file=key, profile=profile)  # type: ignore[arg-type]


def test_intermediate_is_tls12_and_13_with_ecdhe_aead_only(tmp_path: Path, ca: Authority) -> None:
    context = build_context(tls_settings(tmp_path, ca))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.maximum_version == ssl.TLSVersion.TLSv1_3
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(INTERMEDIATE_CIPHERS.split(":"))
    assert all(("GCM" in name or "CHACHA20" in name) and "ECDHE" in name for name in tls12)
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION
    assert context.options & ssl.OP_NO_TICKET
    assert not context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_modern_is_tls13_only(tmp_path: Path, ca: Authority) -> None:
    context = build_context(tls_settings(tmp_path, ca, "modern"))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_a_key_that_does_not_match_stops_start_up(tmp_path: Path, ca: Authority) -> None:
    tls = tls_settings(tmp_path, ca)
    assert tls.key_file is not None
    issue(ca, tmp_path / "other.pem", tls.key_file)  # the key now belongs to other.pem
    with pytest.raises(ConfigError, match="HELIOGRAPH_TLS_CERT_FILE"):
        build_context(tls)


def test_openssl_conf_sets_mozillas_groups_in_a_private_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    path = write_openssl_conf(settings)
    assert path.read_text() == openssl_conf_text()
    assert "Groups = X25519:prime256v1:secp384r1" in openssl_conf_text()
    assert "MinProtocol = TLSv1.2" in openssl_conf_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    write_openssl_conf(settings)  # every start rewrites it
    assert path.read_text() == openssl_conf_text()


def test_tls_makes_the_base_url_https(tmp_path: Path, ca: Authority) -> None:
    tls = tls_settings(tmp_path, ca)
    env = {
        "HELIOGRAPH_DATA_DIR": str(tmp_path / "data"),
        "HELIOGRAPH_PORT": "8443",
        "HELIOGRAPH_TLS_CERT_FILE": str(tls.cert_file),
        "HELIOGRAPH_TLS_KEY_FILE": str(tls.key_file),
    }
    assert load_settings(env).base_url == "https://127.0.0.1:8443"


def served_subject(context: ssl.SSLContext, ca: Authority) -> str:
    """Shake hands with ``context`` in memory and return the subject CN the client saw."""
    client_context = ssl.create_default_context(cafile=ca.pem_file)
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = context.wrap_bio(to_server, from_server, server_side=True)
    client = client_context.wrap_bio(to_client, from_client, server_hostname="localhost")
    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        to_server.write(from_client.read())
        to_client.write(from_server.read())
    peer = client.getpeercert()
    assert peer is not None
    return dict(item[0] for item in peer["subject"])["commonName"]


def test_reload_swaps_in_a_new_pair_and_keeps_the_old_one_when_the_new_one_is_bad(
    tmp_path: Path, ca: Authority
) -> None:
    tls = tls_settings(tmp_path, ca)
    assert tls.cert_file is not None and tls.key_file is not None
    store = CertificateStore(tls)
    assert store.check() is False  # nothing changed
    assert served_subject(store.context, ca) == "heliograph test"

    issue(ca, tls.cert_file, tls.key_file, name="renewed")
    assert store.check() is False  # changed: loaded once the files stay put for one check
    assert store.check() is True
    assert served_subject(store.context, ca) == "renewed"
    assert store.reloads == 1

    issue(ca, tls.cert_file, tmp_path / "elsewhere.key", name="mismatched")  # cert without key
    assert store.check() is False
    assert store.check() is False
    assert served_subject(store.context, ca) == "renewed"
    assert store.failures == 1
    assert store.check() is False  # the same bad pair is reported once
    assert store.failures == 1

    tls.key_file.unlink()  # a deploy that removes before it writes
    assert store.check() is False
    issue(ca, tls.cert_file, tls.key_file, name="fixed")
    assert store.check() is False
    assert store.check() is True
    assert served_subject(store.context, ca) == "fixed"


def test_certificate_metrics(tmp_path: Path, ca: Authority) -> None:
    store = CertificateStore(tls_settings(tmp_path, ca))
    store.register_metrics()
    try:
        assert store.not_after is not None
        expiry = metrics.read("heliograph_tls_certificate_expiry_timestamp_seconds")
        assert expiry == store.not_after.timestamp()
        assert "heliograph_tls_certificate_reloads_total 0" in metrics.exposition()
    finally:
        for name in (
            "heliograph_tls_certificate_expiry_timestamp_seconds",
            "heliograph_tls_certificate_reloads_total",
            "heliograph_tls_certificate_reload_failures_total",
        ):
            metrics.unregister(name)
