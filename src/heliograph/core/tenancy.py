"""Tenant scope: the only key that opens tenant data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantScope:
    """Name the one tenant whose data a read or write may touch.

    Every store function takes a scope; the query builder adds the tenant filter itself, so a
    query without a tenant cannot be expressed (ARCHITECTURE: data segregation).
    """

    tenant_id: int

    def __post_init__(self) -> None:
        # bool is an int subclass; True must not silently mean tenant 1.
        if type(self.tenant_id) is not int or self.tenant_id <= 0:
            raise TypeError(
                f"TenantScope needs a positive integer tenant id, got {self.tenant_id!r}"
            )


def require_scope(scope: object) -> TenantScope:
    """Return ``scope`` if it is a real TenantScope, else raise TypeError."""
    if not isinstance(scope, TenantScope):
        raise TypeError(f"a TenantScope is required, got {type(scope).__name__}")
    return scope
