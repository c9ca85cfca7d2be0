"""API tokens: minting, keyed hashing, checking, and the two services that change them.

A token reads ``hg_<prefix>_<secret>``. The prefix (public, unique) finds the row; the secret
(32 random bytes) is proven by its HMAC-SHA256 under the SECRET_KEY, compared in constant time
and tried against SECRET_KEY_FALLBACKS too, so the key can be rotated (ASVS 6.4.1, CONVENTIONS 7).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from heliograph.core import security_events
from heliograph.core.errors import InputError
from heliograph.core.security_events import SecurityEvent
from heliograph.web.api.models import ApiToken, Scope
from heliograph.web.audit.models import AuditEntry
from heliograph.web.tenants.models import Tenant

TokenState = Literal["active", "expired", "revoked"]
MAX_LIFETIME = timedelta(days=365)
MAX_NAME_CHARS = 100
# last_used_at is a hint for humans: write it at most once a minute per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_PREFIX_BYTES = 6
_SECRET_BYTES = 32
_SALT = "heliograph.web.api.token"
_TOKEN = re.compile(r"hg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Compared against when no token has the prefix, so a miss costs what a hit costs.
_DUMMY_HASH = "0" * 64


class TokenRejected(Exception):
    """A presented token does not authenticate; ``reason`` is for the security log only."""

    def __init__(self, reason: str, token: ApiToken | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token = token


def _digest(secret: str, key: str | bytes) -> str:
    return salted_hmac(_SALT, secret, secret=key, algorithm="sha256").hexdigest()


def hash_secret(secret: str) -> str:
    """Return the stored form of a token secret (HMAC under the current SECRET_KEY)."""
    return _digest(secret, settings.SECRET_KEY)


def _secret_matches(secret: str, stored: str) -> bool:
    matched = False
    for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        matched |= hmac.compare_digest(_digest(secret, key), stored)
    return matched


def token_state(token: ApiToken, now: datetime) -> TokenState:
    """Return whether ``token`` is active, expired or revoked at ``now``."""
    if token.revoked_at is not None:
        return "revoked"
    return "active" if now < token.expires_at else "expired"


def check_token(raw: str, *, now: datetime) -> ApiToken:
    """Return the live token ``raw`` names, or raise TokenRejected with the reason."""
    match = _TOKEN.fullmatch(raw)
    if match is None:
        raise TokenRejected("malformed")
    prefix, secret = match.groups()
    token = ApiToken.objects.select_related("tenant", "created_by").filter(prefix=prefix).first()
    stored = token.secret_hash if token is not None else _DUMMY_HASH
    if not _secret_matches(secret, stored) or token is None:
        raise TokenRejected("bad_secret" if token else "unknown_prefix", token)
    state = token_state(token, now)
    if state != "active":
        raise TokenRejected(state, token)
    return token


def touch(token: ApiToken, now: datetime) -> None:
    """Record that ``token`` was used (at most once per LAST_USED_RESOLUTION)."""
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def public_fields(token: ApiToken) -> dict[str, object]:
    """Return what the audit trail keeps of a token: never the secret or its hash."""
    return {
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS or _CONTROL.search(name):
        raise InputError(
            "invalid_name", f"a token name has 1 to {MAX_NAME_CHARS} printable characters"
        )
    return name


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    known = [scope.value for scope in Scope]
    if not chosen or not set(chosen) <= set(known):
        raise InputError("invalid_scopes", f"scopes are one or more of {', '.join(known)}")
    return chosen


def _check_expiry(expires_at: datetime, now: datetime) -> datetime:
    if timezone.is_naive(expires_at):
        raise InputError("invalid_expiry", "expires_at needs a time zone offset")
    if not now < expires_at <= now + MAX_LIFETIME:
        raise InputError("invalid_expiry", "a token expires in the future, within 365 days")
    return expires_at


def _audit(token: ApiToken, actor: User, action: str, old: object, new: object) -> None:
    AuditEntry.objects.create(
        tenant_id=token.tenant_id,
        actor_id=actor.pk,
        actor_label=actor.get_username(),
        entity="api_token",
        entity_id=str(token.pk),
        action=action,
        old=old,
        new=new,
    )


def _event(token: ApiToken, actor: User, action: str) -> None:
    security_events.record(
        SecurityEvent(
            action=action,
            category="iam",
            outcome="success",
            tenant_id=token.tenant_id,
            user_id=actor.pk,
            labels={"token_id": token.pk, "token_prefix": token.prefix},
        )
    )


def _new_prefix() -> str:
    while True:
        prefix = secrets.token_hex(_PREFIX_BYTES)
        if not ApiToken.objects.filter(prefix=prefix).exists():
            return prefix


def api_token_create(
    *, tenant: Tenant, name: str, scopes: Iterable[str], expires_at: datetime, actor: User
) -> tuple[ApiToken, str]:
    """Create a token for ``tenant``; return it with its plaintext, which is shown only once."""
    now = timezone.now()
    fields = {
        "name": _check_name(name),
        "scopes": _check_scopes(scopes),
        "expires_at": _check_expiry(expires_at, now),
    }
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    with transaction.atomic():
        token = ApiToken.objects.create(
            tenant=tenant,
            prefix=_new_prefix(),
            secret_hash=hash_secret(secret),
            created_by=actor,
            **fields,
        )
        _audit(token, actor, "create", None, public_fields(token))
        _event(token, actor, "api_token.created")
    return token, f"hg_{token.prefix}_{secret}"


def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke ``token`` from now on; revoking a revoked token changes nothing."""
    with transaction.atomic():
        current = ApiToken.objects.select_for_update().get(pk=token.pk)
        if current.revoked_at is not None:
            return current
        old = public_fields(current)
        current.revoked_at = timezone.now()
        current.save(update_fields=["revoked_at"])
        _audit(current, actor, "revoke", old, public_fields(current))
        _event(current, actor, "api_token.revoked")
    return current
