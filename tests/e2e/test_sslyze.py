"""sslyze, a real TLS scanner, checks `heliograph serve` against Mozilla's TLS profiles.

sslyze pins an older `cryptography` than Heliograph uses, so it lives in its own uv project,
tools/sslyze (its own lock file); `uv run --frozen` installs it there on first use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .tls_server import TlsServer, tls_server

pytestmark = pytest.mark.slow
SSLYZE_PROJECT = Path(__file__).resolve().parents[2] / "tools" / "sslyze"


def sslyze(server: TlsServer, profile: str, out: Path) -> tuple[int, dict[str, Any], str]:
    """Scan the server for ``profile``; return the exit code, the JSON report and the output."""
    uv = shutil.which("uv")
    assert uv is not None, "uv runs the sslyze project (scripts/test installs it)"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}  # not the main project's
    done = subprocess.run(
        [
            uv,
            "run",
            "--project",
            str(SSLYZE_PROJECT),
            "--frozen",
            "--quiet",
            "python",
            "-m",
            "sslyze",
            f"--mozilla_config={profile}",
            f"--certinfo_ca_file={server.ca.pem_file}",
            f"--json_out={out}",
            f"127.0.0.1:{server.port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, report, done.stdout + done.stderr


def accepted_suites(report: dict[str, Any], version: str) -> set[str]:
    result = report["server_scan_results"][0]["scan_result"][f"{version}_cipher_suites"]["result"]
    return {suite["cipher_suite"]["name"] for suite in result["accepted_cipher_suites"]}


def curves(report: dict[str, Any], outcome: str) -> set[str]:
    result = report["server_scan_results"][0]["scan_result"]["elliptic_curves"]["result"]
    return {curve["name"] for curve in result[f"{outcome}_curves"]}


@pytest.mark.parametrize(
    ("profile", "key"),
    [("intermediate", "ecdsa"), ("intermediate", "rsa"), ("modern", "ecdsa")],  # modern: ECDSA
)
def test_sslyze_finds_serve_compliant_with_mozillas_profile(
    tmp_path: Path, profile: str, key: str
) -> None:
    with tls_server(tmp_path, rsa_key=key == "rsa", HELIOGRAPH_TLS_PROFILE=profile) as server:
        code, report, output = sslyze(server, profile, tmp_path / "sslyze.json")
    assert code == 0, output
    # sslyze also exits 0 when it could not connect at all: the verdict line is what counts.
    assert f'against Mozilla\'s "{profile}" configuration' in output
    assert f"127.0.0.1:{server.port}: OK - Compliant." in output, output
    assert report["server_scan_results"][0]["scan_status"] == "COMPLETED"
    for old in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
        assert accepted_suites(report, old) == set(), old
    assert len(accepted_suites(report, "tls_1_3")) == 3
    tls12 = accepted_suites(report, "tls_1_2")
    if profile == "modern":
        assert tls12 == set()
    else:
        assert tls12 and all("_GCM_" in s or "CHACHA20" in s for s in tls12)
        assert all(s.startswith(f"TLS_ECDHE_{key.upper()}_WITH_") for s in tls12)
    assert curves(report, "supported") == {"X25519", "secp256r1", "secp384r1"}
    assert {"X448", "secp521r1"} <= curves(report, "rejected")
