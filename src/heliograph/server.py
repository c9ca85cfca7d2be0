"""Compose and run one Heliograph process: web app, collector, loader, on embedded defaults."""

from __future__ import annotations

import logging
import threading
from typing import cast

from heliograph.collector.app import ASGIApp, Collector
from heliograph.collector.loader import Loader
from heliograph.collector.schema import SpoolCodec
from heliograph.collector.sites import CachedSiteRegistry, SiteLookup
from heliograph.collector.spool import SpoolWriter
from heliograph.core.config import Settings
from heliograph.core.crypto.setup import process_keyring
from heliograph.store import api as store

log = logging.getLogger("heliograph.server")


class LoaderThread(threading.Thread):
    """Run the loader every few hundred milliseconds until stopped, then once more."""

    def __init__(self, loader: Loader, interval: float) -> None:
        super().__init__(name="heliograph-loader", daemon=True)
        self.loader = loader
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self._pass()
        self._pass()

    def _pass(self) -> None:
        try:
            result = self.loader.run_once()
        except Exception:  # the loader must outlive a store hiccup; it retries next pass
            log.exception("loader.pass_failed")
            return
        if result.events:
            log.info("loader.pass events=%d segments=%d", result.events, result.segments)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def build_collector(
    settings: Settings, codec: SpoolCodec, lookup: SiteLookup, fallback: ASGIApp | None
) -> Collector:
    """Return the collector ASGI app wired to the spool and the site registry."""
    spool = SpoolWriter(
        settings.spool_dir,
        segment_bytes=settings.spool_segment_bytes,
        segment_seconds=settings.spool_segment_seconds,
    )
    return Collector(
        registry=CachedSiteRegistry(lookup),
        spool=spool,
        codec=codec,
        limits=settings.limits,
        fallback=fallback,
        ready=store.store_ready,
    )


def serve(settings: Settings) -> None:
    """Run the web app, the collector and the loader in this process until interrupted."""
    import uvicorn

    from heliograph.web.asgi import application
    from heliograph.web.audit.log import install as install_security_log
    from heliograph.web.sites.registry import lookup_site

    install_security_log()
    codec = SpoolCodec(process_keyring(settings))
    store.open_store(settings)
    loader = LoaderThread(Loader(settings.spool_dir, codec), settings.loader_interval_seconds)
    loader.start()
    app = build_collector(settings, codec, lookup_site, cast(ASGIApp, application))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        log_level="info",
    )
    try:
        uvicorn.Server(config).run()
    finally:
        loader.stop()
        store.close_store()
