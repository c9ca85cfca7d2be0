"""SMTP settings in the database: a sealed password, used at send time; the environment wins."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from heliograph import cli
from heliograph.web.audit.models import AuditEntry
from heliograph.web.mailserver.models import StoredMailServer, TlsMode
from heliograph.web.mailserver.resolve import mail_server, mail_source
from heliograph.web.mailserver.services import PasswordChange, mail_server_set
from tests.web.members import Members, signed_in
from tests.web.test_invitations import NEW, Inbox, free_port, invite, point_mail_at

SMTP_USER = "heliograph-mailer"
SMTP_PASSWORD = "smtp password: 7c1e0f93"
OUR_BACKEND = "heliograph.web.mailserver.backend.MailServerBackend"


@dataclass
class AuthInbox(Inbox):
    """An SMTP server that takes mail only after AUTH with the expected user and password."""

    logins: list[tuple[str, bool]] = field(default_factory=list)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SMTP_PASSWORD.encode()
        )
        self.logins.append((mechanism, ok))
        return AuthResult(success=ok)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def auth_inbox(settings: SettingsWrapper) -> Iterator[AuthInbox]:
    """A real SMTP server with AUTH on a loopback port; no HELIOGRAPH_SMTP_* in force."""
    received = AuthInbox(port=free_port())
    # AUTH without TLS: acceptable on the loopback interface of a test, never in production.
    controller = Controller(
        received,
        hostname="127.0.0.1",
        port=received.port,
        authenticator=received.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    settings.EMAIL_BACKEND = OUR_BACKEND
    settings.EMAIL_HOST = ""
    settings.EMAIL_TIMEOUT = 5
    yield received
    controller.stop()


def store(port: int, password: str = SMTP_PASSWORD) -> StoredMailServer:
    return mail_server_set(
        host="127.0.0.1",
        port=port,
        username=SMTP_USER,
        tls=TlsMode.NONE,
        mail_from="ops@heliograph.example",
        password=PasswordChange(new=password),
    )


def test_invitations_go_out_through_the_stored_server_with_its_password(
    members: Members, auth_inbox: AuthInbox
) -> None:
    store(auth_inbox.port)
    assert mail_source() == "database"
    response = invite(signed_in(members.admin))
    assert response.status_code == 200
    assert b"Invitation sent to" in response.content
    assert auth_inbox.logins and all(ok for _, ok in auth_inbox.logins)
    recipients, mail = auth_inbox.mails[0]
    assert recipients == [NEW]
    assert mail["From"] == "ops@heliograph.example"


def test_a_wrong_stored_password_is_refused_by_the_server(
    members: Members, auth_inbox: AuthInbox
) -> None:
    store(auth_inbox.port, password="not the password")
    response = invite(signed_in(members.admin))
    assert b"could not be sent" in response.content
    assert auth_inbox.logins  # the server was asked, and refused every attempt
    assert not any(ok for _, ok in auth_inbox.logins)
    assert auth_inbox.mails == []


def test_the_stored_password_is_sealed_and_never_audited(
    members: Members, auth_inbox: AuthInbox
) -> None:
    row = store(auth_inbox.port)
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for values in cursor.fetchall():
                text = repr(values) + "".join(
                    bytes(v).decode("latin-1") for v in values if isinstance(v, bytes | memoryview)
                )
                assert SMTP_PASSWORD not in text, table
    entry = AuditEntry.objects.get(entity="mail_server")
    assert entry.tenant_id is None
    assert entry.new is not None
    assert entry.new["password"] == row.password_set_at.isoformat()  # type: ignore[union-attr]
    server = mail_server()
    assert server is not None
    assert SMTP_PASSWORD not in repr(server)
    assert server.password == SMTP_PASSWORD


def test_the_environment_wins_over_the_stored_server(
    members: Members, auth_inbox: AuthInbox, settings: SettingsWrapper
) -> None:
    store(auth_inbox.port)
    plain = Inbox(port=free_port())
    controller = Controller(plain, hostname="127.0.0.1", port=plain.port)
    controller.start()
    try:
        point_mail_at(settings, plain.port)  # what HELIOGRAPH_SMTP_HOST and friends set
        settings.EMAIL_BACKEND = OUR_BACKEND
        assert mail_source() == "environment"
        response = invite(signed_in(members.admin))
        assert b"Invitation sent to" in response.content
    finally:
        controller.stop()
    assert len(plain.mails) == 1
    assert plain.mails[0][1]["From"] == "heliograph@example.com"
    assert auth_inbox.mails == []
    assert auth_inbox.logins == []  # the stored password went nowhere


def test_with_nothing_configured_mail_is_off(members: Members, auth_inbox: AuthInbox) -> None:
    assert mail_source() == "off"
    assert mail_server() is None
    assert b"E-mail is off" in signed_in(members.admin).get("/members/").content


# -- heliograph mail ---------------------------------------------------------------------------


def run(monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(["mail", *args])


def test_the_command_stores_shows_keeps_and_deletes(
    members: Members,
    auth_inbox: AuthInbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ("set", "--host=127.0.0.1", f"--port={auth_inbox.port}", "--tls=none")
    sender = ("--from=ops@heliograph.example", f"--user={SMTP_USER}")
    assert run(monkeypatch, *base, *sender, "--password-stdin", stdin=SMTP_PASSWORD + "\n") == 0
    shown = capsys.readouterr().out
    assert "password=set on" in shown
    assert "in force: the stored row" in shown
    assert SMTP_PASSWORD not in shown
    # Changing the sender keeps the stored password.
    assert run(monkeypatch, *base, "--from=new@heliograph.example", f"--user={SMTP_USER}") == 0
    server = mail_server()
    assert server is not None
    assert (server.password, server.mail_from) == (SMTP_PASSWORD, "new@heliograph.example")
    assert b"Invitation sent to" in invite(signed_in(members.admin)).content
    # A user name without a password is refused, and nothing changes.
    assert run(monkeypatch, *base, *sender, "--clear-password") == 2
    assert "set both a user name and a password" in capsys.readouterr().err
    assert StoredMailServer.objects.get().password is not None
    assert run(monkeypatch, "delete") == 0
    assert mail_source() == "off"
    assert run(monkeypatch, "delete") == 2
    actions = list(AuditEntry.objects.filter(entity="mail_server").values_list("action", flat=True))
    assert actions == ["created", "changed", "deleted"]


def test_production_refuses_a_password_without_tls(
    members: Members,
    auth_inbox: AuthInbox,
    settings: SettingsWrapper,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings.HELIOGRAPH = replace(settings.HELIOGRAPH, production=True)
    args = ("set", "--host=smtp.example", "--tls=none", "--from=a@b.example", "--user=u")
    assert run(monkeypatch, *args, "--password-stdin", stdin="pw\n") == 2
    assert "only over TLS" in capsys.readouterr().err
    assert not StoredMailServer.objects.exists()
