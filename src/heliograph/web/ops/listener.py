"""Route requests of the administrative listener to the admin URLconf, and only those.

The mark is a key in the ASGI scope, which only the server puts there (clients send headers,
not scope keys), so no request to the public listener can reach the admin URLconf: /admin/,
/metrics and /ops/... are unknown paths there and answer the same 404 as any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase

SCOPE_KEY = "heliograph.listener"
ADMIN = "admin"
ADMIN_URLCONF = "heliograph.web.ops.urls"

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


def admin_listener_app(application: ASGIApp) -> ASGIApp:
    """Return ``application`` with every request it receives marked as the admin listener's."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await application({**scope, SCOPE_KEY: ADMIN}, receive, send)

    return app


class ListenerUrlconfMiddleware:
    """Resolve requests from the administrative listener against the admin URLconf."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        scope = getattr(request, "scope", None)
        if scope is not None and scope.get(SCOPE_KEY) == ADMIN:
            request.urlconf = ADMIN_URLCONF
        return self.get_response(request)
