"""Django's SMTP backend, pointed at the SMTP server in force when each message is sent."""

from __future__ import annotations

import smtplib
from typing import Any

from django.core.mail.backends.smtp import EmailBackend

from heliograph.web.mailserver.resolve import mail_server


class MailServerBackend(EmailBackend):
    """Send with the environment's SMTP settings if set, else with the stored ones.

    Settings are read when a connection is made (``get_connection()`` makes a new backend per
    message), so ``heliograph mail set`` takes effect without a restart.
    """

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        server = mail_server()
        if server is not None and server.source == "database":
            kwargs.setdefault("host", server.host)
            kwargs.setdefault("port", server.port)
            kwargs.setdefault("username", server.username)
            kwargs.setdefault("password", server.password)
            kwargs.setdefault("use_tls", server.use_tls)
            kwargs.setdefault("use_ssl", server.use_ssl)
        super().__init__(fail_silently=fail_silently, **kwargs)

    def open(self) -> bool | None:
        if not self.host:
            if self.fail_silently:
                return False
            raise smtplib.SMTPException("no SMTP server is configured")
        return super().open()
