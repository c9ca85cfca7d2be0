"""The ``heliograph user`` command: create members and grant roles from the command line."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User

from heliograph import cli
from heliograph.web.tenants.models import Membership
from tests.web.members import Members

PASSWORD = "a password from standard input"


def run(monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(["user", *args])


def test_create_reads_the_password_from_stdin(
    members: Members, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = members.site_a.tenant_id
    args = ("create", "--email=Cli@Example.com", f"--tenant={tenant}", "--role=analyst")
    assert run(monkeypatch, *args, "--password-stdin", stdin=PASSWORD + "\n") == 0
    assert "user cli@example.com created: analyst" in capsys.readouterr().out
    user = authenticate(username="cli@example.com", password=PASSWORD)
    assert isinstance(user, User)
    assert Membership.objects.get(user=user).role == "analyst"


def test_create_prompts_twice_without_stdin(
    members: Members, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([PASSWORD, "something else entirely"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    tenant = members.site_a.tenant_id
    assert (
        run(monkeypatch, "create", "--email=p@example.com", f"--tenant={tenant}", "--role=viewer")
        == 2
    )
    assert "passwords differ" in capsys.readouterr().err
    assert not User.objects.filter(username="p@example.com").exists()


def test_grant_adds_a_second_tenant(members: Members, monkeypatch: pytest.MonkeyPatch) -> None:
    email = members.viewer.username
    tenant_b = members.site_b.tenant_id
    assert (
        run(monkeypatch, "grant", f"--email={email}", f"--tenant={tenant_b}", "--role=admin") == 0
    )
    roles = dict(Membership.objects.filter(user=members.viewer).values_list("tenant_id", "role"))
    assert roles == {members.site_a.tenant_id: "viewer", tenant_b: "admin"}


def test_bad_input_is_refused(
    members: Members, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = members.site_a.tenant_id
    short = ("create", "--email=s@example.com", f"--tenant={tenant}", "--role=viewer")
    assert run(monkeypatch, *short, "--password-stdin", stdin="short\n") == 2
    missing = ("create", "--email=m@example.com", "--tenant=987654", "--role=viewer")
    assert run(monkeypatch, *missing, "--password-stdin", stdin=PASSWORD) == 2
    err = capsys.readouterr().err
    assert "12 to 128 characters" in err
    assert "no tenant with id 987654" in err
