"""Secrets in the metadata database: sealed per tenant, row and column, never stored in clear."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import serializers
from django.db import connection, models
from django.forms import modelform_factory

from heliograph.core.crypto.keyring import Keyring
from heliograph.core.crypto.setup import process_keyring
from heliograph.web.audit.trail import SYSTEM
from heliograph.web.crypto_fields import (
    SealedSecret,
    SecretUnreadable,
    reencrypt_secrets,
    reveal_secret,
    seal_secret,
)
from heliograph.web.mailserver.models import StoredMailServer, TlsMode
from heliograph.web.mailserver.services import PasswordChange, mail_server_set
from heliograph.web.sites.models import Site
from heliograph.web.tenants.models import Tenant
from heliograph.web.webhooks.models import Webhook, WebhookEvent
from heliograph.web.webhooks.services import webhook_create
from tests.conftest import TwoSites
from tests.web.members import Members

EVENTS = [WebhookEvent.IAM.value]
HookAndSecret = tuple[Webhook, str]


def tenant_of(site: object) -> Tenant:
    assert isinstance(site, Site)
    return site.tenant


def make_hook(tenant: Tenant, name: str) -> tuple[Webhook, str]:
    made = webhook_create(
        tenant=tenant,
        url=f"https://{name}.example/hook",
        events=EVENTS,
        created_by=None,
        actor=SYSTEM,
    )
    return made.webhook, made.secret


def keyring() -> Keyring:
    return process_keyring(settings.HELIOGRAPH)


def raw(model: type[models.Model], column: str, pk: object) -> bytes:
    """Read a column the way a stolen database copy reads it: no ORM, no decryption."""
    table, name = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {name} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        value = cursor.fetchone()[0]
    return bytes(value)


def write_raw(model: type[models.Model], column: str, pk: object, value: bytes) -> None:
    table, name = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(column)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {name} = %s WHERE id = %s", [value, pk])  # noqa: S608


def fresh(hook: Webhook) -> Webhook:
    return Webhook.objects.get(pk=hook.pk)


@pytest.fixture
def hooks(two_sites: TwoSites) -> tuple[HookAndSecret, HookAndSecret, HookAndSecret]:
    """Two webhooks of tenant A and one of tenant B, each with its secret."""
    a, b = tenant_of(two_sites.a), tenant_of(two_sites.b)
    return make_hook(a, "a1"), make_hook(a, "a2"), make_hook(b, "b1")


def test_the_column_holds_only_ciphertext(hooks: tuple[tuple[Webhook, str], ...]) -> None:
    for hook, secret in hooks:
        stored = raw(Webhook, "signing_secret", hook.pk)
        assert stored.startswith(b"HGE1")  # a Keyring ciphertext naming its data key
        assert secret.encode() not in stored
        assert secret.removeprefix("whsec_").encode() not in stored
        assert reveal_secret(fresh(hook), "signing_secret") == secret


def test_the_same_secret_never_encrypts_the_same_twice(two_sites: TwoSites) -> None:
    hook, _ = make_hook(tenant_of(two_sites.a), "same")
    seal_secret(hook, "signing_secret", "identical")
    first = hook.signing_secret
    seal_secret(hook, "signing_secret", "identical")
    assert first != hook.signing_secret  # a fresh nonce each time


def test_ciphertexts_swapped_between_rows_of_one_tenant_do_not_decrypt(
    hooks: tuple[tuple[Webhook, str], ...],
) -> None:
    (a1, _), (a2, _), _ = hooks
    one, two = raw(Webhook, "signing_secret", a1.pk), raw(Webhook, "signing_secret", a2.pk)
    write_raw(Webhook, "signing_secret", a1.pk, two)
    write_raw(Webhook, "signing_secret", a2.pk, one)
    for hook in (a1, a2):
        with pytest.raises(SecretUnreadable, match=r"webhooks\.Webhook\.signing_secret of row"):
            reveal_secret(fresh(hook), "signing_secret")


def test_a_ciphertext_moved_to_another_tenant_does_not_decrypt(
    hooks: tuple[tuple[Webhook, str], ...],
) -> None:
    (a1, _), _, (b1, _) = hooks
    ours, theirs = raw(Webhook, "signing_secret", a1.pk), raw(Webhook, "signing_secret", b1.pk)
    write_raw(Webhook, "signing_secret", a1.pk, theirs)
    write_raw(Webhook, "signing_secret", b1.pk, ours)
    for hook in (a1, b1):
        with pytest.raises(SecretUnreadable):
            reveal_secret(fresh(hook), "signing_secret")


def test_a_ciphertext_moved_to_another_row_id_or_column_does_not_decrypt(
    hooks: tuple[tuple[Webhook, str], ...],
) -> None:
    (a1, secret), _, _ = hooks
    stolen = raw(Webhook, "signing_secret", a1.pk)
    # The same bytes in the same row, but the row now has another id: the binding breaks.
    moved = fresh(a1)
    moved.pk = a1.pk + 1000
    with pytest.raises(SecretUnreadable):
        reveal_secret(moved, "signing_secret")
    # The same bytes in the platform's SMTP password column.
    mail = mail_server_set(
        host="smtp.example", port=587, username="", tls=TlsMode.STARTTLS, mail_from="a@b.example"
    )
    write_raw(StoredMailServer, "password", mail.pk, stolen)
    with pytest.raises(SecretUnreadable, match=r"mailserver\.StoredMailServer\.password"):
        reveal_secret(StoredMailServer.objects.get(pk=mail.pk), "password")
    assert reveal_secret(fresh(a1), "signing_secret") == secret  # the original still reads


def test_an_altered_ciphertext_is_an_error_not_garbage(
    hooks: tuple[tuple[Webhook, str], ...],
) -> None:
    (a1, _), _, _ = hooks
    stored = bytearray(raw(Webhook, "signing_secret", a1.pk))
    stored[-1] ^= 0x01
    write_raw(Webhook, "signing_secret", a1.pk, bytes(stored))
    with pytest.raises(SecretUnreadable, match="does not decrypt"):
        reveal_secret(fresh(a1), "signing_secret")
    write_raw(Webhook, "signing_secret", a1.pk, b"not a ciphertext at all")
    with pytest.raises(SecretUnreadable):
        reveal_secret(fresh(a1), "signing_secret")


def test_the_plaintext_shows_nowhere_in_repr_forms_or_serialisation(
    hooks: tuple[tuple[Webhook, str], ...],
) -> None:
    (a1, secret), _, _ = hooks
    hook = fresh(a1)
    assert isinstance(hook.signing_secret, SealedSecret)
    assert secret not in repr(hook.signing_secret)
    assert secret not in repr(hook) + str(hook) + repr(vars(hook))
    form = modelform_factory(Webhook, fields="__all__")(instance=hook)
    assert "signing_secret" not in form.fields
    assert secret not in str(form)
    assert secret not in serializers.serialize("json", [hook])


def test_the_one_time_result_hides_its_secret_from_repr(two_sites: TwoSites) -> None:
    made = webhook_create(
        tenant=tenant_of(two_sites.a),
        url="https://repr.example/hook",
        events=EVENTS,
        created_by=None,
        actor=SYSTEM,
    )
    assert made.secret.startswith("whsec_")
    assert made.secret not in repr(made)


def test_a_plain_value_is_never_written(two_sites: TwoSites) -> None:
    hook, _ = make_hook(tenant_of(two_sites.a), "plain")
    hook.signing_secret = "whsec_typed_by_mistake"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="seal_secret"):
        hook.save()


def test_a_secret_is_bound_to_a_saved_row(two_sites: TwoSites) -> None:
    unsaved = Webhook(tenant=tenant_of(two_sites.a), url="https://x.example/", events=EVENTS)
    with pytest.raises(ValueError, match="save the Webhook"):
        seal_secret(unsaved, "signing_secret", "s")


def test_a_platform_secret_uses_the_platform_key(two_sites: TwoSites) -> None:
    mail = mail_server_set(
        host="smtp.example",
        port=587,
        username="mailer",
        tls=TlsMode.STARTTLS,
        mail_from="ops@example.com",
        password=PasswordChange(new="smtp-password-123"),
    )
    stored = raw(StoredMailServer, "password", mail.pk)
    assert b"smtp-password-123" not in stored
    assert isinstance(mail.password, SealedSecret)
    assert mail.password.key_id.startswith("t0-")  # PLATFORM is tenant 0
    assert reveal_secret(StoredMailServer.objects.get(), "password") == "smtp-password-123"


# -- rotation: re-encrypt, retire, shred (tenants with ids no other test reuses) ---------------


def test_reencrypt_moves_every_secret_to_the_new_key_and_the_old_one_can_go(
    members: Members,
) -> None:
    a, b = members.site_a.tenant, members.site_b.tenant
    (a1, s1), (a2, s2), (b1, s3) = make_hook(a, "a1"), make_hook(a, "a2"), make_hook(b, "b1")
    old_key = fresh(a1).signing_secret
    assert old_key is not None
    keyring().rotate_tenant_key(a.pk)
    report = reencrypt_secrets()
    assert (report.checked, report.reencrypted, report.failed) == (3, 2, ())
    for hook in (a1, a2):
        sealed = fresh(hook).signing_secret
        assert sealed is not None
        assert sealed.key_id != old_key.key_id
    b_sealed = fresh(b1).signing_secret
    assert b_sealed is not None
    assert b_sealed.blob == raw(Webhook, "signing_secret", b1.pk)  # B was left alone
    keyring().retire_tenant_key(a.pk, old_key.key_id)
    assert [reveal_secret(fresh(h), "signing_secret") for h in (a1, a2, b1)] == [s1, s2, s3]
    assert reencrypt_secrets().reencrypted == 0  # nothing left under an old key


def test_a_shredded_tenants_secrets_are_reported_unreadable(members: Members) -> None:
    hook, _ = make_hook(members.site_b.tenant, "shredded")
    keyring().destroy_tenant(members.site_b.tenant_id)
    with pytest.raises(SecretUnreadable, match="destroyed"):
        reveal_secret(fresh(hook), "signing_secret")
    report = reencrypt_secrets()
    assert not report.ok
    assert len(report.failed) == 1
    assert f"row {hook.pk}" in report.failed[0]
