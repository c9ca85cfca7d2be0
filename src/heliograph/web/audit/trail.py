"""Record who changed what (old → new) in the change's own transaction (CONVENTIONS 5)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest

from heliograph.core import security_events
from heliograph.core.security_events import Category, SecurityEvent
from heliograph.web.audit.models import AuditEntry

JsonValue = dict[str, object] | None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a signed-in user (with their address), a token, or the system."""

    user_id: int | None
    label: str
    source_ip: str | None = None


SYSTEM = Actor(user_id=None, label="system (command line)")


def actor_from_request(request: HttpRequest, *, label: str = "") -> Actor:
    """Return the actor of a web request (the signed-in user, else anonymous)."""
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    return Actor(
        user_id=user_id,
        label=label or (f"user {user_id}" if user_id else "anonymous"),
        source_ip=request.META.get("REMOTE_ADDR") or None,
    )


def audit_change(
    *,
    actor: Actor,
    tenant_id: int | None,
    entity: str,
    entity_id: object,
    action: str,
    old: JsonValue = None,
    new: JsonValue = None,
    category: Category = "configuration",
) -> None:
    """Write an audit entry and its security event; must run inside the change's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_change must run inside the transaction of the change")
    AuditEntry.objects.create(
        tenant_id=tenant_id,
        actor_id=actor.user_id,
        actor_label=actor.label[:200],
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        old=old,
        new=new,
    )
    security_events.record(
        SecurityEvent(
            action=f"{entity}.{action}",
            category=category,
            outcome="success",
            tenant_id=tenant_id,
            user_id=actor.user_id,
            source_ip=actor.source_ip,
            labels={"entity_id": str(entity_id)},
        )
    )
