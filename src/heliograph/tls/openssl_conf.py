"""Restart ``heliograph serve`` once with an OpenSSL configuration that sets the TLS groups.

Python 3.11's ``ssl`` module cannot set the key-exchange groups, and OpenSSL reads its
configuration (``OPENSSL_CONF``) only when libcrypto initialises, which ``hashlib`` triggers
long before any command runs. So when TLS is on, ``serve`` writes a configuration file and
replaces itself (``os.execve``, same interpreter, same arguments, same process id) with
``OPENSSL_CONF`` pointing at it; an environment marker stops a second restart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from heliograph.core.config import Settings
from heliograph.tls.profiles import GROUPS

MARKER = "HELIOGRAPH_TLS_OPENSSL_CONF"  # set in the restarted process to the file it was given

# ``system_default`` applies to every SSL_CTX the process creates, outbound clients included
# (SMTP, ClickHouse), so it sets only what suits both: the groups and TLS 1.2 as the floor.
# TLS 1.3-only ("modern") is set on the server context itself.
CONF_TEMPLATE = """\
# Written by heliograph serve at every start; edits are overwritten.
openssl_conf = heliograph_init

[heliograph_init]
ssl_conf = heliograph_ssl

[heliograph_ssl]
system_default = heliograph_tls

[heliograph_tls]
Groups = {groups}
MinProtocol = TLSv1.2
CipherString = DEFAULT:@SECLEVEL=2
"""


def openssl_conf_text() -> str:
    """Return the OpenSSL configuration that limits key exchange to Mozilla's groups."""
    return CONF_TEMPLATE.format(groups=":".join(GROUPS))


def conf_path(settings: Settings) -> Path:
    return settings.data_dir / "tls" / "openssl.cnf"


def write_openssl_conf(settings: Settings) -> Path:
    """Write the configuration under the data directory (mode 0600) and return its path."""
    path = conf_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_suffix(".cnf.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(openssl_conf_text())
    os.replace(partial, path)
    return path


def restart_with_tls_groups(settings: Settings) -> None:
    """When TLS is on and this process has not been restarted yet, restart it with the groups.

    Returns only when no restart is needed; otherwise the process image is replaced.
    """
    if not settings.tls.enabled:
        return
    if os.environ.get(MARKER):
        return
    path = write_openssl_conf(settings)
    env = {**os.environ, "OPENSSL_CONF": str(path), MARKER: str(path)}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)  # noqa: S606
