"""What a store backend offers the store: scoped reads, tenant inserts, schema statements."""

from __future__ import annotations

import re
from typing import Any, Protocol

from heliograph.core.errors import HeliographError, InputError
from heliograph.core.tenancy import TenantScope
from heliograph.store.rows import EventBatch
from heliograph.store.sql import ParamValue, ScopedStatement

Row = list[Any]


class StoreError(HeliographError):
    """The event store is closed, unreachable or refused a statement."""


# ClickHouse error codes that mean "this data does not fit the schema" rather than a store
# fault: parse failures, out-of-range casts, unknown enum values.
DATA_ERROR_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 321, 691})
_CODE = re.compile(r"Code: (\d+)\.")


def insert_error(exc: BaseException) -> HeliographError:
    """Return InputError for a refused row, StoreError for anything else (cause chained)."""
    match = _CODE.search(str(exc))
    if match and int(match.group(1)) in DATA_ERROR_CODES:
        return InputError("invalid_event", "an event field has the wrong type or range")
    return StoreError("the event store refused an insert")


class Backend(Protocol):
    """One open event store; every method is safe to call from several threads."""

    def select(self, stmt: ScopedStatement) -> list[Row]:
        """Run a scoped SELECT (checked by sql.assert_scoped) and return its rows."""
        ...

    def insert(self, scope: TenantScope, batch: EventBatch) -> int:
        """Insert a batch built for ``scope``; return the number of rows written."""
        ...

    def unscoped_execute(self, sql: str, params: dict[str, ParamValue] | None = None) -> list[Row]:
        """Run schema DDL, schema bookkeeping or a backfill; never return tenant rows."""
        ...

    def ping(self) -> bool:
        """Return True if the store answers."""
        ...

    def close(self) -> None:
        """Release the store; later calls fail."""
        ...
