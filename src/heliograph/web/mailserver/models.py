"""The SMTP server an operator stored in the metadata database (one row, platform-wide)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from heliograph.web.crypto_fields import EncryptedSecretField

ROW_ID = 1


class TlsMode(models.TextChoices):
    """How the connection to the SMTP server is protected."""

    STARTTLS = "starttls", "STARTTLS (port 587)"
    SSL = "ssl", "TLS from the first byte (port 465)"
    NONE = "none", "None (development only)"


class StoredMailServer(models.Model):
    """The platform's SMTP server as ``heliograph mail set`` stored it; the password is sealed.

    The HELIOGRAPH_SMTP_* environment settings win over this row whenever they are set.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=ROW_ID, editable=False)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(default=587)
    username = models.CharField(max_length=254, blank=True)
    password = EncryptedSecretField(tenant_field=None)  # a platform secret: PLATFORM data key
    password_set_at = models.DateTimeField(null=True, blank=True)
    tls = models.CharField(max_length=8, choices=TlsMode.choices, default=TlsMode.STARTTLS)
    mail_from = models.CharField(max_length=254)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = (models.CheckConstraint(condition=Q(id=ROW_ID), name="one_mail_server"),)

    def __str__(self) -> str:
        return f"SMTP server {self.host}:{self.port}"
