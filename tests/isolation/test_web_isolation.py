"""Cross-tenant probes of the web app: another tenant's objects look exactly like missing ones.

Every route that names an object is listed in OBJECT_ROUTES; a test fails when a route with an
object id is added without a probe here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from heliograph.web.accounts.invitations import invitation_create
from heliograph.web.accounts.models import Invitation
from heliograph.web.audit.trail import Actor
from heliograph.web.sites.services import site_rotate_key
from heliograph.web.tenants.models import Membership, Role
from tests.isolation.test_webhook_isolation import WEBHOOK_ROUTES
from tests.web.factories import DAY, DAY_QUERY, Visit, write_visits
from tests.web.members import Members, members, signed_in

MISSING_ID = 987_654_321
SECRET_PATH = "/b-secret-pricing"
# (route name, HTTP method) of every route that takes an object id.
__all__ = ["members"]  # the fixture, imported so that this directory can use it

OBJECT_ROUTES = [
    ("sites:detail", "get"),
    ("sites:rotate_key", "post"),
    ("dashboards:overview", "get"),
    ("dashboards:pages", "get"),
    ("dashboards:sources", "get"),
    ("dashboards:devices", "get"),
    ("dashboards:heatmap", "get"),
    ("dashboards:scroll", "get"),
]
# Routes that take an invitation id, and the invitation link (its token is the capability).
INVITATION_ROUTES = [("accounts:revoke_invitation", "post")]
TOKEN_ROUTES = [("accounts:invitation", "get"), ("accounts:invitation", "post")]


def _routes(
    patterns: list[URLPattern | URLResolver], namespace: str = ""
) -> Iterator[tuple[str, set[str]]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            converters = set(pattern.pattern.converters)
            for name, params in _routes(pattern.url_patterns, inner):
                yield name, params | converters
        elif pattern.name:
            yield f"{namespace}{pattern.name}", set(pattern.pattern.converters)


def test_every_route_with_an_object_id_is_probed() -> None:
    with_ids = {name for name, params in _routes(get_resolver().url_patterns) if params - {"path"}}
    probed = OBJECT_ROUTES + INVITATION_ROUTES + TOKEN_ROUTES + WEBHOOK_ROUTES
    assert with_ids == {name for name, _ in probed}


@pytest.fixture
def b_has_data(members: Members) -> Members:
    """Tenant B's site has traffic with a recognisable path, referrer and selector."""
    write_visits(
        members.site_b,
        Visit(
            SECRET_PATH,
            at=DAY + timedelta(hours=9),
            referrer="https://b-partner.example/",
            browser="B-Browser",
            depth=90,
            clicks=(("#b-secret-button", 40, 40),),
        ),
    )
    return members


def _url(route: str, object_id: int) -> str:
    from django.urls import reverse

    return reverse(route, args=[object_id])


def _secrets(members: Members) -> list[str]:
    site = members.site_b
    return [
        site.name,
        site.key,
        SECRET_PATH,
        "b-partner.example",
        "B-Browser",
        "b-secret-button",
        "Tenant B",
    ]


@pytest.mark.parametrize(("route", "method"), OBJECT_ROUTES)
def test_another_tenants_object_answers_like_a_missing_one(
    b_has_data: Members, route: str, method: str
) -> None:
    members = b_has_data
    client = signed_in(members.owner)  # the highest role: no role check stops the probe early
    query = {**DAY_QUERY, "path": SECRET_PATH}
    send = client.post if method == "post" else client.get
    foreign = send(_url(route, members.site_b.pk), query)
    missing = send(_url(route, MISSING_ID), query)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert dict(foreign.headers) == dict(missing.headers)
    body = foreign.content.decode()
    for secret in _secrets(members):
        assert secret not in body
    members.site_b.refresh_from_db()
    assert members.site_b.key_rotated_at is None


@pytest.mark.parametrize(("route", "method"), OBJECT_ROUTES)
def test_a_low_role_is_refused_before_any_lookup(
    b_has_data: Members, route: str, method: str
) -> None:
    """A viewer gets the same answer for its own, another tenant's and a missing object."""
    members = b_has_data
    client = signed_in(members.viewer)
    send = client.post if method == "post" else client.get
    answers = [send(_url(route, i), DAY_QUERY) for i in (members.site_a.pk, members.site_b.pk)]
    missing = send(_url(route, MISSING_ID), DAY_QUERY)
    if answers[0].status_code == 200:  # a read the viewer may do: only B's object is missing
        assert answers[1].status_code == missing.status_code == 404
        assert answers[1].content == missing.content
    else:  # a change the viewer may not make: refused alike, whoever owns the object
        assert answers[0].status_code == answers[1].status_code == missing.status_code == 403
        assert answers[0].content == answers[1].content == missing.content


@pytest.mark.parametrize("page", ["overview", "pages", "sources", "devices", "heatmap", "scroll"])
def test_own_dashboards_never_show_the_other_tenants_events(b_has_data: Members, page: str) -> None:
    members = b_has_data
    write_visits(members.site_a, Visit("/a-page", at=DAY + timedelta(hours=9)))
    client = signed_in(members.owner)
    # Even asking A's own maps for B's path only ever reads A's rows.
    response = client.get(
        _url(f"dashboards:{page}", members.site_a.pk), {**DAY_QUERY, "path": SECRET_PATH}
    )
    assert response.status_code == 200
    body = response.content.decode()
    # The maps echo the path asked for; nothing else of B may appear.
    for secret in _secrets(members):
        assert secret not in body or secret == SECRET_PATH, secret
    if page not in ("heatmap", "scroll"):
        assert SECRET_PATH not in body
    assert "0 clicks" in body or page != "heatmap"
    assert "0 page views" in body or page != "scroll"


def test_lists_show_only_the_current_tenants_sites(b_has_data: Members) -> None:
    members = b_has_data
    page = signed_in(members.owner).get("/sites/").content.decode()
    assert members.site_a.name in page
    for secret in _secrets(members):
        assert secret not in page
    overview = signed_in(members.owner).get(_url("dashboards:overview", members.site_a.pk))
    assert members.site_b.name not in overview.content.decode()  # the site picker


@pytest.mark.parametrize(("route", "method"), OBJECT_ROUTES)
def test_absurd_ids_are_simply_missing(members: Members, route: str, method: str) -> None:
    client = signed_in(members.owner)
    send = client.post if method == "post" else client.get
    huge = send(_url(route, 2**64))
    missing = send(_url(route, MISSING_ID))
    assert huge.status_code == missing.status_code == 404
    assert huge.content == missing.content


def test_switching_into_another_tenant_is_not_found(b_has_data: Members) -> None:
    members = b_has_data
    client = signed_in(members.owner)
    foreign = client.post("/tenant/switch/", {"tenant": members.site_b.tenant_id})
    missing = client.post("/tenant/switch/", {"tenant": MISSING_ID})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert members.site_a.name in client.get("/sites/").content.decode()


def test_b_sees_its_own_data(b_has_data: Members) -> None:
    """The probes above are meaningful: B's owner does see B's secrets."""
    members = b_has_data
    client = signed_in(members.owner_b)
    html = client.get(_url("dashboards:heatmap", members.site_b.pk), {**DAY_QUERY}).content.decode()
    assert SECRET_PATH in html
    assert "b-secret-button" in html


def test_anonymous_probes_learn_nothing(b_has_data: Members) -> None:
    client = Client()
    for route, method in OBJECT_ROUTES:
        send = client.post if method == "post" else client.get
        foreign = send(_url(route, b_has_data.site_b.pk))
        missing = send(_url(route, MISSING_ID))
        assert foreign.status_code == missing.status_code == 302
        assert foreign["Location"].startswith("/sign-in/?next=")


# -- invitations ------------------------------------------------------------------------------

B_INVITEE = "b-invitee@example.com"
UNCOMPARABLE_HEADERS = ("Expires", "Date")  # clock-derived


def _comparable(response: HttpResponse) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in UNCOMPARABLE_HEADERS}


def _b_invites(members: Members, email: str = B_INVITEE) -> tuple[Invitation, str]:
    """Tenant B's owner invites ``email``; return the invitation and its token."""
    actor = Actor(user_id=members.owner_b.pk, label="b owner")
    created = invitation_create(
        tenant=members.site_b.tenant, email=email, role=Role.VIEWER, actor=actor
    )
    return created.invitation, created.link.rstrip("/").rsplit("/", 1)[1]


@pytest.mark.parametrize(("route", "method"), INVITATION_ROUTES)
def test_another_tenants_invitation_answers_like_a_missing_one(
    members: Members, route: str, method: str
) -> None:
    theirs, _ = _b_invites(members)
    client = signed_in(members.owner)
    send = client.post if method == "post" else client.get
    foreign = send(_url(route, theirs.pk))
    missing = send(_url(route, MISSING_ID))
    huge = send(_url(route, 2**64))
    assert foreign.status_code == missing.status_code == huge.status_code == 404
    assert foreign.content == missing.content == huge.content
    assert _comparable(foreign) == _comparable(missing)
    assert B_INVITEE.encode() not in foreign.content
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.parametrize(("route", "method"), INVITATION_ROUTES)
def test_a_low_role_is_refused_before_any_invitation_lookup(
    members: Members, route: str, method: str
) -> None:
    theirs, _ = _b_invites(members)
    actor = Actor(user_id=members.owner.pk, label="a owner")
    ours = invitation_create(
        tenant=members.site_a.tenant, email="a-invitee@example.com", role=Role.VIEWER, actor=actor
    ).invitation
    for role in (Role.VIEWER, Role.ANALYST):
        client = signed_in(members.by_role(role))
        send = client.post if method == "post" else client.get
        answers = [send(_url(route, i)) for i in (ours.pk, theirs.pk, MISSING_ID)]
        assert [a.status_code for a in answers] == [403, 403, 403]
        assert answers[0].content == answers[1].content == answers[2].content
    assert not Invitation.objects.exclude(revoked_at=None).exists()


def test_anonymous_invitation_probes_learn_nothing(members: Members) -> None:
    theirs, _ = _b_invites(members)
    client = Client()
    for route, method in INVITATION_ROUTES:
        send = client.post if method == "post" else client.get
        foreign = send(_url(route, theirs.pk))
        missing = send(_url(route, MISSING_ID))
        assert foreign.status_code == missing.status_code == 302
        assert foreign["Location"].startswith("/sign-in/?next=")


@pytest.mark.parametrize(("route", "method"), TOKEN_ROUTES)
def test_dead_tokens_and_ids_answer_like_unknown_tokens(
    members: Members, route: str, method: str
) -> None:
    """An invitation id, a used, revoked or expired token: all read like a made-up token."""
    used_invitation, used = _b_invites(members, "used@example.com")
    revoked_invitation, revoked = _b_invites(members, "revoked@example.com")
    expired_invitation, expired = _b_invites(members, "expired@example.com")
    Invitation.objects.filter(pk=used_invitation.pk).update(accepted_at=timezone.now())
    Invitation.objects.filter(pk=revoked_invitation.pk).update(revoked_at=timezone.now())
    Invitation.objects.filter(pk=expired_invitation.pk).update(expires_at=timezone.now())
    client = signed_in(members.owner)  # signed in to A, probing B's links
    send = client.post if method == "post" else client.get
    unknown = send(reverse(route, args=["x" * 43]))
    for token in (used, revoked, expired, str(used_invitation.pk), "x" * 44, "%2e%2e"):
        answer = send(reverse(route, args=[token]))
        assert answer.status_code == unknown.status_code == 404
        assert answer.content == unknown.content
        assert _comparable(answer) == _comparable(unknown)
        assert b"Tenant B" not in answer.content
    assert not Membership.objects.filter(tenant=members.site_b.tenant, user=members.owner).exists()


def test_the_members_page_shows_only_the_current_tenant(members: Members) -> None:
    _b_invites(members)
    html = signed_in(members.owner).get("/members/").content.decode()
    assert members.viewer.email in html
    for secret in (B_INVITEE, members.owner_b.email, "Tenant B"):
        assert secret not in html


def test_the_security_page_shows_only_the_current_tenant(members: Members) -> None:
    _b_invites(members)
    site_rotate_key(site=members.site_b)
    html = signed_in(members.owner).get("/security/").content.decode()
    assert "tenant.created" in html  # A's own rows are there
    for secret in (B_INVITEE, members.site_b.key, "invitation.created", "Tenant B"):
        assert secret not in html
