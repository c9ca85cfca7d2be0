"""Secrets in the metadata database, AES-256-GCM encrypted under their tenant's data key.

A model declares ``EncryptedSecretField()``; the column then holds only a Keyring ciphertext,
bound (AES-GCM associated data) to the tenant of the row, the model, the field and the row's
primary key, so a ciphertext copied to another row, column or tenant does not decrypt. The
attribute on an instance is a :class:`SealedSecret` (ciphertext only; its repr shows the data
key and length, never the value). Secrets are written with :func:`seal_secret` once the row has
a primary key, read with :func:`reveal_secret`, and moved to the current data key after a key
rotation by :func:`reencrypt_secrets`.

The binding uses the model's app label and name: renaming either needs a data migration that
re-seals the column (reveal under the old binding, seal under the new).
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction

from heliograph.core import security_events
from heliograph.core.crypto.aead import DecryptionError
from heliograph.core.crypto.keyring import PLATFORM, Keyring, key_id_of
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.security_events import SecurityEvent

log = logging.getLogger("heliograph.web.crypto_fields")


class SecretUnreadable(DecryptionError):
    """A stored secret did not decrypt: altered, moved to another row, or its key is gone."""


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A ciphertext as stored in an :class:`EncryptedSecretField`; it never holds plaintext."""

    blob: bytes

    @property
    def key_id(self) -> str:
        """Return the id of the data key that encrypted it."""
        return key_id_of(self.blob)

    def __repr__(self) -> str:
        return f"SealedSecret({len(self.blob)} bytes)"

    __str__ = __repr__


if TYPE_CHECKING:  # typed as its values; at run time a BinaryField (bytes column)
    _BinaryField = models.Field[SealedSecret | None, SealedSecret | None]
else:
    _BinaryField = models.BinaryField


class EncryptedSecretField(_BinaryField):
    """A secret (password, signing key, TOTP seed, private key) stored only as ciphertext.

    ``tenant_field`` names the row's foreign key to its tenant; ``None`` marks a platform
    secret (encrypted under the PLATFORM data key). The field is never editable in a form or
    the admin, and NULL means "not set".
    """

    description = "A secret encrypted with AES-256-GCM under its tenant's data key"

    def __init__(self, *args: Any, tenant_field: str | None = "tenant", **kwargs: Any) -> None:
        self.tenant_field = tenant_field
        kwargs["null"] = True
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("null", None)
        if self.tenant_field != "tenant":
            kwargs["tenant_field"] = self.tenant_field
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: object, connection: object) -> Any:
        return None if value is None else SealedSecret(bytes(value))

    def to_python(self, value: Any) -> SealedSecret | None:
        if value is None or isinstance(value, SealedSecret):
            return value
        if isinstance(value, str):  # serialised (dumpdata): base64 of the ciphertext
            try:
                return SealedSecret(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                raise TypeError("an encrypted secret is serialised as base64") from None
        if isinstance(value, bytes | bytearray | memoryview):
            return SealedSecret(bytes(value))
        raise TypeError(f"{type(value).__name__} is not an encrypted secret")

    def get_prep_value(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, SealedSecret):
            # Refuse rather than store a plain value in a column every reader trusts to be sealed.
            raise TypeError(
                f"{self.model.__name__}.{self.name} takes a SealedSecret: set it with seal_secret()"
            )
        return value.blob

    def value_to_string(self, obj: models.Model) -> str:
        sealed = self.value_from_object(obj)
        return "" if sealed is None else base64.b64encode(sealed.blob).decode("ascii")

    def formfield(self, **kwargs: Any) -> None:
        return None  # write-only: never a form's initial value

    # -- binding -------------------------------------------------------------------------

    def tenant_of(self, instance: models.Model) -> int:
        """Return the tenant whose data key encrypts this field of ``instance``."""
        if self.tenant_field is None:
            return PLATFORM
        tenant_id = getattr(instance, f"{self.tenant_field}_id")
        if not isinstance(tenant_id, int) or tenant_id <= 0:
            raise ValueError(f"{self._where(instance)} has no tenant to encrypt under")
        return tenant_id

    def purpose_of(self, instance: models.Model) -> str:
        """Return the associated data that binds a ciphertext to this row and column."""
        if instance.pk is None:
            raise ValueError(
                f"save the {self.model.__name__} before setting {self.name}: "
                "the ciphertext is bound to the row's id"
            )
        return f"db-secret:{instance._meta.label_lower}.{self.name}:{instance.pk}"

    def _where(self, instance: models.Model) -> str:
        return f"{instance._meta.label}.{self.name} of row {instance.pk}"

    def seal(self, instance: models.Model, plaintext: str, keyring: Keyring) -> SealedSecret:
        blob = keyring.encrypt(
            self.tenant_of(instance), self.purpose_of(instance), plaintext.encode("utf-8")
        )
        return SealedSecret(blob)

    def reveal(self, instance: models.Model, sealed: SealedSecret, keyring: Keyring) -> str:
        tenant_id = self.tenant_of(instance)
        try:
            plain = keyring.decrypt(tenant_id, self.purpose_of(instance), sealed.blob)
            return plain.decode("utf-8")
        except (DecryptionError, LookupError, UnicodeDecodeError) as error:
            raise SecretUnreadable(
                f"{self._where(instance)} (tenant {tenant_id}) does not decrypt: {error}"
            ) from None


def _keyring() -> Keyring:
    return process_keyring(settings.HELIOGRAPH)


def _field(instance: models.Model, name: str) -> EncryptedSecretField:
    field = instance._meta.get_field(name)
    if not isinstance(field, EncryptedSecretField):
        raise TypeError(f"{instance._meta.label}.{name} is not an EncryptedSecretField")
    return field


def seal_secret(instance: models.Model, name: str, plaintext: str) -> None:
    """Encrypt ``plaintext`` into field ``name`` of a saved ``instance`` (the caller saves)."""
    field = _field(instance, name)
    setattr(instance, field.attname, field.seal(instance, plaintext, _keyring()))


def clear_secret(instance: models.Model, name: str) -> None:
    """Forget the secret in field ``name`` (the caller saves)."""
    setattr(instance, _field(instance, name).attname, None)


def reveal_secret(instance: models.Model, name: str) -> str | None:
    """Return the plaintext of field ``name`` (None if unset); raise SecretUnreadable if altered."""
    field = _field(instance, name)
    sealed = getattr(instance, field.attname)
    return None if sealed is None else field.reveal(instance, sealed, _keyring())


# -- re-encryption after a key rotation --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReencryptReport:
    """What :func:`reencrypt_secrets` did: secrets read, moved to the current key, unreadable."""

    checked: int
    reencrypted: int
    failed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed


def secret_fields() -> list[tuple[type[models.Model], EncryptedSecretField]]:
    """Return every encrypted secret column of every installed model."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedSecretField)
    ]


def _reencrypt_row(
    model: type[models.Model], field: EncryptedSecretField, pk: object, keyring: Keyring
) -> bool | None:
    """Re-seal one row's secret under its tenant's active key; None if it vanished meanwhile."""
    with transaction.atomic():
        row = model._default_manager.select_for_update().filter(pk=pk).first()
        old = None if row is None else getattr(row, field.attname)
        if row is None or old is None:
            return None
        fresh = field.seal(row, field.reveal(row, old, keyring), keyring)
        if fresh.key_id == old.key_id:
            return False  # already under the active key: leave the row as it is
        model._default_manager.filter(pk=pk).update(**{field.attname: fresh})
        return True


def reencrypt_secrets(*, keyring: Keyring | None = None) -> ReencryptReport:
    """Re-encrypt every stored secret under its tenant's current data key.

    Run it after ``Keyring.rotate_tenant_key`` and before ``retire_tenant_key``: once it reports
    no failures, nothing in the metadata database needs the retired key any more.
    """
    keyring = keyring or _keyring()
    checked, moved, failed = 0, 0, []
    for model, field in secret_fields():
        rows = model._default_manager.filter(**{f"{field.attname}__isnull": False})
        # A list, not a cursor: SQLite does not isolate a read from writes on its connection.
        for pk in list(rows.order_by("pk").values_list("pk", flat=True)):
            try:
                outcome = _reencrypt_row(model, field, pk, keyring)
            except (SecretUnreadable, ValueError) as error:
                failed.append(str(error))
                log.warning("secrets.reencrypt_failed model=%s pk=%s", model._meta.label, pk)
                continue
            checked += outcome is not None
            moved += bool(outcome)
    report = ReencryptReport(checked + len(failed), moved, tuple(failed))
    _record(report)
    return report


def _record(report: ReencryptReport) -> None:
    security_events.record(
        SecurityEvent(
            action="secrets.reencrypted",
            category="configuration",
            outcome="success" if report.ok else "failure",
            labels={
                "checked": report.checked,
                "reencrypted": report.reencrypted,
                "failed": len(report.failed),
            },
        )
    )
