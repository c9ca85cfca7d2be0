"""`heliograph serve` terminating TLS itself: Mozilla profiles, HSTS, the plain-HTTP redirect,
key-exchange groups, certificate reload, and the admin listener over TLS."""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from heliograph.tls.profiles import INTERMEDIATE_CIPHERS
from tests.tls.certs import issue, make_authority

from .conftest import free_port
from .tls_server import TlsServer, legacy_client, tls_server

pytestmark = pytest.mark.slow
HSTS = "max-age=63072000; includeSubDomains"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def intermediate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    with tls_server(tmp_path_factory.mktemp("intermediate")) as server:
        yield server


@pytest.fixture(scope="module")
def modern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    env = {"HELIOGRAPH_TLS_PROFILE": "modern", "HELIOGRAPH_HSTS_PRELOAD": "true"}
    with tls_server(tmp_path_factory.mktemp("modern"), **env) as server:
        yield server


def get(
    server: TlsServer, path: str, *, port: int | None = None
) -> tuple[int, dict[str, str], bytes]:
    url = f"https://127.0.0.1:{port or server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10, context=server.client()) as response:
            return response.status, lowercase(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, lowercase(error.headers.items()), error.read()


def lowercase(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


# How a refusal reaches the client: asyncio's (and uvloop's) TLS drops the connection without
# flushing OpenSSL's alert, so clients mostly see an EOF. Either way it comes from the server,
# after it read the ClientHello; a client unable to offer the version fails differently
# (NO_PROTOCOLS_AVAILABLE, before sending anything).
REFUSED = {"UNEXPECTED_EOF_WHILE_READING", "TLSV1_ALERT_PROTOCOL_VERSION"}
NO_SHARED_PARAMETERS = {"UNEXPECTED_EOF_WHILE_READING", "SSLV3_ALERT_HANDSHAKE_FAILURE"}


def refusal(server: TlsServer, context: ssl.SSLContext) -> str:
    """Shake hands expecting the server to refuse; return the reason the client was given."""
    with pytest.raises(ssl.SSLError) as refused:
        server.handshake(context).close()
    return str(refused.value.reason)


def test_intermediate_speaks_tls13_and_tls12_with_aead_suites(intermediate: TlsServer) -> None:
    with intermediate.handshake(intermediate.client(ssl.TLSVersion.TLSv1_3)) as tls:
        assert tls.version() == "TLSv1.3"
        assert tls.selected_alpn_protocol() is None  # the client offered none
    with intermediate.handshake(intermediate.client(ssl.TLSVersion.TLSv1_2)) as tls:
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        assert cipher is not None and cipher[0] in INTERMEDIATE_CIPHERS.split(":")


def test_intermediate_refuses_tls10_tls11_and_cbc(intermediate: TlsServer) -> None:
    # An alert from the server, not a client that could not offer the version.
    assert refusal(intermediate, legacy_client(ssl.TLSVersion.TLSv1)) in REFUSED
    assert refusal(intermediate, legacy_client(ssl.TLSVersion.TLSv1_1)) in REFUSED
    cbc_only = intermediate.client(ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA256")
    assert refusal(intermediate, cbc_only) in NO_SHARED_PARAMETERS


def handshake_with_groups(server: TlsServer, tmp_path: Path, groups: str, version: str) -> str:
    """Connect from a client process whose OpenSSL offers only ``groups``; return the outcome."""
    conf = tmp_path / f"client-{groups}.cnf"
    conf.write_text(
        "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n"
        f"[tls]\nGroups = {groups}\n"
    )
    script = (
        "import socket, ssl, sys\n"
        f"c = ssl.create_default_context(cafile={str(server.ca.pem_file)!r})\n"
        f"c.minimum_version = c.maximum_version = ssl.TLSVersion.{version}\n"
        f"s = socket.create_connection(('127.0.0.1', {server.port}), timeout=10)\n"
        "try:\n"
        "    print(c.wrap_socket(s, server_hostname='localhost').version())\n"
        "except ssl.SSLError as e:\n"
        "    print(e.reason)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "OPENSSL_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_only_mozillas_key_exchange_groups_are_accepted(
    intermediate: TlsServer, tmp_path: Path
) -> None:
    # This is what the OPENSSL_CONF restart is for: OpenSSL's defaults also accept X448 and
    # P-521. TLS 1.3 isolates the key exchange (in TLS 1.2 a client offering one group must
    # also offer the ECDSA certificate's curve); sslyze checks the TLS 1.2 curves too.
    for refused in ("X448", "secp521r1", "ffdhe2048"):
        outcome = handshake_with_groups(intermediate, tmp_path, refused, "TLSv1_3")
        assert outcome in NO_SHARED_PARAMETERS, refused
    for accepted in ("X25519", "P-256", "P-384"):
        assert handshake_with_groups(intermediate, tmp_path, accepted, "TLSv1_3") == "TLSv1.3"


def test_hsts_on_every_https_response(intermediate: TlsServer) -> None:
    for path in ("/healthz", "/t/heliograph.js", "/sign-in/", "/no-such-page/"):
        _, headers, _ = get(intermediate, path)
        assert headers["strict-transport-security"] == HSTS, path
    _, headers, _ = get(intermediate, "/sign-in/")
    cookie = headers["set-cookie"]
    assert "csrftoken=" in cookie
    assert "Secure" in cookie
    assert "SameSite=Lax" in cookie


def test_plain_http_on_the_tls_port_is_redirected_to_https(intermediate: TlsServer) -> None:
    with socket.create_connection(("127.0.0.1", intermediate.port), timeout=10) as plain:
        plain.sendall(
            b"GET /sites/?range=7d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % intermediate.port
        )
        answer = b""
        while chunk := plain.recv(4096):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 308 ")
    assert f"\r\nLocation: https://127.0.0.1:{intermediate.port}/sites/?range=7d" in head
    assert "strict-transport-security" not in head.lower()


def test_the_admin_listener_speaks_tls_and_lets_an_operator_in(intermediate: TlsServer) -> None:
    server, admin_port = intermediate, intermediate.instance.admin_port
    assert get(server, "/metrics")[0] == 404  # public listener
    status, headers, body = get(server, "/metrics", port=admin_port)
    assert status == 200
    assert headers["strict-transport-security"] == HSTS
    assert b"heliograph_tls_certificate_expiry_timestamp_seconds " in body
    tenant = server.instance.cli("tenant", "create", "Acme").split()[1]
    # Unique: with DATABASE_URL set, every serve process of the suite shares one database.
    email = f"ops-{secrets.token_hex(4)}@example.com"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "heliograph.cli",
            "user",
            "create",
            f"--email={email}",
            f"--tenant={tenant}",
            "--role=viewer",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=server.instance.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    base = f"https://127.0.0.1:{admin_port}"
    with httpx.Client(base_url=base, verify=server.client()) as browser:
        assert sign_in(browser, email).status_code == 200  # a viewer is not an operator
        assert browser.get("/admin/tenants/tenant/").status_code == 302  # to the login
        server.instance.cli("operator", "grant", f"--email={email}")
        assert sign_in(browser, email).status_code == 302
        tenants = browser.get("/admin/tenants/tenant/")
        assert tenants.status_code == 200
        assert "Acme" in tenants.text
        assert "sessionid" in browser.cookies
        assert browser.get("/admin/tenants/tenant/add/").status_code == 403  # read-only


def sign_in(browser: httpx.Client, email: str) -> httpx.Response:
    browser.cookies.clear()
    form = browser.get("/admin/login/")
    token = form.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    return browser.post(
        "/admin/login/",
        data={
            "username": email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        },
        headers={"Referer": str(browser.base_url.join("/admin/login/"))},
    )


def test_modern_is_tls13_only_with_preload(modern: TlsServer) -> None:
    with modern.handshake(modern.client(ssl.TLSVersion.TLSv1_3)) as tls:
        assert tls.version() == "TLSv1.3"
    assert refusal(modern, modern.client(ssl.TLSVersion.TLSv1_2)) in REFUSED
    _, headers, _ = get(modern, "/healthz")
    assert headers["strict-transport-security"] == HSTS + "; preload"


def served_common_name(server: TlsServer) -> str:
    with server.handshake(server.client()) as tls:
        peer = tls.getpeercert()
    assert peer is not None
    return str(dict(item[0] for item in peer["subject"])["commonName"])


def wait_for_common_name(server: TlsServer, name: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while served_common_name(server) != name:
        assert time.monotonic() < deadline, f"still serving {served_common_name(server)}"
        time.sleep(0.2)


def test_a_renewed_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    with tls_server(tmp_path) as server:
        pid = server.instance.process.pid if server.instance.process else None
        assert served_common_name(server) == "heliograph test"
        with server.handshake(server.client()) as before:  # a connection from before the swap
            issue(server.ca, server.cert_file, server.key_file, name="renewed")
            wait_for_common_name(server, "renewed")
            before.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert before.recv(4096).startswith(b"HTTP/1.1 200 ")
        # A certificate whose key is not there: logged, the renewed one stays in service.
        issue(server.ca, server.cert_file, tmp_path / "lost.key", name="broken")
        time.sleep(5)  # more than two checks
        assert served_common_name(server) == "renewed"
        issue(server.ca, server.cert_file, server.key_file, name="fixed")
        wait_for_common_name(server, "fixed")
        assert server.instance.process is not None and server.instance.process.pid == pid
        metrics = get(server, "/metrics", port=server.instance.admin_port)[2].decode()
    log = server.instance.log[-1].read_text()
    assert "tls.certificate_reload_failed" in log
    assert "heliograph_tls_certificate_reloads_total 2" in metrics
    assert "heliograph_tls_certificate_reload_failures_total 1" in metrics


def test_serve_refuses_to_start_with_a_key_that_does_not_match(tmp_path: Path) -> None:
    ca = make_authority(tmp_path / "ca")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    issue(ca, cert, tmp_path / "other.key")
    issue(ca, tmp_path / "other.pem", key)
    done = subprocess.run(
        [sys.executable, "-m", "heliograph.cli", "serve"],
        env={
            **os.environ,
            "HELIOGRAPH_DATA_DIR": str(tmp_path / "data"),
            "HELIOGRAPH_PORT": str(free_port()),
            "HELIOGRAPH_ADMIN_PORT": str(free_port()),
            "HELIOGRAPH_TLS_CERT_FILE": str(cert),
            "HELIOGRAPH_TLS_KEY_FILE": str(key),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "HELIOGRAPH_TLS_CERT_FILE" in done.stderr
