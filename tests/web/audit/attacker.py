"""What an attacker with database access does first to the security log."""

from __future__ import annotations

from django.db import connection


def drop_append_only_guard() -> None:
    """Remove the trigger that refuses changes to the log's rows."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER audit_securityeventrecord_no_update")
        else:
            cursor.execute(
                "DROP TRIGGER audit_securityeventrecord_append_only ON audit_securityeventrecord"
            )
