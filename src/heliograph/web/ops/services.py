"""Grant and revoke operator access (the administrative listener's Django admin)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from heliograph.web.audit.trail import SYSTEM, Actor, audit_change


def operator_set(*, user: User, operator: bool, actor: Actor = SYSTEM) -> User:
    """Make ``user`` an operator (``is_staff``) or stop them being one, with an audit record."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_staff == operator:
            return user
        old = user.is_staff
        user.is_staff = operator
        user.save(update_fields=["is_staff"])
        audit_change(
            actor=actor,
            tenant_id=None,
            entity="user",
            entity_id=user.pk,
            action="operator_granted" if operator else "operator_revoked",
            old={"is_staff": old},
            new={"is_staff": operator},
            category="iam",
        )
    return user
