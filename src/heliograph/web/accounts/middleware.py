"""Security headers the web app sends on every response."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

# Everything the app loads comes from its own origin; no inline script or style, no framing.
# SVG charts use presentation attributes (fill, x, width), which style-src does not govern.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
# The app uses none of these browser features: deny them to the page and anything it embeds.
# (Not publickey-credentials-*: passkeys need WebAuthn. Only names Chromium knows, so the
# browser logs no "unrecognized feature" errors.)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)


class ContentSecurityPolicyMiddleware:
    """Add the app's Content-Security-Policy unless the view set its own, and the
    Permissions-Policy and Cross-Origin-Resource-Policy of every app response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Nothing of the app is meant to be loaded by other sites (the tag is the collector's).
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response
