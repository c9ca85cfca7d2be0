"""HTTP Strict Transport Security on every response that travelled over HTTPS, never over HTTP.

One ASGI layer in front of the collector and the web app, so beacons, the tag and health
checks carry it as the Django pages do. "Over HTTPS" is the ASGI scope's ``scheme``: set by the
TLS listener itself, or by uvicorn's proxy-header handling for a trusted TLS-terminating proxy
only. RFC 6797 §7.2: a host must not send it over plain HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HSTS_SECONDS = 63072000  # two years, Mozilla's recommendation and the preload list's minimum
HEADER = b"strict-transport-security"


def hsts_value(*, preload: bool) -> str:
    """Return the header value: two years, subdomains included, ``preload`` when asked."""
    return f"max-age={HSTS_SECONDS}; includeSubDomains" + ("; preload" if preload else "")


class StrictTransportSecurity:
    """Add Strict-Transport-Security to HTTPS responses that do not carry it already."""

    def __init__(self, app: ASGIApp, *, preload: bool) -> None:
        self.app = app
        self.header = (HEADER, hsts_value(preload=preload).encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(bytes(name).lower() == HEADER for name, _ in headers):
                    headers.append(self.header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_hsts)
