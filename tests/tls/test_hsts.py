"""HSTS on every HTTPS response of the collector and the app, never over plain HTTP."""

from __future__ import annotations

from heliograph.tls.hsts import Message, Scope, StrictTransportSecurity, hsts_value
from tests.tls.loop import run


async def app(scope: Scope, receive: object, send: object) -> None:
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/own":
        headers.append((b"Strict-Transport-Security", b"max-age=1"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"x"})  # type: ignore[operator]


def headers_of(scheme: str, *, path: str = "/", preload: bool = False) -> list[tuple[bytes, bytes]]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request"}

    scope: Scope = {"type": "http", "scheme": scheme, "path": path, "headers": []}
    run(StrictTransportSecurity(app, preload=preload)(scope, receive, send))  # type: ignore[arg-type]
    return list(sent[0]["headers"])


def test_https_responses_carry_two_years_with_subdomains() -> None:
    assert (b"strict-transport-security", b"max-age=63072000; includeSubDomains") in headers_of(
        "https"
    )


def test_preload_is_added_only_when_configured() -> None:
    assert hsts_value(preload=True) == "max-age=63072000; includeSubDomains; preload"
    value = dict(headers_of("https", preload=True))[b"strict-transport-security"]
    assert value.endswith(b"; preload")


def test_plain_http_never_carries_it() -> None:
    assert all(name.lower() != b"strict-transport-security" for name, _ in headers_of("http"))


def test_a_header_already_set_is_not_doubled() -> None:
    names = [name.lower() for name, _ in headers_of("https", path="/own")]
    assert names.count(b"strict-transport-security") == 1
