"""Deleting a tenant: crypto-shred what it encrypted, erase its rows, and say so on the record.

Order matters, and every step is safe to repeat:

1. The event store must be open in this process (the server's, or the CLI's when the server is
   stopped): checked first, so nothing irreversible happens if the store cannot be reached.
2. The tenant's data keys are destroyed. From this instant its spool records, exports and
   backups, and its secrets in the metadata database, are unreadable wherever copies went
   (crypto-shredding); the collector refuses its sites' beacons, the loader drops its records.
3. Its rows are deleted from every event-store table (the store's files are under the
   platform's disk key, not the tenant's, so they are erased rather than shredded).
4. Its export files are removed.
5. In one transaction: an audit entry (and security event) listing what was destroyed, and the
   tenant's row, which takes its sites, memberships, invitations, tokens and webhooks with it.
   Audit entries and security events keep the tenant's id: the record of the deletion stays.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from django.db import transaction

from heliograph.core.config import Settings
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.errors import InputError
from heliograph.core.tenancy import TenantScope
from heliograph.exports import exports_dir
from heliograph.store import api as store
from heliograph.web.audit.trail import SYSTEM, Actor, audit_change
from heliograph.web.tenants.models import Tenant


@dataclass(frozen=True, slots=True)
class Deletion:
    """What deleting one tenant did."""

    tenant_id: int
    data_keys_destroyed: int
    store_tables_erased: int
    export_files_removed: int


def tenant_delete(
    tenant: Tenant, *, settings: Settings, confirm_name: str, actor: Actor = SYSTEM
) -> Deletion:
    """Delete a tenant and everything it owns; ``confirm_name`` must repeat its name."""
    if confirm_name.strip() != tenant.name:
        raise InputError("confirmation_mismatch", "type the organisation's name to delete it")
    if not store.store_ready():
        raise InputError(
            "store_unavailable",
            "the event store is not open in this process; stop the server and run "
            "`heliograph tenant delete` (or delete from the running app)",
            status=503,
        )
    tenant_id = int(tenant.pk)
    scope = TenantScope(tenant_id)
    destroyed = process_keyring(settings).destroy_tenant(tenant_id)
    tables = store.erase_tenant(scope)
    directory = exports_dir(settings, tenant_id)
    removed = len(list(directory.glob("*.hgx"))) if directory.is_dir() else 0
    shutil.rmtree(directory, ignore_errors=True)
    sites = list(tenant.sites.order_by("pk").values_list("name", flat=True))
    with transaction.atomic():
        audit_change(
            actor=actor,
            tenant_id=tenant_id,
            entity="tenant",
            entity_id=tenant_id,
            action="deleted",
            old={"name": tenant.name, "time_zone": tenant.time_zone, "sites": sites},
            new={
                "data_keys_destroyed": destroyed,
                "crypto_shredded": ["spool", "exports", "backups", "secrets"],
                "store_tables_erased": tables,
                "export_files_removed": removed,
            },
        )
        tenant.delete()
    return Deletion(tenant_id, destroyed, tables, removed)
