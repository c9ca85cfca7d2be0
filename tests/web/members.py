"""Members of every role in two tenants, shared by tests/web and tests/isolation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from heliograph.core.config import Settings
from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Role
from tests.conftest import TwoSites
from tests.web.factories import member


@dataclass(frozen=True)
class Members:
    """Tenant A with one member per role, tenant B with an owner; one site each."""

    site_a: Site
    site_b: Site
    owner: User
    admin: User
    analyst: User
    viewer: User
    owner_b: User

    def by_role(self, role: Role) -> User:
        return {
            Role.OWNER: self.owner,
            Role.ADMIN: self.admin,
            Role.ANALYST: self.analyst,
            Role.VIEWER: self.viewer,
        }[role]


@pytest.fixture
def members(transactional_db: None, two_sites: TwoSites, event_store: Settings) -> Members:
    """Members of both tenants; the database is flushed, not rolled back, after each test.

    A flush keeps SQLite's id counters, so every test gets site and tenant ids that no other
    test wrote events for (the event store lives for the whole session).
    """
    site_a, site_b = two_sites.a, two_sites.b
    assert isinstance(site_a, Site)
    assert isinstance(site_b, Site)
    tenant_a, tenant_b = site_a.tenant, site_b.tenant
    return Members(
        site_a=site_a,
        site_b=site_b,
        owner=member(tenant_a, Role.OWNER),
        admin=member(tenant_a, Role.ADMIN),
        analyst=member(tenant_a, Role.ANALYST),
        viewer=member(tenant_a, Role.VIEWER),
        owner_b=member(tenant_b, Role.OWNER),
    )


def signed_in(user: User) -> Client:
    """Return a test client with ``user`` signed in."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(members: Members) -> Client:
    return signed_in(members.owner)
