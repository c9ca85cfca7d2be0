"""Invitation e-mail: a plain-text and an HTML part, sent through Django's SMTP backend
(pointed at the SMTP server in force by heliograph.web.mailserver)."""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from heliograph.web.mailserver.resolve import mail_source, sender_address

_LINE_BREAKS = re.compile(r"\s+")


class MailError(Exception):
    """The mail server did not take the message; ``kind`` names the failure for the log."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class InvitationMail:
    """What an invitation e-mail says; the link carries the token and exists only here."""

    to: str
    tenant_name: str
    inviter: str
    role_label: str
    link: str
    expires_at: datetime
    time_zone: str


def mail_enabled() -> bool:
    """Return True if an SMTP server is configured (HELIOGRAPH_SMTP_HOST or `heliograph mail`)."""
    return mail_source() != "off"


def _one_line(text: str) -> str:
    # A tenant name with a line break must not become a second header (CWE-93).
    return _LINE_BREAKS.sub(" ", text).strip()


def invitation_message(mail: InvitationMail) -> EmailMultiAlternatives:
    """Build the invitation e-mail with its plain-text body and HTML alternative."""
    context = {"mail": mail, "base_url": settings.HELIOGRAPH.base_url}
    message = EmailMultiAlternatives(
        subject=_one_line(f"{mail.inviter} invited you to {mail.tenant_name} on Heliograph"),
        body=render_to_string("accounts/invite_email.txt", context),
        from_email=sender_address(),
        to=[mail.to],
    )
    message.attach_alternative(render_to_string("accounts/invite_email.html", context), "text/html")
    return message


def send_invitation(mail: InvitationMail) -> None:
    """Hand the invitation to the SMTP server, or raise MailError."""
    try:
        sent = invitation_message(mail).send(fail_silently=False)
    except (smtplib.SMTPException, OSError, ValueError) as error:
        # OSError: refused, unreachable, timed out, TLS failures; ValueError: a bad header.
        raise MailError(type(error).__name__) from error
    if sent != 1:
        raise MailError("not_sent")
