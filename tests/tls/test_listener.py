"""The TLS port: TLS is handed to the HTTP protocol, plain HTTP is redirected, noise is dropped."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from heliograph.core.config import TlsSettings
from heliograph.tls.certificates import CertificateStore
from heliograph.tls.listener import TlsListener, parse_request_head, redirect_response
from tests.tls.loop import run

from .certs import issue, make_authority


class Answer(asyncio.Protocol):
    """Stands in for uvicorn's HTTP protocol: answers once, then closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert isinstance(self.transport, asyncio.Transport)
        scheme = b"https" if self.transport.get_extra_info("sslcontext") else b"http"
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        self.transport.write(head % len(scheme) + scheme)
        self.transport.close()


async def exchange(port: int, request: bytes, context: ssl.SSLContext | None = None) -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
    )
    writer.write(request)
    await writer.drain()
    try:
        answer = await reader.read()
    except ConnectionResetError:  # closed with our bytes unread: the kernel resets
        answer = b""
    writer.close()
    return answer


def test_tls_plain_http_and_noise_on_one_port(tmp_path: Path) -> None:
    ca = make_authority(tmp_path)
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    issue(ca, cert, key)
    store = CertificateStore(TlsSettings(cert_file=cert, key_file=key))
    client = ssl.create_default_context(cafile=ca.pem_file)

    async def scenario() -> tuple[bytes, bytes, bytes, bytes]:
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        listener = TlsListener(sock, store, Answer)
        listener.start()
        try:
            over_tls = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", client)
            plain = await exchange(
                port, b"GET /sites/1/?range=7d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port
            )
            no_host = await exchange(
                port, b"POST /collect HTTP/1.0\r\nContent-Length: 9\r\n\r\n" + b"x" * 9
            )
            noise = await exchange(port, b"\x00\x01garbage")
            return over_tls, plain, no_host.replace(b"%d" % port, b"PORT"), noise
        finally:
            listener.close()
            await listener.wait_closed()

    over_tls, plain, no_host, noise = run(scenario())
    assert over_tls.endswith(b"\r\n\r\nhttps")  # the protocol saw a TLS transport
    assert plain.startswith(b"HTTP/1.1 308 Permanent Redirect\r\n")
    assert b"\r\nLocation: https://127.0.0.1:" in plain
    assert b"/sites/1/?range=7d\r\n" in plain
    assert b"strict-transport-security" not in plain.lower()  # never over plain HTTP
    assert b"\r\nLocation: https://127.0.0.1:PORT/collect\r\n" in no_host
    assert noise == b""


def test_the_canonical_origin_wins_over_the_host_header() -> None:
    sock = socket.socket()
    listener = TlsListener(sock, None, Answer, canonical_origin="https://a.example")  # type: ignore[arg-type]
    head = b"GET /x HTTP/1.1\r\nHost: evil.example\r\n\r\n"
    assert listener._location(head, sock) == b"https://a.example/x"
    sock.close()


@pytest.mark.parametrize(
    ("head", "target", "host"),
    [
        (b"GET /a?b=c HTTP/1.1\r\nHost: h.example:8443\r\n\r\n", b"/a?b=c", b"h.example:8443"),
        (b"GET /a HTTP/1.1\r\nhOsT:  [::1]:8443 \r\n\r\n", b"/a", b"[::1]:8443"),
        (b"GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n", b"/", b"h"),  # absolute-form: path only
        (b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", b"/", b"h"),
        (b"GET / HTTP/1.1\r\nHost: h/evil\r\n\r\n", b"/", None),
        (b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", b"/", None),
        (b"GET\r\n\r\n", b"/", None),
        (b"", b"/", None),
    ],
)
def test_request_heads_are_read_defensively(head: bytes, target: bytes, host: bytes | None) -> None:
    assert parse_request_head(head) == (target, host)


def test_redirect_response_is_complete() -> None:
    response = redirect_response(b"https://h/x")
    head, body = response.split(b"\r\n\r\n", 1)
    assert b"Content-Length: %d" % len(body) in head
    assert b"Connection: close" in head
