"""Factories of the web tests: members with roles, and events written straight to the store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User

from heliograph.core.events import EventRow
from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store
from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Membership, Role, Tenant

# A fixed past day keeps dashboard numbers independent of when the suite runs.
DAY = datetime(2024, 3, 12, tzinfo=UTC)
DAY_QUERY = {"range": "custom", "from": "2024-03-12", "to": "2024-03-12"}


def member(tenant: Tenant, role: Role, email: str | None = None) -> User:
    """Create a user (no usable password: tests sign in with force_login) with one role."""
    address = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    user = User.objects.create_user(username=address, email=address)
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


@dataclass
class Visit:
    """One page view with optional clicks and a scroll depth."""

    path: str
    at: datetime = DAY + timedelta(hours=10)
    visitor: str = "v1"
    session: str = "s1"
    referrer: str = ""
    browser: str = "Firefox"
    device: str = "desktop"
    depth: int = 0
    clicks: tuple[tuple[str, int, int], ...] = ()  # (selector, x, y)


def rows_of(site: Site, visit: Visit) -> list[EventRow]:
    """Return the events of one page view of ``site``."""
    pageview = uuid.uuid4().hex
    base = {
        "site_id": site.pk,
        "session_id": visit.session,
        "visitor_id": visit.visitor,
        "pageview_id": pageview,
        "url": f"https://{site.allowed_domains[0]}{visit.path}",
        "path": visit.path,
        "vw": 1280,
        "vh": 800,
        "dw": 1280,
        "dh": 3000,
        "device": visit.device,
        "browser": visit.browser,
        "os": "Linux",
    }
    host = visit.referrer.split("/")[2] if visit.referrer else ""
    events = [
        EventRow(
            event_id=uuid.uuid4(),
            ts=visit.at,
            received=visit.at,
            type="pageview",
            referrer=visit.referrer,
            referrer_host=host,
            **base,
        )
    ]
    for i, (selector, x, y) in enumerate(visit.clicks):
        at = visit.at + timedelta(seconds=i + 1)
        events.append(
            EventRow(
                event_id=uuid.uuid4(),
                ts=at,
                received=at,
                type="click",
                selector=selector,
                x=x,
                y=y,
                **base,
            )
        )
    if visit.depth:
        at = visit.at + timedelta(seconds=30)
        events.append(
            EventRow(
                event_id=uuid.uuid4(), ts=at, received=at, type="scroll", depth=visit.depth, **base
            )
        )
    return events


def write_visits(site: Site, *visits: Visit) -> int:
    """Write the page views into the store under the site's tenant; return the events written."""
    rows = [row for visit in visits for row in rows_of(site, visit)]
    return store.write_events(TenantScope(site.tenant_id), rows)
