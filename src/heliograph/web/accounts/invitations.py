"""Invitations by e-mail link: the token, finding a usable invitation, and its three services.

The link's token is 32 random bytes shown only in the e-mail; the database keeps its SHA-256,
so whoever reads a copy of the database still cannot accept an invitation. An invitation lives
72 hours and works once; a used, revoked, expired or unknown token all read "not valid" to the
visitor, and only the security log says which it was.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from heliograph.core import security_events
from heliograph.core.errors import InputError, NotFound
from heliograph.core.security_events import SecurityEvent
from heliograph.web.accounts.mail import InvitationMail, MailError, mail_enabled, send_invitation
from heliograph.web.accounts.models import Invitation
from heliograph.web.accounts.services import (
    _check_email,
    membership_grant,
    normalise_email,
    user_create,
)
from heliograph.web.audit.trail import Actor, audit_change
from heliograph.web.tenants.models import Membership, Role, Tenant

log = logging.getLogger("heliograph.web.accounts")

INVITATION_LIFETIME = timedelta(hours=72)
_TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32): 43 characters, no padding
DeliveryStatus = Literal["disabled", "pending", "sent", "failed"]


@dataclass(slots=True)
class Delivery:
    """What became of the invitation e-mail; filled in once the transaction has committed."""

    status: DeliveryStatus


@dataclass(frozen=True, slots=True)
class CreatedInvitation:
    """A new invitation, its link (for the admin only when e-mail is off) and its e-mail."""

    invitation: Invitation
    link: str
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class Lookup:
    """The invitation a token names if it is usable; else why not (for the security log)."""

    invitation: Invitation | None
    reason: str
    tenant_id: int | None = None


def token_hash(token: str) -> str:
    """Return the stored form of an invitation token."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def invitation_link(token: str) -> str:
    """Return the absolute link of the invitation page for ``token``."""
    return settings.HELIOGRAPH.base_url + reverse("accounts:invitation", args=[token])


def may_invite(inviter: Role | None, invited: Role) -> bool:
    """Return True if a member with ``inviter`` may invite (or revoke) someone as ``invited``."""
    return inviter is not None and inviter.allows(Role.ADMIN) and inviter.allows(invited)


def invitable_roles(inviter: Role) -> list[Role]:
    """Return the roles ``inviter`` may hand out, highest first."""
    return [role for role in Role if may_invite(inviter, role)]


def _membership(tenant_id: int, user_id: int | None) -> Membership | None:
    if user_id is None:
        return None
    return (
        Membership.objects.select_related("user")
        .filter(tenant_id=tenant_id, user_id=user_id)
        .first()
    )


def _require_ceiling(tenant_id: int, actor: Actor, role: Role) -> Membership:
    membership = _membership(tenant_id, actor.user_id)
    if membership is None or not may_invite(Role(membership.role), role):
        raise InputError(
            "role_ceiling",
            f"your role does not allow inviting or revoking {role.label.lower()}s",
            status=403,
        )
    return membership


def _unusable_reason(invitation: Invitation, now: datetime) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if now >= invitation.expires_at:
        return "expired"
    inviter = _membership(invitation.tenant_id, invitation.invited_by_id)
    # An invitation is worth what its author may still hand out (demoted or removed: void).
    if inviter is None or not may_invite(Role(inviter.role), Role(invitation.role)):
        return "inviter_lost_rights"
    return ""


def find_invitation(token: str, *, now: datetime | None = None) -> Lookup:
    """Return the usable invitation ``token`` names, or why there is none."""
    if not _TOKEN.fullmatch(token):
        return Lookup(None, "malformed")
    digest = token_hash(token)
    found = Invitation.objects.select_related("tenant").filter(token_hash=digest).first()
    if found is None or not hmac.compare_digest(found.token_hash, digest):
        return Lookup(None, "unknown")
    reason = _unusable_reason(found, now or timezone.now())
    if reason:
        return Lookup(None, reason, found.tenant_id)
    return Lookup(found, "valid", found.tenant_id)


def _public(invitation: Invitation) -> dict[str, object]:
    """Return what the audit trail keeps of an invitation: never its token or the hash."""
    return {
        "email": invitation.email,
        "role": invitation.role,
        "expires_at": invitation.expires_at.isoformat(),
    }


def _mark_revoked(invitation: Invitation, *, actor: Actor, now: datetime, reason: str) -> None:
    pending = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    )
    if not pending.update(revoked_at=now):
        raise InputError(
            "not_pending", "this invitation was accepted or revoked already", status=409
        )
    invitation.revoked_at = now
    audit_change(
        actor=actor,
        tenant_id=invitation.tenant_id,
        entity="invitation",
        entity_id=invitation.pk,
        action="revoked",
        old={"state": "pending"},
        new={"state": "revoked", "reason": reason},
        category="iam",
    )


def _replace_pending(tenant: Tenant, email: str, *, actor: Actor, now: datetime) -> None:
    older = Invitation.objects.select_for_update().filter(
        tenant=tenant, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    )
    for invitation in older:
        _require_ceiling(tenant.pk, actor, Role(invitation.role))
        _mark_revoked(invitation, actor=actor, now=now, reason="replaced")


def invitation_create(*, tenant: Tenant, email: str, role: Role, actor: Actor) -> CreatedInvitation:
    """Invite ``email`` to ``tenant`` as ``role``, replacing its pending invitation; mail it."""
    email = _check_email(email)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    try:
        with transaction.atomic():
            inviter = _require_ceiling(tenant.pk, actor, role)
            if Membership.objects.filter(tenant=tenant, user__username=email).exists():
                raise InputError("already_member", f"{email} is a member of {tenant.name} already")
            invitation = _insert(tenant, email, role, token, inviter=inviter.user, actor=actor)
            created = CreatedInvitation(invitation, invitation_link(token), Delivery("disabled"))
            if mail_enabled():
                created.delivery.status = "pending"
                mail = _mail_of(created, inviter.user)
                # Mail only what was committed: a rolled-back invitation must reach no one.
                transaction.on_commit(functools.partial(_deliver, created, mail, actor))
    except IntegrityError:  # one_pending_invitation_per_address: a concurrent invitation won
        raise InputError(
            "conflict", f"{email} was just invited by someone else: reload the page", status=409
        ) from None
    return created


def _insert(
    tenant: Tenant, email: str, role: Role, token: str, *, inviter: User, actor: Actor
) -> Invitation:
    now = timezone.now()
    _replace_pending(tenant, email, actor=actor, now=now)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=inviter,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    audit_change(
        actor=actor,
        tenant_id=tenant.pk,
        entity="invitation",
        entity_id=invitation.pk,
        action="created",
        new=_public(invitation),
        category="iam",
    )
    return invitation


def _mail_of(created: CreatedInvitation, inviter: User) -> InvitationMail:
    invitation = created.invitation
    return InvitationMail(
        to=invitation.email,
        tenant_name=invitation.tenant.name,
        inviter=inviter.email,
        role_label=Role(invitation.role).label,
        link=created.link,
        expires_at=invitation.expires_at,
        time_zone=invitation.tenant.time_zone,
    )


def _deliver(created: CreatedInvitation, mail: InvitationMail, actor: Actor) -> None:
    invitation = created.invitation
    try:
        send_invitation(mail)
    except MailError as error:
        created.delivery.status = "failed"
        log.warning("accounts.invitation_mail_failed id=%d error=%s", invitation.pk, error.kind)
        security_events.record(
            SecurityEvent(
                action="invitation.mail_failed",
                category="iam",
                outcome="failure",
                tenant_id=invitation.tenant_id,
                user_id=actor.user_id,
                source_ip=actor.source_ip,
                labels={"entity_id": str(invitation.pk), "error": error.kind},
            )
        )
        return
    created.delivery.status = "sent"
    log.info("accounts.invitation_mailed id=%d", invitation.pk)


def _require_invitee(user: User, invitation: Invitation) -> None:
    if normalise_email(user.get_username()) != invitation.email:
        raise InputError("wrong_user", "this invitation is for another e-mail address", status=403)
    if Membership.objects.filter(user=user, tenant_id=invitation.tenant_id).exists():
        raise InputError("already_member", "you are a member of this workspace already", status=409)


def _claim(invitation: Invitation, now: datetime) -> bool:
    # A conditional update makes the token single-use even when two requests race.
    pending = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    )
    return pending.update(accepted_at=now) == 1


def invitation_accept(*, token: str, user: User | None, password: str = "", actor: Actor) -> User:
    """Accept the invitation: make ``user`` a member, or with no user create one with ``password``.

    Raises NotFound for a token that is not usable, InputError for a weak password, another
    user's invitation or an existing membership; nothing changes then.
    """
    now = timezone.now()
    with transaction.atomic():
        invitation = find_invitation(token, now=now).invitation
        if invitation is None or not _claim(invitation, now):
            raise NotFound("this invitation is not valid")
        role = Role(invitation.role)
        via = Actor(
            user_id=user.pk if user else None,
            label=f"invitation {invitation.pk}",
            source_ip=actor.source_ip,
        )
        if user is None:
            user = user_create(
                email=invitation.email,
                password=password,
                tenant=invitation.tenant,
                role=role,
                actor=via,
            )
        else:
            _require_invitee(user, invitation)
            membership_grant(user=user, tenant=invitation.tenant, role=role, actor=via)
        audit_change(
            actor=Actor(user_id=user.pk, label=f"user {user.pk}", source_ip=actor.source_ip),
            tenant_id=invitation.tenant_id,
            entity="invitation",
            entity_id=invitation.pk,
            action="accepted",
            old={"state": "pending"},
            new={"state": "accepted", "user": user.pk, "role": role.value},
            category="iam",
        )
    return user


def invitation_revoke(*, invitation: Invitation, actor: Actor) -> Invitation:
    """Revoke a pending invitation; its link stops working at once."""
    with transaction.atomic():
        _require_ceiling(invitation.tenant_id, actor, Role(invitation.role))
        _mark_revoked(invitation, actor=actor, now=timezone.now(), reason="revoked")
    return invitation
