"""The Security page: a tenant's latest security events and audit entries, for its admins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from heliograph.web.accounts.access import TenantContext, tenant_view
from heliograph.web.accounts.forms import SecurityFilterForm
from heliograph.web.accounts.selectors import tenant_members
from heliograph.web.audit.log import tenant_audit_entries, tenant_security_events
from heliograph.web.audit.models import AuditEntry, SecurityEventRecord
from heliograph.web.tenants.models import Role

LIMIT = 200
MAX_VALUE_CHARS = 80
# Quick filters: (label, action prefix).
PRESETS = (
    ("All", ""),
    ("Sign-ins", "user."),
    ("Members", "membership."),
    ("Invitations", "invitation."),
    ("Sites", "site."),
    ("API tokens", "api"),
    ("Webhooks", "webhook."),
)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One security event as the page shows it."""

    at: datetime
    action: str
    outcome: str
    user_id: object
    user_email: str
    source_ip: object
    request: str
    labels: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Change:
    """One field of an audit entry, from its old to its new value."""

    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit entry as the page shows it."""

    entry: AuditEntry
    who: str
    changes: list[Change]


def _section(document: object, name: str) -> dict[str, object]:
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _request_of(document: object) -> str:
    http = _section(document, "http")
    method = _section(http, "request").get("method", "")
    path = _section(http, "url").get("path", "")
    status = _section(http, "response").get("status_code", "")
    return " ".join(str(part) for part in (method, path, status) if part)


def event_row(record: SecurityEventRecord, names: dict[int, str]) -> EventRow:
    """Return the columns of one stored security event (``names``: e-mails of members by id)."""
    document = record.document
    labels = _section(document, "labels")
    user_id = _section(document, "user").get("id")
    return EventRow(
        at=record.timestamp,
        action=record.action,
        outcome=record.outcome,
        user_id=user_id,
        user_email=names.get(user_id, "") if isinstance(user_id, int) else "",
        source_ip=_section(document, "source").get("ip"),
        request=_request_of(document),
        labels=[(str(key), _text(value)) for key, value in sorted(labels.items())],
    )


def _shown(values: dict[str, object], field: str) -> str:
    return _text(values[field]) if field in values else ""


def audit_row(entry: AuditEntry, names: dict[int, str]) -> AuditRow:
    """Return an audit entry with the fields that changed as old → new pairs."""
    old = entry.old if isinstance(entry.old, dict) else {}
    new = entry.new if isinstance(entry.new, dict) else {}
    fields = [*old, *(key for key in new if key not in old)]
    changes = [
        Change(field, _shown(old, field), _shown(new, field))
        for field in fields
        if field not in old or field not in new or old[field] != new[field]
    ]
    who = names.get(entry.actor_id, "") if entry.actor_id is not None else ""
    return AuditRow(entry, who or entry.actor_label, changes)


@require_http_methods(["GET"])
@tenant_view(Role.ADMIN)
def security(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """Show the tenant's latest security events and audit entries, filtered by action prefix."""
    form = SecurityFilterForm(request.GET)
    prefix = form.cleaned_data["action"] if form.is_valid() else ""
    events = tenant_security_events(ctx.scope, limit=LIMIT, action_prefix=prefix)
    entries = tenant_audit_entries(ctx.scope, limit=LIMIT, action_prefix=prefix)
    # Only the tenant's current members get a name; anyone else stays a user id.
    names = {m.user_id: m.user.email for m in tenant_members(ctx.scope)}
    context = {
        "ctx": ctx,
        "form": form,
        "prefix": prefix,
        "presets": PRESETS,
        "events": [event_row(record, names) for record in events],
        "entries": [audit_row(entry, names) for entry in entries],
        "limit": LIMIT,
    }
    return render(request, "security/events.html", context, status=200 if form.is_valid() else 400)
