"""Serve the app's own static files (no CDN, no extra server), with cache headers."""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from pathlib import Path

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
)
from django.views.decorators.http import require_safe

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300"


@functools.lru_cache(maxsize=256)
def asset_version(name: str) -> str:
    """Return a short content hash of a static file, for cache-busting URLs."""
    path = (STATIC_ROOT / name).resolve()
    if not path.is_relative_to(STATIC_ROOT) or not path.is_file():
        raise FileNotFoundError(name)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def asset_url(name: str) -> str:
    """Return the URL of a static file, versioned by its content."""
    return f"/static/{name}?v={asset_version(name)}"


@require_safe
def static_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """Serve one file under STATIC_ROOT; versioned URLs may be cached for a year.

    ``asset_version`` resolves the path and refuses anything outside STATIC_ROOT (``..``,
    absolute paths, links out) and anything that is not a file, so directories are not listed.
    The body is sent in one piece: the files are small, and a streamed file response under
    ASGI would make Django iterate a synchronous file in a thread for every asset.
    """
    try:
        current = asset_version(path)
        body = (STATIC_ROOT / path).resolve().read_bytes()
    except OSError:
        raise Http404 from None
    etag = f'"{current}"'
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        response = HttpResponse(body, content_type=content_type)
    response["ETag"] = etag
    fresh = request.GET.get("v") == current
    response["Cache-Control"] = LONG_CACHE if fresh else SHORT_CACHE
    return response
