"""The collector: a plain ASGI app for beacons, the tag, and health checks (no Django)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import msgspec

from heliograph.collector import schema
from heliograph.collector.enrich import (
    CookielessSessions,
    DailySalt,
    classify_user_agent,
    prepare_classifier,
)
from heliograph.collector.ratelimit import TokenBuckets, retry_after_header
from heliograph.collector.rejections import Rejections
from heliograph.collector.sites import CachedSiteRegistry, SiteInfo, host_allowed, url_allowed
from heliograph.collector.spool import SpoolError, SpoolWriter
from heliograph.core.config import CollectorLimits
from heliograph.core.crypto.aead import DecryptionError
from heliograph.core.crypto.keyring import KeyDestroyed
from heliograph.core.errors import InputError

log = logging.getLogger("heliograph.collector")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_TYPES = (b"application/json", b"text/plain")
# What browsers and the tag send, exactly: checked with one set lookup before any parsing.
BEACON_CONTENT_TYPES = frozenset(
    {
        b"text/plain;charset=UTF-8",  # sendBeacon and fetch with a string body
        b"text/plain",
        b"application/json",
        b"application/json; charset=utf-8",
    }
)
_json = msgspec.json.Encoder()


class RateLimited(InputError):
    """A site or client is over its rate; the answer carries Retry-After."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("rate_limited", "too many beacons; slow down", status=429)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Tag:
    """The built tag as served: body, gzip body, and its validators."""

    body: bytes
    gzip_body: bytes
    etag: bytes

    @classmethod
    def load(cls) -> Tag:
        import gzip
        import hashlib

        body = resources.files("heliograph.collector").joinpath("static/heliograph.js").read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        return cls(body=body, gzip_body=gzip.compress(body, 9, mtime=0), etag=etag)


class Collector:
    """Validate, enrich and spool beacons; serve the tag; answer health checks."""

    def __init__(
        self,
        *,
        registry: CachedSiteRegistry,
        spool: SpoolWriter,
        codec: schema.SpoolCodec,
        limits: CollectorLimits,
        fallback: ASGIApp | None = None,
        ready: Callable[[], bool] = lambda: True,
        summary_interval: float = 60.0,
    ) -> None:
        self.registry = registry
        self.spool = spool
        self.codec = codec
        self.limits = limits
        self.fallback = fallback
        self.ready = ready
        # Each group commit seals each tenant's beacons together, in the spool's writer thread.
        spool.use_sealer(codec.seal_group)
        self.tag = Tag.load()
        prepare_classifier()
        self.salt = DailySalt()
        self.sessions = CookielessSessions()
        self.site_buckets = TokenBuckets(rate=limits.site_rate_per_s, burst=limits.site_burst)
        self.client_buckets = TokenBuckets(rate=limits.client_rate_per_s, burst=limits.client_burst)
        self.rejections = Rejections()
        self.summary_interval = summary_interval
        self._summary_task: asyncio.Task[None] | None = None
        self.accepted_events = 0
        # Batch ids: a random prefix per collector and a counter, unique without a getrandom
        # system call per beacon. The loader derives event ids from the first 14 bytes.
        self._batch_prefix = os.urandom(8)
        self._batch_numbers = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/collect" and scope["method"] == "POST":
            await self._collect(scope, receive, send)  # the hot path, first
            return
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            if self.fallback is not None:
                await self.fallback(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/collect":
            await self._collect_other(scope, send, method)
        elif path == "/t/heliograph.js" and method in ("GET", "HEAD"):
            await self._serve_tag(scope, send)
        elif path == "/healthz":
            await _respond(send, 200, {"status": "ok"})
        elif path == "/readyz":
            ok = self.ready()
            await _respond(send, 200 if ok else 503, {"status": "ready" if ok else "not_ready"})
        elif self.fallback is not None:
            await self.fallback(scope, receive, send)
        else:
            await _respond(send, 404, {"code": "not_found", "message": "no such endpoint"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.spool.start()
                self._summary_task = asyncio.create_task(
                    self.rejections.flush_forever(self.summary_interval)
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._summary_task is not None:
                    await Rejections.stop(self._summary_task)
                await self.rejections.flush()
                await self.spool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _collect_other(self, scope: Scope, send: Send, method: str) -> None:
        if method == "OPTIONS":
            await self._preflight(scope, send)
            return
        await _respond(
            send,
            405,
            {"code": "method_not_allowed", "message": "use POST"},
            extra=[(b"allow", b"POST, OPTIONS")],
        )

    async def _collect(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /collect: answer 202 once the beacon is durable in the spool, else a 4xx/503.

        The hot path of the collector, kept shallow on purpose: every call costs, and every
        coroutine level is paid again when the request wakes from the spool's group commit.
        """
        # One pass over the headers (the first of a repeated header wins, as in _header).
        headers: dict[bytes, bytes] = dict(reversed(scope["headers"]))
        origin = headers.get(b"origin", b"")
        site_key, tenant = "", None  # for the rejection's security event, once known
        try:
            content_type = headers.get(b"content-type", b"")
            if content_type not in BEACON_CONTENT_TYPES:
                _check_content_type(content_type)
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body = message.get("body", b"")  # the whole body in one message: the usual case
                if len(body) > self.limits.max_body_bytes:
                    raise _too_large(self.limits.max_body_bytes)
            else:
                body = await self._read_body(headers, message, receive)
            try:
                beacon = schema.check_beacon(body)
            except schema.BeaconError as error:
                raise _invalid(error) from None
            site_key = beacon.site
            site = self.registry.cached(site_key)
            if site is False:
                site = await self.registry.get(site_key)
            if site is None:
                raise _unknown_site()
            tenant = site.tenant_id
            durable = self._accept(scope, headers, origin, body, beacon, site)
        except InputError as error:
            await self._reject(send, error, site_key, tenant)
            return
        except SpoolError:
            await self._reject(send, _spool_unavailable(), site_key, tenant)
            return
        try:
            await durable
        except Exception as error:  # the write or the seal of this beacon's group failed
            await self._reject(send, _not_durable(error, site.tenant_id), site_key, tenant)
            return
        events = beacon.events
        self.accepted_events += events
        accepted = _accepted_headers(events, origin)
        await send({"type": "http.response.start", "status": 202, "headers": accepted})
        await send({"type": "http.response.body", "body": _accepted_body(events)})

    def _accept(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        origin: bytes,
        body: bytes,
        beacon: schema.CheckedBeacon,
        site: SiteInfo,
    ) -> asyncio.Future[None]:
        """Check the beacon's origin, rate and URLs, enrich it, and hand it to the spool; return
        the future that settles once it is durable."""
        allowed = site.allowed_domains
        source = origin or headers.get(b"referer")
        if not source:
            raise InputError(
                "origin_missing", "an Origin or Referer header is required", status=403
            )
        if not _origin_allowed(allowed, source):
            raise InputError(
                "origin_not_allowed", "origin is not one of the site's domains", status=403
            )
        client = scope.get("client")
        ip: str = client[0] if client else ""
        now = time.monotonic()
        wait = self.site_buckets.take(site.key, now) or self.client_buckets.take(
            (site.site_id, ip), now
        )
        if wait:
            raise RateLimited(wait)
        for url in beacon.urls:
            if not url_allowed(allowed, url):
                raise InputError(
                    "url_not_allowed", "event url is not on the site's domains", status=422
                )
        received = self._enrich(ip, headers.get(b"user-agent", b""), site, beacon, body)
        # Sealed with the tenant's other beacons of the same group commit (seal_group).
        return self.spool.submit(schema.encode_received(received), site.tenant_id)

    async def _read_body(
        self, headers: dict[bytes, bytes], message: Message, receive: Receive
    ) -> bytes:
        """The body from ``message`` on, when it arrives in several messages; a declared length
        over the limit is refused before any more is read."""
        limit = self.limits.max_body_bytes
        declared = headers.get(b"content-length", b"")
        if declared and (not declared.isdigit() or int(declared) > limit):
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            if message["type"] == "http.disconnect":
                raise InputError("client_disconnected", "client went away", status=400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
            message = await receive()

    def _enrich(
        self,
        ip: str,
        raw_agent: bytes,
        site: SiteInfo,
        beacon: schema.CheckedBeacon,
        body: bytes,
    ) -> schema.ReceivedBeacon:
        """What the collector adds to a beacon: receive time, client class and, for cookieless
        events, a visitor hash and a server-side session. The loader applies it to each event
        (schema.expand), so this costs the same for one event as for a hundred."""
        now = time.time()
        user_agent = raw_agent.decode("latin-1")
        client = classify_user_agent(user_agent)  # LRU-cached in enrich
        visitor_hash = session = ""
        if beacon.cookieless:
            # The device stores nothing, so the visitor and session are the server's. Beacons
            # with a visitor id never need the address-derived hash, so it is not made.
            visitor_hash = self.salt.visitor_hash(site.site_id, ip, user_agent)
            session = self.sessions.session_for(visitor_hash, now)
        return schema.ReceivedBeacon(
            batch_id=self._batch_prefix + next(self._batch_numbers).to_bytes(6, "big") + b"\0\0",
            tenant_id=site.tenant_id,
            site_id=site.site_id,
            received_ms=int(now * 1000),
            visitor_hash=visitor_hash,
            device=client.device,
            browser=client.browser,
            os=client.os,
            session=session,
            wire=beacon.wire,
            body=body,
        )

    async def _reject(
        self, send: Send, error: InputError, site_key: str, tenant: int | None
    ) -> None:
        self.rejections.add(site_key, tenant, error.code)
        extra: list[tuple[bytes, bytes]] = []
        if isinstance(error, RateLimited):
            extra.append((b"retry-after", retry_after_header(error.retry_after)))
        await _respond(
            send, error.status, {"code": error.code, "message": error.message}, extra=extra
        )

    async def _preflight(self, scope: Scope, send: Send) -> None:
        # Preflights carry no site key; the tag never needs one (it sends text/plain), so
        # answer without CORS grants: a browser then refuses cross-origin JSON posts.
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"allow", b"POST, OPTIONS"), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _serve_tag(self, scope: Scope, send: Send) -> None:
        tag = self.tag
        headers = [
            (b"content-type", b"application/javascript; charset=utf-8"),
            (b"cache-control", b"public, max-age=300"),
            (b"etag", tag.etag),
            (b"x-content-type-options", b"nosniff"),
            (b"cross-origin-resource-policy", b"cross-origin"),
            (b"vary", b"Accept-Encoding"),
        ]
        if _header(scope, b"if-none-match") == tag.etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = tag.body
        if b"gzip" in _header(scope, b"accept-encoding"):
            body = tag.gzip_body
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


@lru_cache(maxsize=4096)
def _origin_allowed(domains: tuple[str, ...], origin: bytes) -> bool:
    """Whether an Origin or Referer value names one of the domains; origins repeat."""
    try:
        host = urlsplit(origin.decode("latin-1")).hostname or ""
    except ValueError:
        return False
    return bool(host) and host_allowed(domains, host)


@lru_cache(maxsize=schema.MAX_EVENTS + 1)
def _accepted_body(count: int) -> bytes:
    return _json.encode({"accepted": count})


@lru_cache(maxsize=4096)
def _accepted_headers(count: int, origin: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of a 202 for ``count`` events from ``origin`` (an allowed one: the beacon
    passed the origin check), made once per pair; immutable, since every answer shares it."""
    cors = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")] if origin else []
    # No cache-control: no cache stores the answer to a POST that states no freshness (RFC 9111
    # section 3), and the server checks every header of every answer, so a 202 carries none
    # that does nothing.
    return tuple(_json_headers(_accepted_body(count), cors, no_store=False))


def _json_headers(
    body: bytes, extra: list[tuple[bytes, bytes]] | None = None, *, no_store: bool = True
) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if no_store:
        headers.append((b"cache-control", b"no-store"))
    return headers + (extra or [])


def _spool_unavailable() -> InputError:
    return InputError("spool_unavailable", "try again later", status=503)


def _unknown_site() -> InputError:
    return InputError("unknown_site", "no site has this key", status=404)


def _not_durable(error: Exception, tenant_id: int) -> InputError:
    """The answer for a beacon whose group could not be made durable."""
    if isinstance(error, KeyDestroyed):
        # The site's tenant was deleted (its keys destroyed) but the site cache still knew it.
        return _unknown_site()
    if isinstance(error, DecryptionError):
        log.error("collector.keys_unavailable tenant=%d", tenant_id)
        return InputError("keys_unavailable", "try again later", status=503)
    if not isinstance(error, SpoolError):
        log.error("collector.seal_failed tenant=%d error=%r", tenant_id, error)
    return _spool_unavailable()


def _too_large(limit: int) -> InputError:
    return InputError("body_too_large", f"body exceeds {limit} bytes", status=413)


def _check_content_type(header: bytes) -> None:
    content_type = bytes(header).split(b";", 1)[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise InputError(
            "unsupported_media_type", "send application/json or text/plain", status=415
        )


def _invalid(error: schema.BeaconError) -> InputError:
    if error.malformed:
        return InputError("malformed_json", str(error), status=400)
    return InputError("invalid_schema", str(error), status=422)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


async def _respond(
    send: Send, status: int, payload: object, *, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with ``payload`` as JSON (``bytes`` are taken as already encoded JSON)."""
    body = payload if isinstance(payload, bytes) else _json.encode(payload)
    headers = _json_headers(body, extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
