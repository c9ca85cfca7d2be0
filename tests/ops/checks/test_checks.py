"""Every check passes on the shipped production configuration and fails on an insecure one."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from heliograph.core.crypto.kek import create_kek_file, write_kek_file
from heliograph.ops.checks.model import Severity, Status, WebSettings
from heliograph.ops.checks.report import as_text
from heliograph.ops.checks.runner import CHECKS
from tests.ops.checks.production import (
    GOOD_WEB,
    SHIPPED,
    results,
    write_certificate,
    write_secret,
)

Env = dict[str, str]


def same(env: Env) -> Env:
    return env


def setting(**values: str) -> Callable[[Env], Env]:
    """Return a breaker that sets (or, with '', removes) HELIOGRAPH_ variables."""

    def apply(env: Env) -> Env:
        changed = {**env, **{f"HELIOGRAPH_{k}": v for k, v in values.items()}}
        return {k: v for k, v in changed.items() if v != ""}

    return apply


def file_at(name: str) -> Callable[[Env], Path]:
    return lambda env: Path(env[f"HELIOGRAPH_{name}"])


def chmod(where: Callable[[Env], Path], mode: int) -> Callable[[Env], Env]:
    def apply(env: Env) -> Env:
        where(env).chmod(mode)
        return env

    return apply


def certificate(
    host: str = "analytics.example.com",
    *,
    valid_from: timedelta = timedelta(days=-1),
    valid_for: timedelta = timedelta(days=90),
    for_another_key: bool = False,
) -> Callable[[Env], Env]:
    def apply(env: Env) -> Env:
        write_certificate(
            env,
            host,
            valid_from=valid_from,
            valid_for=valid_for,
            for_another_key=for_another_key,
        )
        return env

    return apply


def garbage_certificate(env: Env) -> Env:
    Path(env["HELIOGRAPH_TLS_CERT_FILE"]).write_text("not a certificate\n")
    return env


def placeholder_secret(env: Env) -> Env:
    write_secret(Path(env["HELIOGRAPH_SECRET_KEY_FILE"]), "changeme-" * 6 + "\n")
    return env


def zero_kek(env: Env) -> Env:
    write_kek_file(Path(env["HELIOGRAPH_KEK_FILE"]), "kek-1", {"kek-1": bytes(32)})
    return env


def kek_in_data_dir(env: Env) -> Env:
    inside = Path(env["HELIOGRAPH_DATA_DIR"]) / "keys" / "kek.json"
    create_kek_file(inside)
    return {**env, "HELIOGRAPH_KEK_FILE": str(inside)}


def inline_smtp_password(env: Env) -> Env:
    env = {k: v for k, v in env.items() if k != "HELIOGRAPH_SMTP_PASSWORD_FILE"}
    return {**env, "HELIOGRAPH_SMTP_PASSWORD": "an smtp password"}


def keyring(env: Env) -> Path:
    return Path(env["HELIOGRAPH_DATA_DIR"]) / "keys" / "keyring.json"


@dataclass(frozen=True)
class Insecure:
    """A configuration that check ``check_id`` must fail, and at what severity."""

    check_id: str
    breaks: Callable[[Env], Env] = same
    web: WebSettings = GOOD_WEB
    severity: Severity = Severity.ERROR
    other_user: bool = False


INSECURE = [
    Insecure("HG-CFG-001", setting(SECRET_KEY_FILE="/nonexistent/secret_key")),
    Insecure("HG-CFG-002", setting(ENV="prod")),
    Insecure("HG-CFG-003", setting(DATA_DIR="heliograph-data"), severity=Severity.WARNING),
    Insecure("HG-TLS-001", setting(TLS_CERT_FILE="", TLS_KEY_FILE="")),
    Insecure("HG-TLS-002", garbage_certificate),
    Insecure("HG-TLS-003", chmod(file_at("TLS_KEY_FILE"), 0o640)),
    Insecure("HG-TLS-004", certificate(valid_from=timedelta(days=-100))),
    Insecure(
        "HG-TLS-005",
        certificate(valid_from=timedelta(days=-80), valid_for=timedelta(days=85)),
        severity=Severity.WARNING,
    ),
    Insecure("HG-TLS-006", certificate(for_another_key=True)),
    Insecure("HG-TLS-007", certificate("other.example.com")),
    Insecure("HG-HSTS-001", web=replace(GOOD_WEB, hsts_seconds=0)),
    Insecure("HG-DJANGO-001", web=replace(GOOD_WEB, debug=True)),
    Insecure("HG-DJANGO-002", web=replace(GOOD_WEB, allowed_hosts=("*",))),
    Insecure("HG-COOKIE-001", web=replace(GOOD_WEB, csrf_cookie_secure=False)),
    Insecure("HG-COOKIE-002", web=replace(GOOD_WEB, session_cookie_httponly=False)),
    Insecure("HG-COOKIE-003", web=replace(GOOD_WEB, session_cookie_samesite=None)),
    Insecure("HG-URL-001", setting(PUBLIC_URL="http://analytics.example.com")),
    Insecure("HG-ADMIN-001", setting(ADMIN_HOST="0.0.0.0")),
    Insecure("HG-SECRET-001", placeholder_secret),
    Insecure("HG-SECRET-002", zero_kek),
    Insecure("HG-SECRET-003", inline_smtp_password),
    Insecure("HG-DB-001", lambda env: {**env, "DATABASE_URL": "postgres://h:hunter2@db/h"}),
    Insecure("HG-KEY-001", chmod(keyring, 0o644)),
    Insecure("HG-KEY-002", chmod(lambda env: file_at("KEK_FILE")(env).parent, 0o755)),
    Insecure("HG-KEY-003", kek_in_data_dir),
    Insecure("HG-KEY-004", other_user=True),
    Insecure("HG-SECRET-004", chmod(lambda env: file_at("SECRET_KEY_FILE")(env).parent, 0o755)),
    Insecure("HG-DATA-001", chmod(file_at("DATA_DIR"), 0o755)),
]


def test_every_check_has_an_insecure_configuration() -> None:
    assert sorted(case.check_id for case in INSECURE) == sorted(check.id for check in CHECKS)


def test_every_check_is_documented() -> None:
    documented = (SHIPPED.parents[1] / "docs" / "security" / "checks.md").read_text()
    assert [c.id for c in CHECKS if f"| `{c.id}` |" not in documented] == []


def test_ids_are_unique_and_stable_in_form() -> None:
    ids = [check.id for check in CHECKS]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("HG-") and i[-4] == "-" and i[-3:].isdigit() for i in ids)


def test_the_shipped_production_configuration_passes_every_check(production_env: Env) -> None:
    found = results(production_env)
    assert {i: r.message for i, r in found.items() if r.status is not Status.PASS} == {}


@pytest.mark.parametrize("case", INSECURE, ids=lambda case: case.check_id)
def test_each_check_fails_on_an_insecure_configuration(case: Insecure, production_env: Env) -> None:
    found = results(case.breaks(production_env), web=case.web, other_user=case.other_user)
    result = found[case.check_id]
    assert (result.status, result.severity) == (Status.FAIL, case.severity), result.message
    assert result.message
    report = as_text(list(found.values()), production=True, source="test")
    assert f"{case.severity.value.upper():<9} {case.check_id} " in report


def test_a_failure_names_the_file_and_its_mode(production_env: Env) -> None:
    key = Path(production_env["HELIOGRAPH_TLS_KEY_FILE"])
    key.chmod(0o644)
    message = results(production_env)["HG-TLS-003"].message
    assert str(key) in message
    assert "0644" in message


def test_behind_a_trusted_proxy_the_certificate_checks_do_not_apply(production_env: Env) -> None:
    env = setting(TLS_CERT_FILE="", TLS_KEY_FILE="", TRUSTED_PROXIES="10.0.0.5")(production_env)
    found = results(env)
    assert found["HG-TLS-001"].status is Status.PASS
    assert found["HG-HSTS-001"].status is Status.PASS
    assert {found[f"HG-TLS-00{n}"].status for n in range(2, 8)} == {Status.SKIP}


def test_hsts_needs_tls_even_when_django_would_send_it(production_env: Env) -> None:
    found = results(setting(TLS_CERT_FILE="", TLS_KEY_FILE="")(production_env))
    assert found["HG-HSTS-001"].status is Status.FAIL
    assert "plain HTTP" in found["HG-HSTS-001"].message


def test_an_inline_kek_is_flagged_and_its_length_checked(production_env: Env) -> None:
    env = setting(KEK_FILE="", KEK="c2hvcnQ=")(production_env)  # base64 of b"short"
    found = results(env)
    assert found["HG-SECRET-003"].status is Status.FAIL
    assert "HELIOGRAPH_KEK" in found["HG-SECRET-003"].message
    assert found["HG-SECRET-002"].status is Status.FAIL
    assert "32 bytes" in found["HG-SECRET-002"].message


def test_a_silenced_failure_does_not_block(production_env: Env) -> None:
    env = setting(ADMIN_HOST="0.0.0.0", CHECKS_SILENCED="HG-ADMIN-001")(production_env)
    found = results(env)
    assert found["HG-ADMIN-001"].status is Status.SILENCED
    assert not any(r.blocking for r in found.values())


def test_development_defaults_warn_and_write_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    found = results({"HELIOGRAPH_DATA_DIR": str(data)}, web=replace(GOOD_WEB, hsts_seconds=0))
    failing = {i: r.severity for i, r in found.items() if r.status is Status.FAIL}
    assert {"HG-TLS-001", "HG-HSTS-001", "HG-URL-001", "HG-KEY-003"} <= set(failing)
    assert set(failing.values()) == {Severity.WARNING}
    assert not data.exists()


def test_a_weak_secret_is_a_warning_in_development(tmp_path: Path) -> None:
    env = {"HELIOGRAPH_DATA_DIR": str(tmp_path), "HELIOGRAPH_SECRET_KEY": "a" * 40}
    result = results(env)["HG-SECRET-001"]
    assert (result.status, result.severity) == (Status.FAIL, Severity.WARNING)
    assert "distinct characters" in result.message


def test_a_broken_kek_file_is_an_error_even_in_development(tmp_path: Path) -> None:
    kek = tmp_path / "kek.json"
    create_kek_file(kek)
    os.chmod(kek, 0o644)
    env = {"HELIOGRAPH_DATA_DIR": str(tmp_path / "data"), "HELIOGRAPH_KEK_FILE": str(kek)}
    result = results(env)["HG-SECRET-002"]
    assert (result.status, result.severity) == (Status.FAIL, Severity.ERROR)
    assert "chmod 600" in result.message


def test_a_missing_secret_file_hides_no_other_finding(production_env: Env) -> None:
    Path(production_env["HELIOGRAPH_SMTP_PASSWORD_FILE"]).unlink()
    found = results(setting(ADMIN_HOST="0.0.0.0")(production_env))
    failing = {i for i, r in found.items() if r.status is Status.FAIL}
    assert failing == {"HG-CFG-001", "HG-SECRET-004", "HG-ADMIN-001"}
    assert "smtp_password does not exist" in found["HG-CFG-001"].message


def test_a_broken_secret_file_fails_loading_in_development_too(tmp_path: Path) -> None:
    env = {
        "HELIOGRAPH_DATA_DIR": str(tmp_path / "data"),
        "HELIOGRAPH_SMTP_HOST": "smtp.example.com",
        "HELIOGRAPH_SMTP_USER": "heliograph@example.com",
        "HELIOGRAPH_SMTP_PASSWORD_FILE": str(tmp_path / "absent"),
        "HELIOGRAPH_MAIL_FROM": "heliograph@example.com",
    }
    result = results(env)["HG-CFG-001"]
    assert (result.status, result.severity) == (Status.FAIL, Severity.ERROR)
    assert not (tmp_path / "data").exists()
