"""Invitations by e-mail link, delivered through a real SMTP server on the loopback interface."""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from heliograph.core.config import load_settings
from heliograph.core.errors import ConfigError, InputError
from heliograph.web.accounts.invitations import INVITATION_LIFETIME, invitation_create
from heliograph.web.accounts.models import Invitation
from heliograph.web.accounts.services import user_create
from heliograph.web.audit.models import AuditEntry, SecurityEventRecord
from heliograph.web.audit.trail import Actor
from heliograph.web.tenants.models import Membership, Role
from tests.web.members import Members, signed_in
from tests.web.test_security_headers import INLINE_HANDLER, POLICY, STYLE_ATTRIBUTE

PASSWORD = "correct horse battery staple"
NEW = "new.person@example.com"
LINK = re.compile(r"http://[^/\s\"]+/invitations/([A-Za-z0-9_-]{43})/")
NOT_VALID = b"This invitation is not valid"


@dataclass
class Inbox:
    """What the SMTP server received: one (envelope recipients, parsed message) per mail."""

    port: int
    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def only(self) -> EmailMessage:
        assert len(self.mails) == 1
        return self.mails[0][1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def point_mail_at(settings: SettingsWrapper, port: int) -> None:
    """Send e-mail with Django's SMTP backend to 127.0.0.1:``port``, in clear text."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "heliograph@example.com"


@pytest.fixture
def inbox(settings: SettingsWrapper) -> Iterator[Inbox]:
    """A real SMTP server on a free loopback port that keeps every message it receives."""
    received = Inbox(port=free_port())
    controller = Controller(received, hostname="127.0.0.1", port=received.port)
    controller.start()
    point_mail_at(settings, received.port)
    yield received
    controller.stop()


@pytest.fixture
def mail_off(settings: SettingsWrapper) -> None:
    settings.EMAIL_HOST = ""


def invite(client: Client, email: str = NEW, role: Role = Role.ANALYST) -> Any:
    return client.post("/members/", {"email": email, "role": role.value})


def token_of(mail: EmailMessage) -> str:
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    match = LINK.search(text.get_content())
    assert match is not None
    return match.group(1)


def invite_by_mail(members: Members, inbox: Inbox, email: str = NEW) -> str:
    """Have tenant A's admin invite ``email`` as analyst; return the token from the e-mail."""
    response = invite(signed_in(members.admin), email)
    assert response.status_code == 200
    return token_of(inbox.mails[-1][1])


def invite_directly(members: Members, email: str = NEW, role: Role = Role.ANALYST) -> str:
    """Invite through the service (e-mail off); return the token from the link."""
    actor = Actor(user_id=members.owner.pk, label="test")
    created = invitation_create(tenant=members.site_a.tenant, email=email, role=role, actor=actor)
    match = LINK.search(created.link)
    assert match is not None
    return match.group(1)


def url(token: str) -> str:
    return f"/invitations/{token}/"


# -- the e-mail -------------------------------------------------------------------------------


def test_the_invitation_arrives_by_smtp_with_a_link_and_its_expiry(
    members: Members, inbox: Inbox
) -> None:
    response = invite(signed_in(members.admin), "  New.Person@Example.com ")
    assert response.status_code == 200
    assert b"Invitation sent to" in response.content
    recipients, mail = inbox.mails[0]
    assert recipients == [NEW]
    assert mail["To"] == NEW
    assert mail["From"] == "heliograph@example.com"
    assert mail["Subject"] == f"{members.admin.email} invited you to Tenant A on Heliograph"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    token = token_of(mail)
    link = f"{django_settings.HELIOGRAPH.base_url}/invitations/{token}/"
    invitation = Invitation.objects.get(email=NEW)
    expiry = invitation.expires_at.strftime("%b %-d, %Y %H:%M")  # the tenant's zone is UTC
    for part in (text.get_content(), html.get_content()):
        assert link in part
        assert "Tenant A" in part
        assert members.admin.email in part
        assert expiry in part
    assert f'href="{link}"' in html.get_content()
    assert invitation.expires_at - invitation.created_at == INVITATION_LIFETIME
    assert invitation.role == Role.ANALYST
    assert invitation.invited_by == members.admin


def test_the_token_is_in_no_database_column(members: Members, inbox: Inbox) -> None:
    token = invite_by_mail(members, inbox)
    assert len(token) >= 43  # 32 random bytes, URL-safe
    invitation = Invitation.objects.get(email=NEW)
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                assert token not in repr(row), table


def test_a_mail_server_that_is_down_is_reported_not_a_crash(
    members: Members, settings: SettingsWrapper
) -> None:
    point_mail_at(settings, free_port())  # nothing listens there
    client = signed_in(members.admin)
    response = invite(client)
    assert response.status_code == 200
    assert b"could not be sent" in response.content
    invitation = Invitation.objects.get(email=NEW)
    assert invitation.revoked_at is None
    failure = SecurityEventRecord.objects.get(action="invitation.mail_failed")
    assert failure.outcome == "failure"
    assert failure.tenant_id == members.site_a.tenant_id
    assert failure.document["labels"]["entity_id"] == str(invitation.pk)
    assert failure.document["user"] == {"id": members.admin.pk}
    assert NEW not in repr(failure.document)
    assert b"Revoke" in client.get("/members/").content
    revoked = client.post(f"/members/invitations/{invitation.pk}/revoke/")
    assert revoked.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_with_mail_off_the_admin_gets_the_link(members: Members, mail_off: None) -> None:
    response = invite(signed_in(members.admin))
    body = response.content.decode()
    assert "E-mail is off" in body
    match = LINK.search(body)
    assert match is not None
    assert Client().get(url(match.group(1))).status_code == 200
    later = signed_in(members.admin).get("/members/").content.decode()
    assert match.group(1) not in later  # the link is shown once


# -- accepting --------------------------------------------------------------------------------


def test_a_new_user_accepts_with_a_password(members: Members, inbox: Inbox) -> None:
    token = invite_by_mail(members, inbox)
    client = Client()
    page = client.get(url(token))
    assert page.status_code == 200
    assert b"Choose a password" in page.content
    assert "no-store" in page["Cache-Control"]
    short = client.post(url(token), {"password": "too short", "repeat": "too short"})
    assert short.status_code == 400
    assert b"12 to 128 characters" in short.content
    differ = client.post(url(token), {"password": PASSWORD, "repeat": PASSWORD + "!"})
    assert differ.status_code == 400
    assert not User.objects.filter(username=NEW).exists()
    done = client.post(url(token), {"password": PASSWORD, "repeat": PASSWORD})
    assert done.status_code == 302
    user = User.objects.get(username=NEW)
    assert user.check_password(PASSWORD)
    membership = Membership.objects.get(user=user)
    assert (membership.tenant_id, membership.role) == (members.site_a.tenant_id, Role.ANALYST)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/sites/").status_code == 200
    assert Invitation.objects.get(email=NEW).accepted_at is not None


def test_an_existing_user_signs_in_first_then_joins(members: Members, inbox: Inbox) -> None:
    outsider = user_create(
        email="bo@example.com", password=PASSWORD, tenant=members.site_b.tenant, role=Role.VIEWER
    )
    token = invite_by_mail(members, inbox, "Bo@example.com")
    client = Client()
    page = client.get(url(token))
    assert page.status_code == 200
    sign_in = f"/sign-in/?next=%2Finvitations%2F{token}%2F"
    assert f'href="{sign_in}"'.encode() in page.content
    assert client.post(url(token)).status_code == 200  # a POST without a session changes nothing
    assert not Membership.objects.filter(user=outsider, tenant=members.site_a.tenant).exists()
    signed = client.post(sign_in, {"email": "bo@example.com", "password": PASSWORD})
    assert signed["Location"] == url(token)
    assert b"Join Tenant A" in client.get(url(token)).content
    joined = client.post(url(token))
    assert joined.status_code == 302
    membership = Membership.objects.get(user=outsider, tenant=members.site_a.tenant)
    assert membership.role == Role.ANALYST
    assert b"A site" in client.get("/sites/").content  # acting in the new tenant now


def test_another_signed_in_user_cannot_accept(members: Members, inbox: Inbox) -> None:
    token = invite_by_mail(members, inbox, members.owner_b.email)
    client = signed_in(members.viewer)
    page = client.get(url(token))
    assert page.status_code == 403
    assert b"but this invitation is for" in page.content
    assert client.post(url(token)).status_code == 403
    assert not Membership.objects.filter(
        user=members.owner_b, tenant=members.site_a.tenant
    ).exists()
    assert Invitation.objects.get(email=members.owner_b.email).accepted_at is None


def test_a_link_works_once(members: Members, inbox: Inbox) -> None:
    token = invite_by_mail(members, inbox)
    client = Client()
    assert client.post(url(token), {"password": PASSWORD, "repeat": PASSWORD}).status_code == 302
    again = Client().post(url(token), {"password": PASSWORD + "x", "repeat": PASSWORD + "x"})
    assert again.status_code == 404
    assert NOT_VALID in again.content
    assert User.objects.get(username=NEW).check_password(PASSWORD)


def test_used_expired_revoked_and_unknown_links_look_the_same(members: Members) -> None:
    used, expired, revoked = (invite_directly(members, f"{n}@example.com") for n in "abc")
    Client().post(url(used), {"password": PASSWORD, "repeat": PASSWORD})
    Invitation.objects.filter(email="b@example.com").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    Invitation.objects.filter(email="c@example.com").update(revoked_at=timezone.now())
    unknown = "A" * 43
    answers = [Client().get(url(token)) for token in (used, expired, revoked, unknown, "short")]
    assert {answer.status_code for answer in answers} == {404}
    assert {answer.content for answer in answers} == {answers[0].content}
    assert NOT_VALID in answers[0].content
    reasons = SecurityEventRecord.objects.filter(action="invitation.rejected").order_by("seq")
    assert [r.document["labels"]["reason"] for r in reasons] == [
        "accepted",
        "expired",
        "revoked",
        "unknown",
        "malformed",
    ]
    for record in reasons:
        assert record.document["http"]["url"]["path"] == "/invitations/<token>/"


def test_an_expired_link_cannot_be_accepted(members: Members) -> None:
    token = invite_directly(members)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().post(url(token), {"password": PASSWORD, "repeat": PASSWORD})
    assert response.status_code == 404
    assert not User.objects.filter(username=NEW).exists()


def test_an_inviter_who_lost_the_role_voids_the_invitation(members: Members) -> None:
    token = invite_directly(members, role=Role.OWNER)
    Membership.objects.filter(user=members.owner).update(role=Role.ADMIN)
    assert Client().get(url(token)).status_code == 404


# -- the Members page -------------------------------------------------------------------------


def test_revoking_kills_the_link(members: Members, inbox: Inbox) -> None:
    token = invite_by_mail(members, inbox)
    client = signed_in(members.admin)
    invitation = Invitation.objects.get(email=NEW)
    page = client.get("/members/").content.decode()
    assert NEW in page
    assert f"/members/invitations/{invitation.pk}/revoke/" in page
    response = client.post(f"/members/invitations/{invitation.pk}/revoke/")
    assert response["Location"] == "/members/?revoked=1"
    assert Client().get(url(token)).status_code == 404
    again = client.post(f"/members/invitations/{invitation.pk}/revoke/")
    assert again.status_code == 409
    assert client.get(f"/members/invitations/{invitation.pk}/revoke/").status_code == 405


def test_inviting_again_replaces_the_pending_invitation(members: Members, inbox: Inbox) -> None:
    first = invite_by_mail(members, inbox)
    second = invite_by_mail(members, inbox)
    assert len(inbox.mails) == 2
    assert Client().get(url(first)).status_code == 404
    assert Client().get(url(second)).status_code == 200
    states = Invitation.objects.filter(email=NEW).order_by("pk")
    assert [i.revoked_at is None for i in states] == [False, True]
    replaced = AuditEntry.objects.get(entity="invitation", action="revoked")
    assert replaced.new == {"state": "revoked", "reason": "replaced"}


def test_a_concurrent_invitation_of_the_same_address_is_a_conflict(
    members: Members, mail_off: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    invite_directly(members)
    # The race: the second request did not see the first one's pending invitation.
    monkeypatch.setattr(
        "heliograph.web.accounts.invitations._replace_pending", lambda *args, **kwargs: None
    )
    response = invite(signed_in(members.admin))
    assert response.status_code == 409
    assert b"was just invited by someone else" in response.content
    assert Invitation.objects.count() == 1


def test_members_are_listed_with_their_roles(members: Members) -> None:
    page = signed_in(members.admin).get("/members/").content.decode()
    for role in Role:
        assert members.by_role(role).email in page
    assert members.owner_b.email not in page
    assert "Owner" in page


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_analysts_and_viewers_may_not_manage_members(members: Members, role: Role) -> None:
    client = signed_in(members.by_role(role))
    assert client.get("/members/").status_code == 403
    assert invite(client).status_code == 403
    assert not Invitation.objects.exists()
    assert b"/members/" not in client.get("/sites/").content


def test_an_admin_cannot_invite_above_their_role(members: Members, inbox: Inbox) -> None:
    client = signed_in(members.admin)
    page = client.get("/members/").content.decode()
    assert 'value="owner"' not in page
    assert 'value="admin"' in page
    assert invite(client, role=Role.OWNER).status_code == 400
    assert not Invitation.objects.exists()
    actor = Actor(user_id=members.admin.pk, label="test")
    with pytest.raises(InputError, match="does not allow"):
        invitation_create(tenant=members.site_a.tenant, email=NEW, role=Role.OWNER, actor=actor)
    assert invite(signed_in(members.owner), role=Role.OWNER).status_code == 200
    assert inbox.mails[0][0] == [NEW]


def test_an_admin_cannot_revoke_an_owners_invitation(members: Members) -> None:
    invite_directly(members, role=Role.OWNER)
    invitation = Invitation.objects.get()
    client = signed_in(members.admin)
    assert b"Owner only" in client.get("/members/").content
    response = client.post(f"/members/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_a_member_is_not_invited_again(members: Members, mail_off: None) -> None:
    response = invite(signed_in(members.admin), members.viewer.email.upper())
    assert response.status_code == 400
    assert b"is a member of Tenant A already" in response.content
    assert not Invitation.objects.exists()


def test_an_invalid_address_is_refused(members: Members, mail_off: None) -> None:
    response = invite(signed_in(members.admin), "not an address")
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_another_tenants_invitations_stay_invisible(members: Members) -> None:
    actor = Actor(user_id=members.owner_b.pk, label="test")
    invitation_create(
        tenant=members.site_b.tenant, email="b-secret@example.com", role=Role.VIEWER, actor=actor
    )
    theirs = Invitation.objects.get()
    client = signed_in(members.owner)
    assert b"b-secret@example.com" not in client.get("/members/").content
    assert client.post(f"/members/invitations/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


# -- the audit trail --------------------------------------------------------------------------


def test_every_step_is_audited_without_the_token(members: Members, inbox: Inbox) -> None:
    first = invite_by_mail(members, inbox)
    token = invite_by_mail(members, inbox)  # replaces the first
    Client().post(url(token), {"password": PASSWORD, "repeat": PASSWORD})
    user = User.objects.get(username=NEW)
    entries = AuditEntry.objects.filter(tenant_id=members.site_a.tenant_id).order_by("id")
    trail = [(e.entity, e.action) for e in entries if e.entity in ("invitation", "membership")]
    assert trail == [
        ("invitation", "created"),
        ("invitation", "revoked"),
        ("invitation", "created"),
        ("membership", "created"),
        ("invitation", "accepted"),
    ]
    accepted = entries.get(entity="invitation", action="accepted")
    assert accepted.actor_id == user.pk
    assert accepted.new == {"state": "accepted", "user": user.pk, "role": "analyst"}
    created = entries.filter(entity="invitation", action="created").first()
    assert created is not None
    assert created.actor_id == members.admin.pk
    assert created.new is not None
    assert created.new["email"] == NEW
    events = SecurityEventRecord.objects.filter(action__startswith="invitation.")
    assert {e.action for e in events} == {
        "invitation.created",
        "invitation.revoked",
        "invitation.accepted",
    }
    for stored in [*AuditEntry.objects.all(), *SecurityEventRecord.objects.all()]:
        for secret in (first, token, hashlib.sha256(token.encode()).hexdigest()):
            assert secret not in repr(stored.__dict__)


# -- pages and settings -----------------------------------------------------------------------


def test_the_pages_pass_the_content_security_policy(members: Members, mail_off: None) -> None:
    token = invite_directly(members)
    admin = signed_in(members.admin)
    pages = {
        "members": admin.get("/members/"),
        "invited": invite(admin, "other@example.com"),
        "accept": Client().get(url(token)),
        "not valid": Client().get(url("B" * 43)),
    }
    for name, response in pages.items():
        html = response.content.decode()
        assert response["Content-Security-Policy"] == POLICY, name
        assert "<script" not in html.lower(), name
        assert "<style" not in html.lower(), name
        assert not INLINE_HANDLER.search(html), name
        assert not STYLE_ATTRIBUTE.search(html), name


def test_mail_settings_are_checked_at_start_up(tmp_path: Any) -> None:
    base = {"HELIOGRAPH_DATA_DIR": str(tmp_path), "HELIOGRAPH_SMTP_HOST": "mail.example.com"}
    with pytest.raises(ConfigError, match="HELIOGRAPH_MAIL_FROM"):
        load_settings(base)
    sender = {**base, "HELIOGRAPH_MAIL_FROM": "heliograph@example.com"}
    smtp = load_settings(sender).smtp
    assert (smtp.host, smtp.port, smtp.starttls, smtp.ssl) == ("mail.example.com", 587, True, False)
    with pytest.raises(ConfigError, match="only one of"):
        load_settings({**sender, "HELIOGRAPH_SMTP_SSL": "true", "HELIOGRAPH_SMTP_STARTTLS": "1"})
    ssl = load_settings({**sender, "HELIOGRAPH_SMTP_SSL": "true"}).smtp
    assert (ssl.port, ssl.starttls, ssl.ssl) == (465, False, True)
    with pytest.raises(ConfigError, match="HELIOGRAPH_SMTP_STARTTLS must be true or false"):
        load_settings({**sender, "HELIOGRAPH_SMTP_STARTTLS": "maybe"})
    with pytest.raises(ConfigError, match="HELIOGRAPH_SMTP_PORT must be at most 65535"):
        load_settings({**sender, "HELIOGRAPH_SMTP_PORT": "70000"})
    with pytest.raises(ConfigError, match="both HELIOGRAPH_SMTP_USER and"):
        load_settings({**sender, "HELIOGRAPH_SMTP_USER": "mailer"})
    login = {**sender, "HELIOGRAPH_SMTP_USER": "u", "HELIOGRAPH_SMTP_PASSWORD": "s3cret-pass"}
    assert "s3cret-pass" not in repr(load_settings(login))
    production = {
        **login,
        "HELIOGRAPH_ENV": "production",
        "HELIOGRAPH_SECRET_KEY": "k" * 50,
        "HELIOGRAPH_KEK": "a2V5",
    }
    with pytest.raises(ConfigError, match="HELIOGRAPH_PUBLIC_URL"):
        load_settings(production)
    with pytest.raises(ConfigError, match="only over TLS"):
        load_settings({**production, "HELIOGRAPH_SMTP_STARTTLS": "false"})
    assert load_settings({"HELIOGRAPH_DATA_DIR": str(tmp_path)}).smtp.host == ""
