"""Sign-in, sign-out, the tenant switcher and the role gate of every view."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.contrib.auth import hashers
from django.contrib.auth.models import User
from django.test import Client

from heliograph.core.errors import InputError
from heliograph.web.accounts.access import SESSION_TENANT
from heliograph.web.accounts.forms import SIGN_IN_FAILED
from heliograph.web.accounts.services import membership_grant, user_create
from heliograph.web.tenants.models import Membership, Role
from tests.web.members import Members, signed_in

PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(rb'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]+">')


@pytest.fixture
def ana(members: Members) -> User:
    """A member of tenant A with a real password."""
    return user_create(
        email="Ana@Example.com", password=PASSWORD, tenant=members.site_a.tenant, role=Role.ADMIN
    )


def sign_in(client: Client, email: str, password: str, **extra: str) -> object:
    return client.post("/sign-in/", {"email": email, "password": password, **extra})


def without_csrf(body: bytes) -> bytes:
    return CSRF_INPUT.sub(b"", body)


def test_sign_in_page_has_a_csrf_protected_form(members: Members) -> None:
    response = Client().get("/sign-in/")
    assert response.status_code == 200
    assert CSRF_INPUT.search(response.content)
    assert b'autocomplete="current-password"' in response.content


def test_sign_in_with_the_right_password_opens_a_session_in_the_tenant(
    ana: User, members: Members
) -> None:
    client = Client()
    response = sign_in(client, "  ana@EXAMPLE.com ", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_TENANT] == members.site_a.tenant_id
    home = client.get("/")
    assert home["Location"] == f"/sites/{members.site_a.pk}/overview/"


def test_wrong_password_and_unknown_email_fail_alike(ana: User) -> None:
    wrong = sign_in(Client(), "ana@example.com", "not the password at all")
    unknown = sign_in(Client(), "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 200
    assert SIGN_IN_FAILED.encode() in wrong.content
    # The form echoes the e-mail typed; apart from that and the CSRF token, the pages are equal.
    assert without_csrf(wrong.content).replace(b"ana@example.com", b"EMAIL") == without_csrf(
        unknown.content
    ).replace(b"nobody@example.com", b"EMAIL")
    assert "_auth_user_id" not in wrong.wsgi_request.session


def test_an_unknown_email_costs_a_password_hash_too(members: Members) -> None:
    with mock.patch(
        "django.contrib.auth.base_user.make_password", wraps=hashers.make_password
    ) as hashing:
        sign_in(Client(), "nobody@example.com", "some password of a guess")
    assert hashing.call_count == 1


def test_a_user_without_a_tenant_cannot_sign_in(ana: User) -> None:
    Membership.objects.filter(user=ana).delete()
    response = sign_in(Client(), "ana@example.com", PASSWORD)
    assert response.status_code == 200
    assert SIGN_IN_FAILED.encode() in response.content


def test_an_inactive_user_cannot_sign_in(ana: User) -> None:
    User.objects.filter(pk=ana.pk).update(is_active=False)
    response = sign_in(Client(), "ana@example.com", PASSWORD)
    assert SIGN_IN_FAILED.encode() in response.content


def test_an_empty_form_fails_with_the_same_message(members: Members) -> None:
    response = Client().post("/sign-in/", {"email": "", "password": ""})
    assert SIGN_IN_FAILED.encode() in response.content


def test_sign_in_returns_to_a_local_next_page_only(ana: User, members: Members) -> None:
    local = f"/sites/{members.site_a.pk}/pages/"
    assert sign_in(Client(), "ana@example.com", PASSWORD, next=local)["Location"] == local
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = sign_in(Client(), "ana@example.com", PASSWORD, next=target)
        assert response["Location"] == "/"


def test_sign_in_requires_the_csrf_token(ana: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = sign_in(client, "ana@example.com", PASSWORD)
    assert response.status_code == 403
    assert b"form has expired" in response.content


def test_sign_out_is_a_post(members: Members) -> None:
    client = signed_in(members.viewer)
    assert client.get("/sign-out/").status_code == 405
    assert client.post("/sign-out/")["Location"] == "/sign-in/"
    assert client.get("/sites/")["Location"].startswith("/sign-in/?next=")


def test_anonymous_visitors_are_sent_to_sign_in(members: Members) -> None:
    client = Client()
    assert client.get("/")["Location"] == "/sign-in/"
    response = client.get(f"/sites/{members.site_a.pk}/overview/")
    assert response.status_code == 302
    assert response["Location"] == f"/sign-in/?next=/sites/{members.site_a.pk}/overview/"


def test_a_member_of_two_tenants_switches_between_them(members: Members) -> None:
    membership_grant(user=members.viewer, tenant=members.site_b.tenant, role=Role.VIEWER)
    client = signed_in(members.viewer)
    page = client.get("/sites/")
    assert b"A site" in page.content
    assert b"B site" not in page.content
    assert b'name="tenant"' in page.content  # the switcher appears with two tenants
    assert client.post("/tenant/switch/", {"tenant": members.site_b.tenant_id}).status_code == 302
    page = client.get("/sites/")
    assert b"B site" in page.content
    assert b"A site" not in page.content
    # Acting in B, A's site is as unknown as any missing site.
    assert client.get(f"/sites/{members.site_a.pk}/").status_code == 404


def test_switching_to_a_foreign_tenant_is_not_found(members: Members) -> None:
    client = signed_in(members.owner)
    foreign = client.post("/tenant/switch/", {"tenant": members.site_b.tenant_id})
    missing = client.post("/tenant/switch/", {"tenant": 987654})
    garbage = client.post("/tenant/switch/", {"tenant": "x"})
    assert foreign.status_code == missing.status_code == garbage.status_code == 404
    assert foreign.content == missing.content == garbage.content
    assert client.session[SESSION_TENANT] == members.site_a.tenant_id


def test_a_revoked_member_is_signed_out(members: Members) -> None:
    client = signed_in(members.analyst)
    assert client.get("/sites/").status_code == 200
    Membership.objects.filter(user=members.analyst).delete()
    assert client.get("/sites/")["Location"].startswith("/sign-in/")
    assert "_auth_user_id" not in client.session


def test_a_stale_session_tenant_falls_back_to_a_current_membership(members: Members) -> None:
    client = signed_in(members.owner)
    session = client.session
    session[SESSION_TENANT] = members.site_b.tenant_id  # never the owner's tenant
    session.save()
    page = client.get("/sites/")
    assert b"A site" in page.content
    assert b"B site" not in page.content


@pytest.mark.parametrize(
    ("role", "manages"),
    [(Role.OWNER, True), (Role.ADMIN, True), (Role.ANALYST, False), (Role.VIEWER, False)],
)
def test_each_role_sees_what_it_may_do(members: Members, role: Role, manages: bool) -> None:
    client = signed_in(members.by_role(role))
    site = members.site_a
    assert client.get("/sites/").status_code == 200
    assert client.get(f"/sites/{site.pk}/").status_code == 200
    assert client.get(f"/sites/{site.pk}/overview/").status_code == 200
    assert client.get("/sites/new/").status_code == (200 if manages else 403)
    detail = client.get(f"/sites/{site.pk}/").content
    assert (b"rotate-key" in detail) is manages
    assert (b"New site" in client.get("/sites/").content) is manages


def test_user_create_refuses_short_passwords_and_duplicates(members: Members) -> None:
    tenant = members.site_a.tenant
    with pytest.raises(InputError, match="12"):
        user_create(
            email="short@example.com", password=PASSWORD[:5], tenant=tenant, role=Role.VIEWER
        )
    user_create(email="x@example.com", password=PASSWORD, tenant=tenant, role=Role.VIEWER)
    with pytest.raises(InputError, match="exists"):
        user_create(email="X@example.com", password=PASSWORD, tenant=tenant, role=Role.VIEWER)


def test_sign_in_attempts_are_security_events(ana: User, members: Members) -> None:
    with mock.patch("heliograph.core.security_events.record") as record:
        sign_in(Client(), "ana@example.com", "wrong password, twelve+")
        sign_in(Client(), "ana@example.com", PASSWORD)
    failure, success = (call.args[0] for call in record.call_args_list)
    assert (failure.action, failure.outcome, failure.user_id) == ("user.login", "failure", None)
    assert (success.action, success.outcome) == ("user.login", "success")
    assert (success.user_id, success.tenant_id) == (ana.pk, members.site_a.tenant_id)
    assert "ana@example.com" not in repr(failure.document())
