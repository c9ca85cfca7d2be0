"""Start ``heliograph serve`` with TLS on a certificate from a test CA, and talk to it."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.tls.certs import Authority, issue, make_authority

from .conftest import Instance, free_port


@dataclass
class TlsServer:
    instance: Instance
    ca: Authority
    cert_file: Path
    key_file: Path

    @property
    def port(self) -> int:
        return self.instance.port

    def client(
        self, version: ssl.TLSVersion | None = None, *, ciphers: str | None = None
    ) -> ssl.SSLContext:
        """A client that trusts the test CA, optionally pinned to one protocol version."""
        context = ssl.create_default_context(cafile=self.ca.pem_file)
        if version is not None:
            context.minimum_version = context.maximum_version = version
        if ciphers is not None:
            context.set_ciphers(ciphers)
        return context

    def handshake(self, context: ssl.SSLContext, port: int | None = None) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port or self.port), timeout=10)
        try:
            return context.wrap_socket(raw, server_hostname="localhost")
        except BaseException:
            raw.close()
            raise


def legacy_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers only ``version`` (TLS 1.0 or 1.1), as old browsers and scanners do."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 needs level 0 to offer TLS < 1.2
    with warnings.catch_warnings():  # Python deprecates these versions; here that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    return context


@contextmanager
def tls_server(root: Path, *, rsa_key: bool = False, **env: str) -> Iterator[TlsServer]:
    """Run ``heliograph serve`` with TLS (extra HELIOGRAPH_* settings in ``env``) until exit."""
    ca = make_authority(root / "ca")
    cert_file, key_file = root / "tls" / "server.pem", root / "tls" / "server.key"
    issue(ca, cert_file, key_file, rsa_key=rsa_key)
    instance = Instance(
        data_dir=root / "data",
        port=free_port(),
        extra_env={
            "HELIOGRAPH_TLS_CERT_FILE": str(cert_file),
            "HELIOGRAPH_TLS_KEY_FILE": str(key_file),
            **env,
        },
        tls_client=ssl.create_default_context(cafile=ca.pem_file),
    )
    instance.data_dir.mkdir(parents=True)
    instance.start()
    try:
        yield TlsServer(instance=instance, ca=ca, cert_file=cert_file, key_file=key_file)
    finally:
        instance.stop()
