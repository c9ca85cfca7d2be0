"""Compose and run one Heliograph process: web app, collector, loader, on embedded defaults."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from typing import cast

from heliograph.collector.app import ASGIApp, Collector
from heliograph.collector.loader import Loader
from heliograph.collector.schema import SpoolCodec
from heliograph.collector.sites import CachedSiteRegistry, SiteLookup
from heliograph.collector.spool import SpoolWriter
from heliograph.core import metrics
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
        self.events_loaded = 0
        self.failed_passes = 0

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self._pass()
        self._pass()

    def _pass(self) -> None:
        try:
            result = self.loader.run_once()
        except Exception:  # the loader must outlive a store hiccup; it retries next pass
            self.failed_passes += 1
            log.exception("loader.pass_failed")
            return
        self.events_loaded += result.events
        if result.events:
            log.info("loader.pass events=%d segments=%d", result.events, result.segments)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


# The collector allocates a few hundred short-lived objects per beacon. With CPython's default
# first-generation threshold (700) a young collection ran every couple of requests; profiling
# put that at 15-20 % of a 20-event beacon's cost. Cycles are still collected, only less
# often; the long-lived start-up heap (Django, ua-parser's regexes) is frozen so that full
# collections never rescan it.
GC_THRESHOLDS = (50_000, 20, 20)


# The spool's fsync runs in its writer thread; when it returns, that thread needs the GIL back to
# wake the waiting requests. CPython makes a waiting thread wait up to the switch interval
# (5 ms by default) before it forces the busy event-loop thread to let go, which made every
# group commit ~5 ms longer than the disk needed and left the collector idle on a fast disk.
SWITCH_INTERVAL_S = 0.0005


def tune_for_serving() -> None:
    """Freeze what start-up allocated, collect the young generation less often, and hand the
    GIL to the spool's fsync thread sooner."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


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


def register_metrics(collector: Collector, loader: LoaderThread) -> None:
    """Expose the process's counters on the administrative listener's /metrics."""
    metrics.register(
        "heliograph_collector_events_accepted_total",
        "counter",
        "Events the collector accepted (durable in the spool).",
        lambda: collector.accepted_events,
    )
    metrics.register(
        "heliograph_spool_records_written_total",
        "counter",
        "Beacons written and fsynced to the spool (sealed per tenant, several per record).",
        lambda: collector.spool.records_written,
    )
    metrics.register(
        "heliograph_loader_events_loaded_total",
        "counter",
        "Events the loader moved from the spool into the event store.",
        lambda: loader.events_loaded,
    )
    metrics.register(
        "heliograph_loader_failed_passes_total",
        "counter",
        "Loader passes that failed (retried on the next pass).",
        lambda: loader.failed_passes,
    )
    metrics.register(
        "heliograph_store_ready",
        "gauge",
        "1 when the event store is open and answering, else 0.",
        lambda: 1 if store.store_ready() else 0,
    )


def serve(settings: Settings) -> None:
    """Run the web app, the collector and the loader in this process until interrupted."""
    from heliograph.listeners import build_listeners
    from heliograph.web.asgi import application
    from heliograph.web.audit.log import install as install_security_log
    from heliograph.web.ops.listener import admin_listener_app
    from heliograph.web.sites.registry import lookup_site

    install_security_log()
    codec = SpoolCodec(process_keyring(settings))
    app = build_collector(settings, codec, lookup_site, cast(ASGIApp, application))
    # Binds both ports and loads the certificate first: a conflict stops start-up right here.
    public = build_listeners(app, admin_listener_app(application), settings)
    store.open_store(settings)
    loader = LoaderThread(Loader(settings.spool_dir, codec), settings.loader_interval_seconds)
    loader.start()
    register_metrics(app, loader)
    tune_for_serving()
    try:
        public.run()
    finally:
        loader.stop()
        store.close_store()
