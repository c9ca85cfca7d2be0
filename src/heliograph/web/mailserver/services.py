"""Write operations on the stored SMTP server, one transaction each, audited."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from heliograph.core.errors import InputError
from heliograph.web.audit.trail import SYSTEM, Actor, audit_change
from heliograph.web.crypto_fields import clear_secret, seal_secret
from heliograph.web.mailserver.models import ROW_ID, StoredMailServer, TlsMode

_HOST = re.compile(r"[A-Za-z0-9.\-:\[\]]{1,253}")
_ENTITY = "mail_server"


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """What to do with the stored password: keep it, replace it, or clear it."""

    new: str | None = None
    clear: bool = False


KEEP = PasswordChange()


def _public(row: StoredMailServer | None) -> dict[str, object] | None:
    """Return what the audit trail keeps of the settings: never the password, only its date."""
    if row is None:
        return None
    return {
        "host": row.host,
        "port": row.port,
        "username": row.username,
        "password": row.password_set_at.isoformat() if row.password_set_at else "not set",
        "tls": row.tls,
        "mail_from": row.mail_from,
    }


def _check(host: str, port: int, mail_from: str) -> None:
    if not _HOST.fullmatch(host):
        raise InputError("invalid_host", f"{host!r} is not a host name or address")
    if not 1 <= port <= 65535:
        raise InputError("invalid_port", "the port is between 1 and 65535")
    # A line break in the sender would become a second header (CWE-93).
    if "@" not in mail_from or any(c in mail_from for c in "\r\n") or len(mail_from) > 254:
        raise InputError("invalid_from", "the sender is an address such as heliograph@example.com")


def _check_credentials(row: StoredMailServer) -> None:
    if bool(row.username) != (row.password is not None):
        raise InputError("credentials", "set both a user name and a password, or neither")
    # ASVS 9.2.2: outbound connections use TLS; no SMTP password in clear text in production.
    if settings.HELIOGRAPH.production and row.username and row.tls == TlsMode.NONE:
        raise InputError("tls_required", "production sends the SMTP password only over TLS")


def mail_server_set(
    *,
    host: str,
    port: int,
    username: str,
    tls: TlsMode,
    mail_from: str,
    password: PasswordChange = KEEP,
    actor: Actor = SYSTEM,
) -> StoredMailServer:
    """Store the platform's SMTP server; the password is encrypted under the PLATFORM key."""
    host, username, mail_from = host.strip(), username.strip(), mail_from.strip()
    _check(host, port, mail_from)
    with transaction.atomic():
        row = StoredMailServer.objects.select_for_update().filter(pk=ROW_ID).first()
        old = _public(row)
        row = row or StoredMailServer(id=ROW_ID)
        row.host, row.port, row.username, row.tls, row.mail_from = (
            host,
            port,
            username,
            tls,
            mail_from,
        )
        row.save()
        _apply_password(row, password)
        _check_credentials(row)
        row.save()
        audit_change(
            actor=actor,
            tenant_id=None,
            entity=_ENTITY,
            entity_id=ROW_ID,
            action="created" if old is None else "changed",
            old=old,
            new=_public(row),
        )
    return row


def _apply_password(row: StoredMailServer, change: PasswordChange) -> None:
    if change.clear:
        clear_secret(row, "password")
        row.password_set_at = None
    elif change.new is not None:
        if not change.new or len(change.new) > 1000:
            raise InputError("invalid_password", "the password has 1 to 1000 characters")
        seal_secret(row, "password", change.new)
        row.password_set_at = timezone.now()


def mail_server_delete(*, actor: Actor = SYSTEM) -> bool:
    """Forget the stored SMTP server; return False if none was stored."""
    with transaction.atomic():
        row = StoredMailServer.objects.select_for_update().filter(pk=ROW_ID).first()
        if row is None:
            return False
        old = _public(row)
        row.delete()
        audit_change(
            actor=actor, tenant_id=None, entity=_ENTITY, entity_id=ROW_ID, action="deleted", old=old
        )
    return True
