"""Accept connections on the TLS port: TLS goes to the HTTP protocol, plain HTTP gets a redirect.

A browser sent to ``http://host:8443/`` would otherwise see a TLS alert or garbage. Every
accepted socket is peeked at (``MSG_PEEK``, nothing is consumed) before anything reads it: a
TLS record starts with the handshake content type 0x16, an HTTP/1.x request with an upper-case
method name. TLS connections are handed to the event loop's own TLS transport with the current
context of the :class:`CertificateStore` (so a reloaded certificate serves the next handshake);
plain HTTP gets a 308 to the same path over https and is closed; anything else is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Callable

from heliograph.tls.certificates import CertificateStore

log = logging.getLogger("heliograph.tls")

TLS_HANDSHAKE = 0x16  # TLS record content type "handshake" (RFC 8446 §5.1)
HTTP_FIRST_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # GET, POST, HEAD, OPTIONS, ...
FIRST_BYTE_SECONDS = 10.0  # a client that connects and says nothing is dropped
HANDSHAKE_SECONDS = 10.0
REQUEST_HEAD_SECONDS = 5.0
REQUEST_HEAD_BYTES = 8192
LINGER_BYTES = 1 << 20  # at most this much of an unwanted request body is read and dropped
HOST = re.compile(rb"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")
TARGET = re.compile(rb"^/[\x21-\x7e]{0,4095}$")  # origin-form, printable ASCII only

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class TlsListener:
    """Serve one listening socket; duck-types the ``close``/``wait_closed`` of asyncio.Server."""

    def __init__(
        self,
        sock: socket.socket,
        certificates: CertificateStore,
        protocol_factory: ProtocolFactory,
        *,
        canonical_origin: str = "",
    ) -> None:
        self.sock = sock
        self.certificates = certificates
        self.protocol_factory = protocol_factory
        # https://host[:port] to redirect to (HELIOGRAPH_PUBLIC_URL); "" uses the Host header.
        self.canonical_origin = canonical_origin
        self.redirects = 0
        self._accepting: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.sock.setblocking(False)
        self._accepting = asyncio.get_running_loop().create_task(self._accept_forever())

    def close(self) -> None:
        """Stop accepting; connections being sniffed or shaking hands are dropped."""
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._pending):
            task.cancel()
        self.sock.close()

    async def wait_closed(self) -> None:
        tasks = [*self._pending, *([self._accepting] if self._accepting else [])]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as error:  # EMFILE and friends: back off instead of spinning
                log.warning("tls.accept_failed %s", error)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._handle(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _handle(self, conn: socket.socket) -> None:
        handed_over = False
        try:
            conn.setblocking(False)
            first = await asyncio.wait_for(_peek_first_byte(conn), FIRST_BYTE_SECONDS)
            if first == TLS_HANDSHAKE:
                # From here the transport owns the socket and closes it if the handshake fails.
                handed_over = True
                await asyncio.get_running_loop().connect_accepted_socket(
                    self.protocol_factory,
                    conn,
                    ssl=self.certificates.context,
                    ssl_handshake_timeout=HANDSHAKE_SECONDS,
                )
            elif first in HTTP_FIRST_BYTES:
                await asyncio.wait_for(self._redirect(conn), REQUEST_HEAD_SECONDS)
        except (OSError, TimeoutError) as error:  # ssl.SSLError is an OSError
            # Failed handshakes are normal traffic (scanners, old clients): debug, not error.
            log.debug("tls.connection_dropped %s", error)
        finally:
            if not handed_over:
                conn.close()

    async def _redirect(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        head = b""
        while b"\r\n\r\n" not in head and len(head) < REQUEST_HEAD_BYTES:
            chunk = await loop.sock_recv(conn, REQUEST_HEAD_BYTES - len(head))
            if not chunk:
                break
            head += chunk
        location = self._location(head, conn)
        await loop.sock_sendall(conn, redirect_response(location))
        self.redirects += 1
        # Lingering close: closing with a request body still unread would send a reset, which
        # can destroy the redirect before the client reads it. Read (and drop) what is left.
        conn.shutdown(socket.SHUT_WR)
        drained = 0
        while drained < LINGER_BYTES and (chunk := await loop.sock_recv(conn, 65536)):
            drained += len(chunk)

    def _location(self, head: bytes, conn: socket.socket) -> bytes:
        target, host = parse_request_head(head)
        if self.canonical_origin:
            return self.canonical_origin.encode("ascii") + target
        if host is None:
            address, port = conn.getsockname()[:2]
            host = (f"[{address}]" if ":" in address else address).encode() + b":%d" % port
        return b"https://" + host + target


def parse_request_head(head: bytes) -> tuple[bytes, bytes | None]:
    """Return the request target (or ``/``) and the Host header if both are well-formed."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    target = parts[1] if len(parts) == 3 and TARGET.match(parts[1]) else b"/"
    host = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            value = value.strip()
            host = value if HOST.match(value) else None
            break
    return target, host


def redirect_response(location: bytes) -> bytes:
    """Return a complete HTTP/1.1 308 response to ``location`` that closes the connection."""
    body = b"This port speaks HTTPS: " + location + b"\n"
    return (
        b"HTTP/1.1 308 Permanent Redirect\r\n"
        b"Location: " + location + b"\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Cache-Control: no-store\r\n"
        b"Connection: close\r\n\r\n" + body
    )


async def _peek_first_byte(conn: socket.socket) -> int | None:
    """Wait until ``conn`` is readable and return its first byte without consuming it."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            readable = loop.create_future()
            loop.add_reader(conn.fileno(), _set_once, readable)
            try:
                await readable
            finally:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(conn.fileno())
            continue
        return data[0] if data else None


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
