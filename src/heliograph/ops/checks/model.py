"""What a check is, what it sees (Context) and what it answers (Outcome, Result)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from heliograph.core.config import ENV_PREFIX, Settings


class Severity(StrEnum):
    """An error fails `heliograph check` (exit 1); a warning explains and lets it pass."""

    ERROR = "error"
    WARNING = "warning"


class Status(StrEnum):
    PASS = "pass"  # noqa: S105  a status, not a password
    FAIL = "fail"
    SKIP = "skip"  # does not apply to this configuration (e.g. TLS checks behind a proxy)
    SILENCED = "silenced"  # failed, but HELIOGRAPH_CHECKS_SILENCED names it


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The Django settings web/settings.py computes for the checked configuration."""

    debug: bool
    allowed_hosts: tuple[str, ...]
    middleware: tuple[str, ...]
    hsts_seconds: int
    hsts_include_subdomains: bool
    hsts_preload: bool
    proxy_ssl_header: tuple[str, str] | None
    session_cookie_secure: bool
    session_cookie_httponly: bool
    session_cookie_samesite: str | None
    csrf_cookie_secure: bool
    csrf_cookie_samesite: str | None


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a check may look at; checks read, they never write."""

    env: Mapping[str, str]  # the checked configuration (an env file or the process environment)
    production: bool
    settings: Settings | None  # loaded with secrets stood in; None when even that fails
    settings_error: str  # why the service would not load it ("" when it would)
    web: WebSettings | None  # None when web/settings.py could not be evaluated
    web_error: str
    uid: int  # the user the service runs as: whoever runs the check
    now: datetime

    def raw(self, name: str) -> str:
        """Return HELIOGRAPH_<name> as written in the configuration ('' when unset)."""
        return self.env.get(ENV_PREFIX + name, "")

    def path(self, name: str) -> Path | None:
        raw = self.raw(name)
        return Path(raw) if raw else None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    message: str


def passed(message: str) -> Outcome:
    return Outcome(Status.PASS, message)


def failed(message: str) -> Outcome:
    return Outcome(Status.FAIL, message)


def skipped(message: str) -> Outcome:
    return Outcome(Status.SKIP, message)


def verdict(problems: list[str], ok: str) -> Outcome:
    """Fail with every problem found, or pass with ``ok``."""
    return failed("; ".join(problems)) if problems else passed(ok)


@dataclass(frozen=True, slots=True)
class Check:
    """One deployment check: a stable id, what it demands, and how to fix a failure."""

    id: str
    title: str
    severity: Severity  # in production
    fix: str
    run: Callable[[Context], Outcome]
    # A production-only check reports a failure as a warning outside production, so that
    # `heliograph check` on a developer's machine explains what production needs.
    production_only: bool = True


@dataclass(frozen=True, slots=True)
class Result:
    check: Check
    status: Status
    severity: Severity  # effective: a production-only error is a warning in development
    message: str

    @property
    def blocking(self) -> bool:
        return self.status is Status.FAIL and self.severity is Severity.ERROR
