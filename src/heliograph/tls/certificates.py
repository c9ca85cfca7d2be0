"""The live TLS context, rebuilt when the certificate or key file changes: no restart needed.

Each reload builds a whole new context from the files and swaps it in only if it loads, so new
handshakes get the new certificate, connections already open keep theirs, and a bad new pair
(a key that does not match, a half-written file) is logged while the old context stays in
service. The files are compared by inode, size and modification time every few seconds, which
also catches an atomic rename (how ACME clients and Kubernetes secret mounts replace files).
A change is loaded once the files have stayed the same for one check, so a deploy that
replaces the certificate and the key one after the other is not caught half-way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from pathlib import Path

from heliograph.core import metrics
from heliograph.core.config import TlsSettings
from heliograph.core.errors import ConfigError
from heliograph.tls.profiles import build_context, certificate_not_after

log = logging.getLogger("heliograph.tls")

RELOAD_CHECK_SECONDS = 2.0
Signature = tuple[tuple[int, int, int] | None, ...]


def _signature(paths: tuple[Path, ...]) -> Signature:
    stamps: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            stamps.append(None)  # missing for a moment while a deploy replaces it
        else:
            stamps.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


class CertificateStore:
    """Hold the current server context; :meth:`check` swaps in a new one when the files change."""

    def __init__(self, tls: TlsSettings, *, interval: float = RELOAD_CHECK_SECONDS) -> None:
        if tls.cert_file is None or tls.key_file is None:
            raise ConfigError("TLS is not configured")
        self.tls = tls
        self.interval = interval
        self.cert_file: Path = tls.cert_file
        self._paths = (tls.cert_file, tls.key_file)
        self._seen = _signature(self._paths)
        self._settling = False
        self.context: ssl.SSLContext = build_context(tls)  # a bad pair at start-up stops serve
        self.reloads = 0
        self.failures = 0
        self.not_after = certificate_not_after(self.cert_file)

    def check(self) -> bool:
        """Reload files that changed and then stayed put; return True if a new context is live."""
        seen = _signature(self._paths)
        if seen != self._seen:
            self._seen, self._settling = seen, True
            return False
        if not self._settling:
            return False
        self._settling = False  # a bad pair is reported once, retried when the files change again
        try:
            context = build_context(self.tls)
        except ConfigError as error:
            self.failures += 1
            log.warning("tls.certificate_reload_failed keeping the previous certificate: %s", error)
            return False
        self.context = context
        self.reloads += 1
        self.not_after = certificate_not_after(self.cert_file)
        log.info("tls.certificate_reloaded not_after=%s", self.not_after)
        return True

    async def watch(self) -> None:
        """Check the files every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.check()

    def register_metrics(self) -> None:
        metrics.register(
            "heliograph_tls_certificate_expiry_timestamp_seconds",
            "gauge",
            "When the served TLS certificate expires (Unix time).",
            lambda: self.not_after.timestamp() if self.not_after else None,
        )
        metrics.register(
            "heliograph_tls_certificate_reloads_total",
            "counter",
            "Certificate reloads that put a new certificate in service.",
            lambda: self.reloads,
        )
        metrics.register(
            "heliograph_tls_certificate_reload_failures_total",
            "counter",
            "Changed certificate files that did not load (the previous certificate was kept).",
            lambda: self.failures,
        )
