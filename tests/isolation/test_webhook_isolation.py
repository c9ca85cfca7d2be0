"""Cross-tenant probes of the webhook pages: another tenant's webhook answers like a missing one."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from heliograph.web.audit.models import AuditEntry
from heliograph.web.audit.trail import Actor
from heliograph.web.tenants.models import Role
from heliograph.web.webhooks.models import Webhook, WebhookEvent
from heliograph.web.webhooks.services import webhook_create
from tests.web.members import Members, members, signed_in

__all__ = ["members"]  # the fixture, imported so that this directory can use it

# (route name, HTTP method) of every route that takes a webhook id.
WEBHOOK_ROUTES = [
    ("webhooks:test", "post"),
    ("webhooks:replace_secret", "post"),
    ("webhooks:delete", "post"),
]
MISSING_ID = 987_654_321
B_URL = "https://b-private-receiver.example/hooks/b-secret"
UNCOMPARABLE_HEADERS = ("Expires", "Date")  # clock-derived


def _comparable(response: HttpResponse) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in UNCOMPARABLE_HEADERS}


def _hook(members: Members, *, of_b: bool) -> Webhook:
    tenant = members.site_b.tenant if of_b else members.site_a.tenant
    owner = members.owner_b if of_b else members.owner
    return webhook_create(
        tenant=tenant,
        url=B_URL if of_b else "https://a-receiver.example/hook",
        events=[WebhookEvent.IAM.value],
        created_by=owner,
        actor=Actor(user_id=owner.pk, label="owner"),
    ).webhook


def _unchanged(hook: Webhook) -> None:
    stored = Webhook.objects.get(pk=hook.pk)
    assert stored.revoked_at is None
    assert stored.signing_secret == hook.signing_secret
    assert stored.secret_set_at == hook.secret_set_at
    assert stored.last_delivery_at is None
    assert AuditEntry.objects.filter(entity="webhook", entity_id=str(hook.pk)).count() == 1


@pytest.mark.parametrize(("route", "method"), WEBHOOK_ROUTES)
def test_another_tenants_webhook_answers_like_a_missing_one(
    members: Members, route: str, method: str
) -> None:
    theirs = _hook(members, of_b=True)
    client = signed_in(members.owner)  # the highest role: no role check stops the probe early
    send = client.post if method == "post" else client.get
    foreign = send(reverse(route, args=[theirs.pk]))
    missing = send(reverse(route, args=[MISSING_ID]))
    huge = send(reverse(route, args=[2**64]))
    assert foreign.status_code == missing.status_code == huge.status_code == 404
    assert foreign.content == missing.content == huge.content
    assert _comparable(foreign) == _comparable(missing)
    assert B_URL.encode() not in foreign.content
    _unchanged(theirs)


@pytest.mark.parametrize(("route", "method"), WEBHOOK_ROUTES)
def test_a_low_role_is_refused_before_any_webhook_lookup(
    members: Members, route: str, method: str
) -> None:
    theirs, ours = _hook(members, of_b=True), _hook(members, of_b=False)
    for role in (Role.VIEWER, Role.ANALYST):
        client = signed_in(members.by_role(role))
        send = client.post if method == "post" else client.get
        answers = [send(reverse(route, args=[i])) for i in (ours.pk, theirs.pk, MISSING_ID)]
        assert [a.status_code for a in answers] == [403, 403, 403]
        assert answers[0].content == answers[1].content == answers[2].content
    _unchanged(theirs)
    _unchanged(ours)


def test_anonymous_webhook_probes_learn_nothing(members: Members) -> None:
    theirs = _hook(members, of_b=True)
    client = Client()
    for route, method in WEBHOOK_ROUTES:
        send = client.post if method == "post" else client.get
        foreign = send(reverse(route, args=[theirs.pk]))
        missing = send(reverse(route, args=[MISSING_ID]))
        assert foreign.status_code == missing.status_code == 302
        assert foreign["Location"].startswith("/sign-in/?next=")
    _unchanged(theirs)


def test_the_list_shows_only_the_current_tenants_webhooks(members: Members) -> None:
    theirs, ours = _hook(members, of_b=True), _hook(members, of_b=False)
    page = signed_in(members.owner).get("/settings/webhooks/").content.decode()
    assert ours.url in page
    assert B_URL not in page
    # A test result named by B's id is not announced on A's page.
    tested = signed_in(members.owner).get(f"/settings/webhooks/?tested={theirs.pk}")
    assert B_URL not in tested.content.decode()
    assert B_URL in signed_in(members.owner_b).get("/settings/webhooks/").content.decode()
