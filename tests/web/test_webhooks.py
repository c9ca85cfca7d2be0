"""Webhooks: created by owners and admins, secret shown once, signed test deliveries, deletion."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from heliograph.web.audit.models import AuditEntry, SecurityEventRecord
from heliograph.web.audit.trail import Actor
from heliograph.web.crypto_fields import reveal_secret
from heliograph.web.tenants.models import Role
from heliograph.web.webhooks.delivery import SIGNATURE_HEADER, sign, verify_signature
from heliograph.web.webhooks.models import Webhook, WebhookEvent
from heliograph.web.webhooks.services import webhook_create
from tests.web.members import Members, signed_in
from tests.web.test_invitations import free_port
from tests.web.test_security_headers import INLINE_HANDLER, STYLE_ATTRIBUTE

SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{43}")
EVENTS = [WebhookEvent.IAM.value, WebhookEvent.CONFIGURATION.value]


@dataclass
class Received:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on a loopback port that records every POST and answers ``status``."""

    port: int = 0
    status: int = 200
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/heliograph?source=test"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    received.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()
    thread.join()


def create(client: Client, url: str, events: list[str] = EVENTS) -> tuple[Webhook, str]:
    """Create a webhook through the page; return it and the secret the page showed."""
    response = client.post("/settings/webhooks/new/", {"url": url, "events": events})
    assert response.status_code == 200
    match = SECRET.search(response.content.decode())
    assert match is not None
    return Webhook.objects.latest("pk"), match.group(0)


def send_test(client: Client, hook: Webhook) -> str:
    response = client.post(f"/settings/webhooks/{hook.pk}/test/")
    assert response.status_code == 302
    assert response["Location"] == f"/settings/webhooks/?tested={hook.pk}"
    return client.get(response["Location"]).content.decode()


def test_a_test_delivery_arrives_signed_with_the_secret_shown_once(
    members: Members, receiver: Receiver
) -> None:
    client = signed_in(members.owner)
    hook, secret = create(client, receiver.url)
    page = send_test(client, hook)
    assert "Test delivery to" in page
    assert "succeeded: HTTP 200" in page
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got.path == "/hooks/heliograph?source=test"
    assert got.headers["Content-Type"] == "application/json"
    # The receiver's check, written out without Heliograph's code.
    signature = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", got.headers[SIGNATURE_HEADER])
    assert signature is not None
    stamp, mac = signature.groups()
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + got.body, hashlib.sha256)
    assert hmac.compare_digest(mac, expected.hexdigest())
    assert abs(time.time() - int(stamp)) < 60
    assert verify_signature(secret, got.headers[SIGNATURE_HEADER], got.body, now=int(stamp))
    document = json.loads(got.body)
    assert document["type"] == "webhook.test"
    assert document["tenant"] == {"id": members.site_a.tenant_id}
    assert document["data"]["webhook_id"] == hook.pk
    hook.refresh_from_db()
    assert (hook.last_delivery_ok, hook.last_delivery_detail) == (True, "HTTP 200")
    assert secret not in page  # shown once, at creation only


def test_the_secret_is_nowhere_but_sealed(members: Members, receiver: Receiver) -> None:
    client = signed_in(members.admin)
    hook, secret = create(client, receiver.url)
    send_test(client, hook)
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for values in cursor.fetchall():
                text = repr(values) + "".join(
                    bytes(v).decode("latin-1") for v in values if isinstance(v, bytes | memoryview)
                )
                assert secret not in text, table
                assert secret.removeprefix("whsec_") not in text, table
    listing = client.get("/settings/webhooks/").content.decode()
    assert secret not in listing
    assert "Set on" in listing  # write-only: the page says when, never what
    assert reveal_secret(Webhook.objects.get(pk=hook.pk), "signing_secret") == secret


def test_every_change_is_audited_in_the_tenant(members: Members, receiver: Receiver) -> None:
    client = signed_in(members.owner)
    hook, _ = create(client, receiver.url)
    send_test(client, hook)
    assert client.post(f"/settings/webhooks/{hook.pk}/replace-secret/").status_code == 200
    assert client.post(f"/settings/webhooks/{hook.pk}/delete/").status_code == 302
    entries = AuditEntry.objects.filter(entity="webhook", entity_id=str(hook.pk))
    assert [e.action for e in entries] == ["created", "test_sent", "secret_replaced", "deleted"]
    assert {e.tenant_id for e in entries} == {members.site_a.tenant_id}
    assert {e.actor_id for e in entries} == {members.owner.pk}
    assert entries[0].new == {"url": receiver.url, "events": sorted(EVENTS), "secret": "set"}
    assert entries[1].new == {"delivered": True, "detail": "HTTP 200"}
    events = SecurityEventRecord.objects.filter(action__startswith="webhook.")
    assert events.count() == 4
    security_page = client.get("/security/", {"action": "webhook."}).content.decode()
    assert "webhook.secret_replaced" in security_page


def test_a_replaced_secret_signs_from_then_on(members: Members, receiver: Receiver) -> None:
    client = signed_in(members.admin)
    hook, old = create(client, receiver.url)
    page = client.post(f"/settings/webhooks/{hook.pk}/replace-secret/").content.decode()
    match = SECRET.search(page)
    assert match is not None
    new = match.group(0)
    assert new != old
    send_test(client, hook)
    got = receiver.requests[-1]
    header = got.headers[SIGNATURE_HEADER]
    now = int(time.time())
    assert verify_signature(new, header, got.body, now=now)
    assert not verify_signature(old, header, got.body, now=now)


def test_a_failed_delivery_is_reported(members: Members, receiver: Receiver) -> None:
    client = signed_in(members.owner)
    receiver.status = 500
    hook, _ = create(client, receiver.url)
    assert "failed: HTTP 500" in send_test(client, hook)
    receiver.status = 302
    assert "redirects are not followed" in send_test(client, hook)
    nothing_there = replace(receiver, port=free_port())  # nothing listens there
    dead, _ = create(client, nothing_there.url)
    page = send_test(client, dead)
    assert "failed:" in page
    dead.refresh_from_db()
    assert dead.last_delivery_ok is False


def test_deleting_stops_deliveries_and_wipes_the_secret(
    members: Members, receiver: Receiver
) -> None:
    client = signed_in(members.owner)
    hook, _ = create(client, receiver.url)
    response = client.post(f"/settings/webhooks/{hook.pk}/delete/")
    assert response["Location"] == "/settings/webhooks/?deleted=1"
    assert "was deleted" in client.get(response["Location"]).content.decode()
    hook.refresh_from_db()
    assert hook.revoked_at is not None
    assert hook.signing_secret is None
    assert receiver.url not in client.get("/settings/webhooks/").content.decode()
    for action in ("test", "replace-secret", "delete"):
        assert client.post(f"/settings/webhooks/{hook.pk}/{action}/").status_code == 404
    assert receiver.requests == []


# -- what may be a webhook URL ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/hook", "must start with https://"),
        ("ftp://example.com/hook", "must start with https://"),
        ("https://user:pw@example.com/hook", "leave credentials out of the URL"),
        ("https:///hook", "the URL has no host"),
        ("https://example.com:http/", "the URL is not valid"),
        ("https://exa mple.com/", "enter a URL"),
    ],
)
def test_bad_urls_are_refused(members: Members, url: str, message: str) -> None:
    response = signed_in(members.owner).post(
        "/settings/webhooks/new/", {"url": url, "events": EVENTS}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Webhook.objects.exists()


def test_at_least_one_known_event_is_needed(members: Members) -> None:
    client = signed_in(members.owner)
    for events in ([], ["security.everything"]):
        response = client.post(
            "/settings/webhooks/new/", {"url": "https://example.com/", "events": events}
        )
        assert response.status_code == 400
    assert not Webhook.objects.exists()


def test_production_allows_only_https_and_public_addresses(
    members: Members, receiver: Receiver, settings: SettingsWrapper
) -> None:
    client = signed_in(members.owner)
    local, _ = create(client, receiver.url)  # allowed while developing
    settings.HELIOGRAPH = replace(settings.HELIOGRAPH, production=True)
    response = client.post("/settings/webhooks/new/", {"url": receiver.url, "events": EVENTS})
    assert response.status_code == 400
    assert "must start with https://" in response.content.decode()
    # An https URL whose host resolves to this machine (SSRF): refused before any connection.
    actor = Actor(user_id=members.owner.pk, label="test")
    internal = webhook_create(
        tenant=members.site_a.tenant,
        url=f"https://localhost:{receiver.port}/hook",
        events=EVENTS,
        created_by=members.owner,
        actor=actor,
    ).webhook
    for hook in (local, internal):
        assert "non-public address" in send_test(client, hook)
    assert receiver.requests == []


def test_a_signature_is_refused_when_stale_or_altered() -> None:
    body = b'{"type":"webhook.test"}'
    header = sign("whsec_x", 1_700_000_000, body)
    assert verify_signature("whsec_x", header, body, now=1_700_000_100)
    assert not verify_signature("whsec_x", header, body, now=1_700_000_000 + 301)
    assert not verify_signature("whsec_x", header, body + b" ", now=1_700_000_000)
    assert not verify_signature("whsec_y", header, body, now=1_700_000_000)
    assert not verify_signature("whsec_x", "v1=" + header.rpartition("v1=")[2], body, now=0)


# -- who may -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_manage_webhooks(
    members: Members, receiver: Receiver, role: Role
) -> None:
    client = signed_in(members.by_role(role))
    assert client.get("/settings/webhooks/").status_code == 200
    assert client.get("/settings/webhooks/new/").status_code == 200
    create(client, receiver.url)
    assert receiver.url in client.get("/settings/webhooks/").content.decode()
    assert b"Webhooks</a>" in client.get("/sites/").content


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_analysts_and_viewers_may_not(members: Members, receiver: Receiver, role: Role) -> None:
    hook, _ = create(signed_in(members.owner), receiver.url)
    client = signed_in(members.by_role(role))
    assert client.get("/settings/webhooks/").status_code == 403
    assert client.get("/settings/webhooks/new/").status_code == 403
    new = client.post("/settings/webhooks/new/", {"url": "https://x.example/", "events": EVENTS})
    assert new.status_code == 403
    for action in ("test", "replace-secret", "delete"):
        assert client.post(f"/settings/webhooks/{hook.pk}/{action}/").status_code == 403
    assert b"Webhooks</a>" not in client.get("/sites/").content
    assert Webhook.objects.count() == 1
    assert receiver.requests == []
    assert AuditEntry.objects.filter(entity="webhook").count() == 1


def test_the_pages_work_under_the_strict_policy(members: Members, receiver: Receiver) -> None:
    client = signed_in(members.owner)
    create(client, receiver.url)
    hook = Webhook.objects.get()
    pages = [
        client.get("/settings/webhooks/"),
        client.get("/settings/webhooks/new/"),
        client.post("/settings/webhooks/new/", {"url": "http://x.example/", "events": EVENTS}),
        client.post(f"/settings/webhooks/{hook.pk}/replace-secret/"),
        client.get(f"/settings/webhooks/?tested={hook.pk}"),
    ]
    for response in pages:
        html = response.content.decode()
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert "<script" not in html.lower()
        assert "<style" not in html.lower()
        assert not INLINE_HANDLER.search(html)
        assert not STYLE_ATTRIBUTE.search(html)
        assert "no-store" in response["Cache-Control"]
