"""Helpers of the API tests (shared with tests/isolation): tokens, bearer clients, JSON calls."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from heliograph.web.api.models import ApiToken, Scope
from heliograph.web.api.tokens import api_token_create
from heliograph.web.tenants.models import Membership

ALL_SCOPES = (Scope.ANALYTICS_READ.value, Scope.SITES_MANAGE.value)
NOT_FOUND = {"code": "not_found", "message": "not found"}


def issue(user: User, scopes: Iterable[str] = ALL_SCOPES, days: int = 30) -> tuple[ApiToken, str]:
    """Create a token in the user's (first) tenant; return it with its plaintext."""
    tenant = Membership.objects.filter(user=user).order_by("tenant_id").first()
    assert tenant is not None
    return api_token_create(
        tenant=tenant.tenant, name="ci", scopes=list(scopes),
        expires_at=timezone.now() + timedelta(days=days), actor=user,
    )


def bearer(plaintext: str) -> Client:
    """Return a client that sends ``plaintext`` as its bearer token (and no session)."""
    return Client(headers={"Authorization": f"Bearer {plaintext}"})


def post_json(client: Client, url: str, body: object) -> Any:
    """POST ``body`` as JSON and return the response."""
    return client.post(url, data=json.dumps(body), content_type="application/json")
