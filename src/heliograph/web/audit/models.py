"""The security event log and the audit trail of changes, both append-only."""

from __future__ import annotations

from typing import Any

from django.db import models


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an append-only record."""


class AppendOnly(models.Model):
    """Refuse updates and deletes through the ORM (database triggers refuse them in SQL too)."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} records are append-only")


class SecurityEventRecord(AppendOnly):
    """One security event (ECS document) chained to the one before it by SHA-256."""

    seq = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField(db_index=True)
    tenant_id = models.BigIntegerField(null=True, db_index=True)
    action = models.CharField(max_length=100, db_index=True)
    outcome = models.CharField(max_length=10)
    document = models.JSONField()
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ("seq",)

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"


class AuditEntry(AppendOnly):
    """Who changed what, from which value to which, written in the change's own transaction."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    tenant_id = models.BigIntegerField(null=True, db_index=True)
    actor_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=200, blank=True)
    entity = models.CharField(max_length=50)
    entity_id = models.CharField(max_length=64)
    action = models.CharField(max_length=50)
    old = models.JSONField(null=True)
    new = models.JSONField(null=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.entity} {self.entity_id} {self.action}"
