"""Record what a web request did in the security event log (core.security_events)."""

from __future__ import annotations

from django.http import HttpRequest

from heliograph.core import security_events
from heliograph.core.security_events import Category, Outcome, SecurityEvent


def record_request(
    request: HttpRequest,
    action: str,
    *,
    category: Category,
    outcome: Outcome = "success",
    tenant_id: int | None = None,
    user_id: int | None = None,
    status: int | None = None,
    labels: dict[str, str | int | float | bool] | None = None,
    path: str | None = None,
) -> None:
    """Append one security event about ``request``; no e-mail or other personal data.

    ``path`` replaces the request's path when that carries a secret (an invitation token).
    """
    security_events.record(
        SecurityEvent(
            action=action,
            category=category,
            outcome=outcome,
            tenant_id=tenant_id,
            user_id=user_id,
            source_ip=request.META.get("REMOTE_ADDR") or None,
            http_method=request.method,
            http_path=path or request.path,
            http_status=status,
            labels=labels or {},
        )
    )
