"""Run real ``heliograph serve`` processes with their own data directories."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

DUMP = Path(__file__).with_name("dump_events.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_DATABASES: list[tuple[str, str]] = []  # (server URL, database) made by this session


def own_database(url: str) -> str:
    """Create a fresh PostgreSQL database next to ``url`` and return its URL ("" if not PG)."""
    if not url.startswith(("postgres://", "postgresql://")):
        return ""
    import psycopg

    name = "hg_e2e_" + secrets.token_hex(6)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # a name made just above
    _DATABASES.append((url, name))
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture(scope="session", autouse=True)
def _drop_own_databases() -> Iterator[None]:
    yield
    if not _DATABASES:
        return
    import psycopg

    for url, name in _DATABASES:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Instance:
    """One Heliograph data directory and, while running, its server process."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: list[Path] = field(default_factory=list)
    admin_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    tls_client: ssl.SSLContext | None = None  # set when the instance serves HTTPS

    def __post_init__(self) -> None:
        # On PostgreSQL every instance gets a database of its own, as every data directory is
        # its own deployment: secrets sealed by one instance's keys must not meet another's.
        if "DATABASE_URL" not in self.extra_env:
            own = own_database(os.environ.get("DATABASE_URL", ""))
            if own:
                self.extra_env["DATABASE_URL"] = own

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_client else 'http'}://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HELIOGRAPH_DATA_DIR": str(self.data_dir),
            "HELIOGRAPH_PORT": str(self.port),
            "HELIOGRAPH_ADMIN_PORT": str(self.admin_port),
            "HELIOGRAPH_CLIENT_RATE": "100000",
            "HELIOGRAPH_CLIENT_BURST": "100000",
            "HELIOGRAPH_SPOOL_SEGMENT_SECONDS": "0.3",
            "HELIOGRAPH_LOADER_INTERVAL_SECONDS": "0.2",
            **self.extra_env,
        }

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "heliograph.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def create_site(self, tenant: str, *domains: str) -> tuple[int, str]:
        """Create a tenant with one site; return (tenant id, site key)."""
        tenant_id = int(re.search(r"tenant (\d+) created", self.cli("tenant", "create", tenant))[1])
        args = [f"--domain={d}" for d in domains]
        out = self.cli("site", "create", f"--tenant={tenant_id}", f"--name={tenant} site", *args)
        return tenant_id, re.search(r"key (\S+)", out)[1]  # type: ignore[index]

    def start(self) -> None:
        log = self.data_dir / f"serve-{len(self.log)}.log"
        self.log.append(log)
        with log.open("wb") as output:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "heliograph.cli", "serve"],
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(
                    self.url + "/readyz", timeout=1, context=self.tls_client
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("heliograph serve did not become ready:\n" + log.read_text())

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        finally:
            self.process = None

    def events(self, tenant_id: int) -> list[dict[str, object]]:
        """Return every stored event of one tenant (read by a separate process: chDB allows one
        process per data directory)."""
        done = subprocess.run(
            [sys.executable, str(DUMP), str(self.data_dir), str(tenant_id)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    inst = Instance(data_dir=tmp_path / "data", port=free_port())
    yield inst
    inst.stop()
