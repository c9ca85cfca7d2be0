"""API tokens: shown once, stored as a keyed hash, expiring, revocable, scoped, audited."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from heliograph.core.errors import InputError
from heliograph.web.api.models import ApiToken, Scope
from heliograph.web.api.tokens import api_token_create, api_token_revoke
from heliograph.web.audit.models import AuditEntry, SecurityEventRecord
from heliograph.web.tenants.models import Membership, Role
from tests.web.api.helpers import ALL_SCOPES, NOT_FOUND, bearer, issue, post_json
from tests.web.members import Members, signed_in

INVALID = {"code": "invalid_token", "message": "the token is invalid, expired or revoked"}


def _every_stored_value() -> str:
    """Return every value of every table of the metadata database as one string."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608  names from introspection
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def _create(client: Client, **body: object) -> dict[str, object]:
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    payload = {"name": "deploy", "scopes": list(ALL_SCOPES), "expires_at": expires, **body}
    response = post_json(client, "/api/v1/tokens", payload)
    assert response.status_code == 201, response.content
    created: dict[str, object] = response.json()
    return created


def _failures() -> list[SecurityEventRecord]:
    return list(SecurityEventRecord.objects.filter(action="api.auth_failed").order_by("seq"))


def test_a_token_is_shown_once_and_stored_only_as_a_keyed_hash(members: Members) -> None:
    admin = signed_in(members.admin)
    created = _create(admin)
    plaintext = str(created["plaintext"])
    prefix, secret = plaintext.split("_", 2)[1:]
    assert plaintext.startswith("hg_") and len(secret) >= 43
    token = ApiToken.objects.get(prefix=prefix)
    assert token.secret_hash != secret and len(token.secret_hash) == 64
    stored = _every_stored_value()
    assert secret not in stored
    assert plaintext not in stored
    listing = admin.get("/api/v1/tokens").content.decode()
    assert prefix in listing and secret not in listing and token.secret_hash not in listing


def test_a_token_authenticates_and_records_when_it_was_used(members: Members) -> None:
    token, plaintext = issue(members.admin)
    assert token.last_used_at is None
    response = bearer(plaintext).get("/api/v1/sites")
    assert response.status_code == 200
    assert [s["name"] for s in response.json()["items"]] == ["A site"]
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(minutes=1)


def _expired(members: Members) -> str:
    token, plaintext = issue(members.admin)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    return plaintext


def _revoked(members: Members) -> str:
    token, plaintext = issue(members.admin)
    api_token_revoke(token=token, actor=members.admin)
    return plaintext


def _forged(members: Members) -> str:
    """Return a well-formed token with a real prefix and a secret of our own."""
    token, _ = issue(members.admin)
    return f"hg_{token.prefix}_{secrets.token_urlsafe(32)}"


def _creator_gone(members: Members) -> str:
    _, plaintext = issue(members.admin)
    Membership.objects.filter(user=members.admin).delete()
    return plaintext


@pytest.mark.parametrize(
    ("kind", "make", "reason"),
    [
        ("expired", _expired, "expired"),
        ("revoked", _revoked, "revoked"),
        ("forged", _forged, "bad_secret"),
        ("creator left", _creator_gone, "creator_not_member"),
        ("garbled", lambda m: "hg_zz_not-a-token", "malformed"),
        ("unknown", lambda m: "hg_0123456789ab_" + "x" * 43, "unknown_prefix"),
    ],
)
def test_a_bad_token_is_refused_with_json_and_logged(
    members: Members, kind: str, make: object, reason: str
) -> None:
    assert callable(make)
    plaintext = make(members)
    response = bearer(plaintext).get("/api/v1/sites")
    assert response.status_code == 401, kind
    assert response.json() == INVALID
    assert response["WWW-Authenticate"].startswith("Bearer")
    (event,) = _failures()
    assert event.document["event"]["outcome"] == "failure"
    assert event.document["labels"]["reason"] == reason
    assert event.document["http"]["response"] == {"status_code": 401}
    assert plaintext not in str(event.document)
    assert plaintext.split("_", 2)[-1] not in str(event.document)  # the secret part


def test_a_forged_token_is_logged_against_the_tenant_it_names(members: Members) -> None:
    bearer(_forged(members)).get("/api/v1/sites")
    (event,) = _failures()
    assert event.tenant_id == members.site_a.tenant_id


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "hg_x"])
def test_other_authorization_headers_are_refused(members: Members, header: str) -> None:
    response = Client(headers={"Authorization": header}).get("/api/v1/sites")
    assert response.status_code == 401
    assert response.json() == INVALID


def test_no_credentials_at_all_is_401_json(members: Members) -> None:
    response = Client().get("/api/v1/sites")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert _failures() == []


@pytest.mark.parametrize(
    ("scopes", "method", "url", "status"),
    [
        ([Scope.ANALYTICS_READ], "get", "/api/v1/sites", 200),
        ([Scope.ANALYTICS_READ], "post", "/api/v1/sites", 403),
        ([Scope.ANALYTICS_READ], "post", "/api/v1/sites/{site}/rotate-key", 403),
        ([Scope.SITES_MANAGE], "get", "/api/v1/sites/{site}/overview", 403),
        ([Scope.SITES_MANAGE], "post", "/api/v1/sites/{site}/rotate-key", 200),
        ([Scope.SITES_MANAGE], "get", "/api/v1/sites/{site}", 200),
    ],
)
def test_scopes_are_enforced(
    members: Members, scopes: list[Scope], method: str, url: str, status: int
) -> None:
    _, plaintext = issue(members.admin, scopes=scopes)
    client = bearer(plaintext)
    target = url.format(site=members.site_a.pk)
    query = "?start=2024-03-12&end=2024-03-12" if target.endswith("overview") else ""
    if method == "post":
        response = post_json(client, target, {"name": "x", "domains": ["x.example"]})
    else:
        response = client.get(target + query)
    assert response.status_code == status, response.content
    if status == 403:
        assert response.json()["code"] == "insufficient_scope"


def test_a_token_carries_its_creators_current_role(members: Members) -> None:
    _, plaintext = issue(members.admin, scopes=[Scope.SITES_MANAGE])
    Membership.objects.filter(user=members.admin).update(role=Role.VIEWER)
    body = {"name": "x", "domains": ["x.example"]}
    response = post_json(bearer(plaintext), "/api/v1/sites", body)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize(("method", "url"), [("get", "/api/v1/tokens"),
                                             ("get", "/api/v1/security-events"),
                                             ("post", "/api/v1/tokens"),
                                             ("delete", "/api/v1/tokens/1")])
def test_tokens_cannot_manage_tokens_or_read_the_security_log(
    members: Members, method: str, url: str
) -> None:
    _, plaintext = issue(members.owner)
    response = getattr(bearer(plaintext), method)(url)
    assert response.status_code == 403
    assert response.json()["code"] == "session_required"


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_only_admins_manage_tokens(members: Members, role: Role) -> None:
    client = signed_in(members.by_role(role))
    assert client.get("/api/v1/tokens").status_code == 403
    response = post_json(client, "/api/v1/tokens", {"name": "x", "scopes": ["analytics:read"],
                                                    "expires_at": "2099-01-01T00:00:00Z"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not ApiToken.objects.exists()


def test_revoking_through_the_api_stops_the_token(members: Members) -> None:
    admin = signed_in(members.admin)
    created = _create(admin)
    token_id = created["token"]["id"]  # type: ignore[index]
    plaintext = str(created["plaintext"])
    assert bearer(plaintext).get("/api/v1/sites").status_code == 200
    response = admin.delete(f"/api/v1/tokens/{token_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert admin.delete(f"/api/v1/tokens/{token_id}").status_code == 204  # idempotent
    assert bearer(plaintext).get("/api/v1/sites").status_code == 401
    (listed,) = admin.get("/api/v1/tokens").json()["items"]
    assert listed["state"] == "revoked" and listed["revoked_at"]


def test_another_tenants_token_cannot_be_revoked(members: Members) -> None:
    token_b, plaintext_b = issue(members.owner_b)
    admin = signed_in(members.admin)
    foreign = admin.delete(f"/api/v1/tokens/{token_b.pk}")
    missing = admin.delete("/api/v1/tokens/987654321")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == NOT_FOUND
    assert bearer(plaintext_b).get("/api/v1/sites").status_code == 200


def test_creating_and_revoking_leave_an_audit_record_and_a_security_event(
    members: Members,
) -> None:
    token, plaintext = issue(members.admin, scopes=[Scope.ANALYTICS_READ])
    api_token_revoke(token=token, actor=members.owner)
    api_token_revoke(token=token, actor=members.owner)  # a no-op: no second record
    created, revoked = AuditEntry.objects.filter(entity="api_token").order_by("id")
    assert (created.action, created.actor_id, created.old) == ("create", members.admin.pk, None)
    assert created.new is not None and created.new["scopes"] == ["analytics:read"]
    assert (revoked.action, revoked.actor_id) == ("revoke", members.owner.pk)
    assert revoked.old is not None and revoked.old["revoked_at"] is None
    assert revoked.new is not None and revoked.new["revoked_at"]
    assert {created.tenant_id, revoked.tenant_id} == {members.site_a.tenant_id}
    events = SecurityEventRecord.objects.filter(action__startswith="api_token.").order_by("seq")
    assert [(e.action, e.tenant_id, e.document["user"]["id"], e.document["event"]["category"])
            for e in events] == [
        ("api_token.created", members.site_a.tenant_id, members.admin.pk, "iam"),
        ("api_token.revoked", members.site_a.tenant_id, members.owner.pk, "iam"),
    ]
    secret = plaintext.split("_", 2)[2]
    trail = str([created.new, revoked.old, revoked.new, [e.document for e in events]])
    assert secret not in trail and token.secret_hash not in trail


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": "  "}, "invalid_name"),
        ({"scopes": []}, "invalid_scopes"),
        ({"scopes": ["admin:all"]}, "invalid_scopes"),
        ({"expires_at": timedelta(days=366)}, "invalid_expiry"),
        ({"expires_at": timedelta(seconds=-1)}, "invalid_expiry"),
    ],
)
def test_the_create_service_refuses_bad_tokens(
    members: Members, change: dict[str, object], code: str
) -> None:
    fields: dict[str, object] = {
        "name": "ok", "scopes": list(ALL_SCOPES), "expires_at": timedelta(days=1)
    }
    fields.update(change)
    offset = fields.pop("expires_at")
    assert isinstance(offset, timedelta)
    with pytest.raises(InputError) as refused:
        api_token_create(
            tenant=members.site_a.tenant, actor=members.admin,
            expires_at=timezone.now() + offset, **fields,  # type: ignore[arg-type]
        )
    assert refused.value.code == code
    assert not ApiToken.objects.exists()


def test_a_naive_expiry_is_refused(members: Members) -> None:
    with pytest.raises(InputError, match="offset"):
        api_token_create(
            tenant=members.site_a.tenant, name="x", scopes=list(ALL_SCOPES), actor=members.admin,
            expires_at=(timezone.now() + timedelta(days=1)).replace(tzinfo=None),
        )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_at": "2024-01-01T00:00:00"}, "invalid_body"),  # no offset
        ({"scopes": ["sites:delete"]}, "invalid_body"),
        ({"extra": 1}, "invalid_body"),
        ({"name": "a\u0000b"}, "invalid_body"),
        ({"name": "ab\n"}, "invalid_body"),
        ({"expires_at": "0001-01-01T00:00:00+01:00"}, "invalid_expiry"),
        ({"expires_at": "9999-12-31T23:59:59-01:00"}, "invalid_expiry"),
    ],
)
def test_the_api_refuses_bad_token_bodies(
    members: Members, body: dict[str, object], code: str
) -> None:
    payload = {"name": "x", "scopes": ["analytics:read"],
               "expires_at": (timezone.now() + timedelta(days=1)).isoformat(), **body}
    response = post_json(signed_in(members.admin), "/api/v1/tokens", payload)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_tokens_survive_a_secret_key_rotation(members: Members) -> None:
    _, plaintext = issue(members.admin)
    new_key = "n" * 50
    with override_settings(SECRET_KEY=new_key):
        assert bearer(plaintext).get("/api/v1/sites").status_code == 401
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
        assert bearer(plaintext).get("/api/v1/sites").status_code == 200


def test_session_writes_need_the_csrf_token_and_bearer_writes_do_not(members: Members) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(members.admin)
    body = {"name": "x", "domains": ["x.example"]}
    refused = post_json(browser, "/api/v1/sites", body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    csrf = secrets.token_hex(16)  # what a page of the app sets in the csrftoken cookie
    browser.cookies[settings.CSRF_COOKIE_NAME] = csrf
    accepted = browser.post("/api/v1/sites", data=body, content_type="application/json",
                            headers={"X-CSRFToken": csrf})
    assert accepted.status_code == 201, accepted.content
    _, plaintext = issue(members.admin)
    token_client = Client(
        enforce_csrf_checks=True, headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert post_json(token_client, "/api/v1/sites", body).status_code == 201
