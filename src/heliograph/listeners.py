"""The two listeners of ``heliograph serve``, one event loop: public and administrative.

- public (HELIOGRAPH_HOST:PORT): the collector and the web app; HTTPS with the TLS listener
  when a certificate is configured, plain HTTP otherwise (behind a TLS-terminating proxy).
- admin (HELIOGRAPH_ADMIN_HOST:ADMIN_PORT, loopback by default): Django admin, /metrics,
  /ops/health. Its ASGI app marks the scope, and only that mark selects the admin URLconf, so
  the public listener cannot serve them whatever a request says. With TLS on it speaks TLS too
  (same certificate and profile), so session cookies marked Secure work there as well.

Both sockets are bound before the loop starts, so a port in use stops start-up with a clear
message. The public server owns the signals; when it shuts down it stops the admin server and
waits for it before the process goes on to exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import uvicorn

from heliograph.core import metrics
from heliograph.core.config import ENV_PREFIX, Settings
from heliograph.core.errors import ConfigError
from heliograph.tls.certificates import CertificateStore
from heliograph.tls.hsts import ASGIApp, StrictTransportSecurity
from heliograph.tls.listener import TlsListener

log = logging.getLogger("heliograph.server")


def bind(host: str, port: int, variable: str) -> socket.socket:
    """Return a listening TCP socket on host:port, or raise ConfigError naming the setting."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({ENV_PREFIX}{variable}): {error.strerror or error}"
        ) from None
    return sock


class Listener(uvicorn.Server):
    """A uvicorn server on a socket bound in advance, optionally behind the TLS listener."""

    def __init__(
        self,
        config: uvicorn.Config,
        sock: socket.socket,
        *,
        name: str,
        certificates: CertificateStore | None = None,
        canonical_origin: str = "",
        followers: tuple[Listener, ...] = (),
    ) -> None:
        super().__init__(config)
        self.sock = sock
        self.name = name
        self.certificates = certificates
        self.canonical_origin = canonical_origin
        self.followers = followers
        self.owns_signals = True
        self.tls_listener: TlsListener | None = None
        self._follower_tasks: list[asyncio.Task[None]] = []
        self._watch: asyncio.Task[None] | None = None
        for follower in followers:
            follower.owns_signals = False

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.certificates else 'http'}://{host}:{port}"

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if not self.owns_signals:  # the public server takes the signals and stops this one
            yield
            return
        with super().capture_signals():
            yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self.certificates is None:
            await super().startup(sockets=[self.sock])
        else:
            await super().startup(sockets=[])  # lifespan only; the TLS listener accepts
            self.tls_listener = TlsListener(
                self.sock,
                self.certificates,
                self._protocol_factory,
                canonical_origin=self.canonical_origin,
            )
            self.tls_listener.start()
            # uvicorn closes and awaits whatever is in self.servers when it shuts down.
            self.servers.append(cast(Any, self.tls_listener))
            if self.followers:  # one watcher for the certificate both listeners share
                self._watch = asyncio.create_task(self.certificates.watch())
        log.info("server.listening listener=%s url=%s", self.name, self.url)
        self._follower_tasks = [asyncio.create_task(f.serve()) for f in self.followers]

    def _protocol_factory(self) -> asyncio.Protocol:
        """Create uvicorn's HTTP protocol for one connection, as uvicorn's own startup does."""
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for follower in self.followers:
            follower.should_exit = True
        if self._watch is not None:
            self._watch.cancel()
        await super().shutdown(sockets=sockets)
        await asyncio.gather(*self._follower_tasks, return_exceptions=True)


def uvicorn_config(
    app: ASGIApp, settings: Settings, *, lifespan: Literal["on", "off"]
) -> uvicorn.Config:
    """Return the loaded uvicorn configuration both listeners share."""
    proxies = list(settings.tls.trusted_proxies)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan=lifespan,
        access_log=False,
        # X-Forwarded-For/-Proto are believed from these peers only; scope["client"] and
        # scope["scheme"] then name the real client and "https" (rate limits, HSTS, cookies).
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
        server_header=False,
        log_level="info",
    )
    config.load()
    return config


def _secured(app: ASGIApp, settings: Settings) -> ASGIApp:
    """Add HSTS where a request can arrive over HTTPS: our TLS, or a trusted TLS proxy."""
    if settings.tls.enabled or settings.tls.trusted_proxies:
        return StrictTransportSecurity(app, preload=settings.tls.hsts_preload)
    return app


def _canonical_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_url)
    return f"https://{parts.netloc}" if parts.scheme == "https" and parts.netloc else ""


def build_listeners(public_app: ASGIApp, admin_app: ASGIApp, settings: Settings) -> Listener:
    """Bind both sockets and return the public server, which runs the admin one alongside."""
    certificates = CertificateStore(settings.tls) if settings.tls.enabled else None
    public_sock = bind(settings.host, settings.port, "PORT")
    try:
        admin_sock = bind(settings.admin_host, settings.admin_port, "ADMIN_PORT")
    except ConfigError:
        public_sock.close()
        raise
    admin = Listener(
        uvicorn_config(_secured(admin_app, settings), settings, lifespan="off"),
        admin_sock,
        name="admin",
        certificates=certificates,
    )
    public = Listener(
        uvicorn_config(_secured(public_app, settings), settings, lifespan="on"),
        public_sock,
        name="public",
        certificates=certificates,
        canonical_origin=_canonical_origin(settings),
        followers=(admin,),
    )
    if certificates is not None:
        certificates.register_metrics()
        metrics.register(
            "heliograph_tls_plain_http_redirects_total",
            "counter",
            "Plain-HTTP requests on the public TLS port answered with a redirect to https.",
            lambda: public.tls_listener.redirects if public.tls_listener else None,
        )
        log.info("tls.profile profile=%s", settings.tls.profile)
    return public
