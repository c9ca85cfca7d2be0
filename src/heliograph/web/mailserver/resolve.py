"""Which SMTP server sends mail now: the environment's if set, else the stored one, else none.

Precedence: when HELIOGRAPH_SMTP_HOST is set (Django's EMAIL_HOST), every value comes from the
environment and the stored row is ignored as a whole; values are never mixed, so a stored
password is never sent to a host it was not stored for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings

from heliograph.web.crypto_fields import reveal_secret
from heliograph.web.mailserver.models import ROW_ID, StoredMailServer, TlsMode

Source = Literal["environment", "database", "off"]


@dataclass(frozen=True, slots=True)
class MailServer:
    """Everything needed to hand mail to an SMTP server; the password never shows in repr."""

    source: Source
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    use_tls: bool
    use_ssl: bool
    mail_from: str


def stored_mail_server() -> StoredMailServer | None:
    """Return the operator's stored SMTP server, if any."""
    return StoredMailServer.objects.filter(pk=ROW_ID).first()


def mail_source() -> Source:
    """Return where the SMTP settings in force come from (no secret is decrypted)."""
    if settings.EMAIL_HOST:
        return "environment"
    return "database" if StoredMailServer.objects.filter(pk=ROW_ID).exists() else "off"


def _from_environment() -> MailServer:
    return MailServer(
        source="environment",
        host=settings.EMAIL_HOST,
        port=settings.EMAIL_PORT,
        username=settings.EMAIL_HOST_USER,
        password=settings.EMAIL_HOST_PASSWORD,
        use_tls=settings.EMAIL_USE_TLS,
        use_ssl=settings.EMAIL_USE_SSL,
        mail_from=settings.DEFAULT_FROM_EMAIL,
    )


def _from_row(row: StoredMailServer) -> MailServer:
    return MailServer(
        source="database",
        host=row.host,
        port=row.port,
        username=row.username,
        password=reveal_secret(row, "password") or "",
        use_tls=row.tls == TlsMode.STARTTLS,
        use_ssl=row.tls == TlsMode.SSL,
        mail_from=row.mail_from,
    )


def mail_server() -> MailServer | None:
    """Return the SMTP server in force, its password decrypted; None when e-mail is off."""
    if settings.EMAIL_HOST:
        return _from_environment()
    row = stored_mail_server()
    return None if row is None else _from_row(row)


def sender_address() -> str:
    """Return the From address of outgoing mail (the stored one when the row is in force)."""
    if not settings.EMAIL_HOST:
        row = stored_mail_server()
        if row is not None:
            return row.mail_from
    return str(settings.DEFAULT_FROM_EMAIL)
