"""Signed webhook deliveries: the JSON envelope, the signature header, and the HTTP POST.

The signature is ``X-Heliograph-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``"<t>.<body>"`` with the webhook's signing secret; receivers recompute it, compare in constant
time and refuse timestamps older than a few minutes (replay), as :func:`verify_signature` does.

Server-side request forgery (ASVS 12.6.1): in production a delivery goes only to public
addresses; the address is resolved once, checked, and the connection is made to exactly that
address (no second lookup a DNS rebinding could answer differently); redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Heliograph-Signature"
TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 5.0
USER_AGENT = "Heliograph-Webhook/1"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a delivery went: ``ok`` for a 2xx answer; ``detail`` says what happened."""

    ok: bool
    detail: str


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value of ``body`` sent at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Return True if ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` old."""
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    offered = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    stamp = stamps[0].strip() if len(stamps) == 1 else ""
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12 or not offered:
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def envelope(event_type: str, tenant_id: int, data: Mapping[str, object]) -> bytes:
    """Return the JSON body of a delivery."""
    document = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tenant": {"id": tenant_id},
        "data": dict(data),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address checked beforehand; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address checked beforehand, verifying the certificate of the URL's host."""

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.pinned = address
        self.tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.pinned, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def is_public(address: str) -> bool:
    """Return True for a globally routable address (not loopback, private, link-local ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int, *, public_only: bool) -> list[str] | DeliveryResult:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return DeliveryResult(False, "host name does not resolve")
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if public_only and not all(is_public(address) for address in addresses):
        return DeliveryResult(False, "refused: the host resolves to a non-public address")
    return addresses


def _connection(scheme: str, host: str, port: int, address: str) -> http.client.HTTPConnection:
    if scheme == "https":
        return _PinnedHTTPSConnection(host, port, address, TIMEOUT_SECONDS, _tls_context())
    return _PinnedHTTPConnection(host, port, address, TIMEOUT_SECONDS)


def _exchange(
    connection: http.client.HTTPConnection, target: str, body: bytes, headers: Mapping[str, str]
) -> DeliveryResult:
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read(4096)
    except TimeoutError:
        return DeliveryResult(False, "timed out")
    except ssl.SSLError as error:
        return DeliveryResult(False, f"TLS error: {error.reason or 'handshake failed'}")
    except ConnectionRefusedError:
        return DeliveryResult(False, "connection refused")
    except (OSError, http.client.HTTPException) as error:
        return DeliveryResult(False, f"network error: {type(error).__name__}")
    finally:
        connection.close()
    return _answer(response.status)


def _answer(status: int) -> DeliveryResult:
    if 200 <= status < 300:
        return DeliveryResult(True, f"HTTP {status}")
    if 300 <= status < 400:
        return DeliveryResult(False, f"HTTP {status} (redirects are not followed)")
    return DeliveryResult(False, f"HTTP {status}")


def post(url: str, body: bytes, headers: Mapping[str, str], *, public_only: bool) -> DeliveryResult:
    """POST ``body`` to ``url`` once; a 2xx answer is a delivery, anything else is not."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    resolved = _resolve(host, port, public_only=public_only)
    if isinstance(resolved, DeliveryResult):
        return resolved
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    result = DeliveryResult(False, "no address to connect to")
    for address in resolved:
        result = _exchange(_connection(parts.scheme, host, port, address), target, body, headers)
        if result.ok or not result.detail.startswith(("connection refused", "network error")):
            return result
    return result


def deliver(
    url: str, secret: str, event_type: str, body: bytes, *, public_only: bool
) -> DeliveryResult:
    """Sign ``body`` with ``secret`` now and POST it to ``url``."""
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Heliograph-Event": event_type,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    return post(url, body, headers, public_only=public_only)
