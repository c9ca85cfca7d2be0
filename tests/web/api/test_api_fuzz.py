"""Property-based runs of the whole API from its OpenAPI document (schemathesis, in-process).

No generated request, valid or not, may produce a 5xx; every answer must match the status
codes, media types, headers and schemas the document declares; requests that break the schema
must be refused with a 4xx. Bearer-token operations run with a token of every scope; the
session-only operations (tokens, security events) run with an admin's browser session.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from heliograph.web.api.models import ApiToken
from heliograph.web.api.tokens import hash_secret
from tests.web.api.helpers import ALL_SCOPES
from tests.web.factories import DAY, Visit, write_visits
from tests.web.members import Members

# Loaded at collection from the running app itself (the document needs no database).
app = get_wsgi_application()
by_token = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).exclude(
    tag=["tokens", "security"]
)
by_session = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).include(
    tag=["tokens", "security"]
)

# Schemathesis asks for credentials while it collects, before any test database exists, so
# the credentials are fixed here and stored for each test by the fixtures below.
PREFIX, SECRET = "f0220f0220f0", "schemathesis-fuzz-run-secret-0123456789abcd"
TOKEN = f"hg_{PREFIX}_{SECRET}"
SESSION_ID = "schemathesisfuzzsession0000000000000000"
CSRF = "schemathesisfuzzcsrf000000000000"  # 32 characters, as Django's CSRF secret
FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
)


@by_token.auth(refresh_interval=None)
class FuzzToken:
    """Send TOKEN (schemathesis leaves it out of the cases that probe missing credentials)."""

    def get(self, case: Case, context: object) -> str:
        return TOKEN

    def set(self, case: Case, data: str, context: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@by_session.auth(refresh_interval=None)
class FuzzSession:
    """Send the admin's session cookie, with the CSRF cookie and header unsafe methods need."""

    def get(self, case: Case, context: object) -> str:
        return SESSION_ID

    def set(self, case: Case, data: str, context: object) -> None:
        case.cookies = {**(case.cookies or {}), django_settings.SESSION_COOKIE_NAME: data,
                        django_settings.CSRF_COOKIE_NAME: CSRF}
        case.headers = {**(case.headers or {}), "X-CSRFToken": CSRF}


@pytest.fixture
def token(members: Members) -> str:
    """Store TOKEN for tenant A's owner with every scope; A's site has a little traffic."""
    write_visits(members.site_a, Visit("/pricing", at=DAY, clicks=(("a.b", 10, 10),), depth=50))
    ApiToken.objects.create(
        tenant=members.site_a.tenant, name="fuzz", prefix=PREFIX, secret_hash=hash_secret(SECRET),
        scopes=list(ALL_SCOPES), created_by=members.owner,
        expires_at=timezone.now() + timedelta(days=1),
    )
    return TOKEN


@pytest.fixture
def session(members: Members) -> str:
    """Store SESSION_ID as a signed-in session of tenant A's admin."""
    user = members.admin
    data = {SESSION_KEY: str(user.pk), HASH_SESSION_KEY: user.get_session_auth_hash(),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend"}
    Session.objects.create(session_key=SESSION_ID, session_data=SessionStore().encode(data),
                           expire_date=timezone.now() + timedelta(hours=1))
    return SESSION_ID


def _call(case: Case) -> None:
    case.call_and_validate(
        # Rules across fields (start <= end, at most 366 days, hostnames, an expiry within a
        # year) are not expressible in JSON Schema: a schema-valid request may still be a 400.
        excluded_checks=[positive_data_acceptance],
    )


@by_token.parametrize()
@FUZZ
def test_token_operations_keep_their_documented_promises(
    case: Case, token: str, members: Members
) -> None:
    valid = case.meta is None or case.meta.generation.mode.is_positive
    if valid and case.path.startswith("/api/v1/sites/{id}"):
        case.path_parameters = {"id": members.site_a.pk}  # past the lookup, into the store
    _call(case)


@by_session.parametrize()
@FUZZ
def test_session_operations_keep_their_documented_promises(case: Case, session: str) -> None:
    _call(case)
