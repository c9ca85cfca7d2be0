"""The tenant-scoped query builder: the only way store code expresses a read of tenant data.

Every statement starts from a TenantScope and reads one of the tenant tables (``events`` and the
roll-ups kept from it, schema/rollups.py) with ``tenant_id = {tenant_id:UInt64}`` as its first
predicate; values travel as typed ClickHouse placeholders (``{name:Type}``) and never as SQL text
(ARCHITECTURE: data segregation; OWASP ASVS 5.3.4: parameterised queries). SQL fragments are
``LiteralString``: they are written in this package, never built from input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, LiteralString, Self, get_args

from heliograph.core.errors import InputError
from heliograph.core.tenancy import TenantScope, require_scope

# A bound value as backends receive it: ints, strings (datetimes are pre-rendered), UUIDs.
ParamValue = int | str | uuid.UUID | tuple[uuid.UUID, ...] | tuple[str, ...] | tuple[int, ...]

TABLE = "events"
# Every table that holds tenant rows, each with tenant_id first in its sort key. A table is
# readable only if it is named here; the executor guard refuses any other.
Table = Literal[
    "events",
    "traffic_slots",
    "visitor_months",
    "page_days",
    "page_visitors",
    "clicks",
    "site_days",
    "sessions",
    "page_views",
    "overview_slots",
    "scroll_hours",
    "edge_days",
]
TABLES: frozenset[str] = frozenset(get_args(Table))
TENANT_PREDICATE = "tenant_id = {tenant_id:UInt64}"
_GUARDED_FROM = re.compile(
    r"FROM (" + "|".join(sorted(TABLES)) + r") WHERE " + re.escape(TENANT_PREDICATE)
)
_RESERVED = frozenset({"tenant_id", "site_id", "start", "end", "limit"})
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}")
# A table reference is FROM/JOIN followed by anything but a subquery, or `IN name` (a Set or
# table). Only a guarded `FROM <tenant table> WHERE tenant_id = ...` may appear.
_TABLE_REF = re.compile(r"\b(?:FROM|JOIN)\s+(?!\()|\bIN\s+(?![(\[{])", re.IGNORECASE)
# After the tenant predicate: only `AND (...)` conjuncts, then the end of this WHERE clause.
_CONJUNCT = re.compile(r"\s+AND\s+\(")
_WHERE_END = re.compile(r"\s*\)|\s+GROUP BY\b|\s+ORDER BY\b|\s+LIMIT\b|\s*$")
_INT_TYPES = re.compile(r"U?Int(8|16|32|64)")
_DT64 = "DateTime64(3, 'UTC')"
# Whole seconds, for DateTime columns: comparing one with a DateTime64 value converts every row.
_DT = "DateTime('UTC')"
_MAX_LIMIT = 100_000

# Only this module may mint statements (see ScopedStatement.__post_init__).
_BUILDER_KEY = object()


class UnscopedQueryError(TypeError):
    """SQL that does not carry the tenant guard reached the executor."""


@dataclass(frozen=True, slots=True)
class ScopedStatement:
    """A finished SELECT for one tenant: SQL text with placeholders plus the bound values."""

    sql: str
    params: Mapping[str, ParamValue]
    tenant_id: int
    _key: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._key is not _BUILDER_KEY:
            raise UnscopedQueryError("statements are built with EventQuery, not constructed")

    def wrap(
        self, select: LiteralString, tail: LiteralString = "", **values: object
    ) -> ScopedStatement:
        """Return ``SELECT select FROM (this) tail``, binding ``values`` used in the new text."""
        params = {**self.params, **bind(f"{select} {tail}", values, self.params)}
        # Only LiteralString fragments of this package and the already-guarded inner statement
        # are joined here; every value stays a placeholder.
        sql = f"SELECT {select} FROM ({self.sql}){' ' + tail if tail else ''}"  # noqa: S608
        return ScopedStatement(sql, params, self.tenant_id, _BUILDER_KEY)


def union_all(*parts: ScopedStatement) -> ScopedStatement:
    """Return ``(a) UNION ALL (b) ...`` of statements of one tenant (wrap() it to read it).

    A name bound in several parts must have the same value in each.
    """
    if not parts or any(not isinstance(p, ScopedStatement) for p in parts):
        raise TypeError("union_all takes ScopedStatements")
    params: dict[str, ParamValue] = {}
    for part in parts:
        if part.tenant_id != parts[0].tenant_id:
            raise UnscopedQueryError("a union must read one tenant")
        for name, value in part.params.items():
            if params.setdefault(name, value) != value:
                raise TypeError(f"parameter {name!r} is bound to different values")
    sql = " UNION ALL ".join(f"({part.sql})" for part in parts)
    return ScopedStatement(sql, params, parts[0].tenant_id, _BUILDER_KEY)


def assert_scoped(stmt: object) -> ScopedStatement:
    """Return ``stmt`` if every table it reads is guarded by its tenant, else raise.

    Defence in depth for the executor: the builder already guarantees this, so a failure here
    means store code tried to bypass it.
    """
    if not isinstance(stmt, ScopedStatement):
        raise UnscopedQueryError(f"a ScopedStatement is required, got {type(stmt).__name__}")
    tenant = stmt.params.get("tenant_id")
    if type(tenant) is not int or tenant <= 0 or tenant != stmt.tenant_id:
        raise UnscopedQueryError("statement is not bound to its tenant")
    sql = stmt.sql
    if ";" in sql:
        raise UnscopedQueryError("one statement at a time")
    refs = list(_TABLE_REF.finditer(sql))
    if not refs:
        raise UnscopedQueryError("statement reads no guarded table")
    for ref in refs:
        guarded = _GUARDED_FROM.match(sql, ref.start())
        if guarded is None:
            raise UnscopedQueryError("table read without the tenant predicate")
        if not _only_conjuncts(sql, guarded.end()):
            raise UnscopedQueryError("tenant predicate must be followed by AND (...) only")
    return stmt


def _closing_paren(text: str, start: int) -> int:
    """Return the index just past the parenthesis closing the one open before ``start``, or -1."""
    depth = 1
    for at in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[at], 0)
        if depth == 0:
            return at + 1
    return -1


def _only_conjuncts(sql: str, at: int) -> bool:
    """Return True if ``sql[at:]`` is ``AND (...)`` groups and then the end of the WHERE.

    So no ``OR`` can sit beside the tenant predicate: `tenant AND (a) OR (b)` would read
    every tenant's rows where b holds.
    """
    while match := _CONJUNCT.match(sql, at):
        at = _closing_paren(sql, match.end())
        if at < 0:
            return False
    return _WHERE_END.match(sql, at) is not None


def balanced(fragment: str) -> str:
    """Return ``fragment`` if its parentheses balance and never close early, else raise."""
    if _closing_paren(fragment + ")", 0) != len(fragment) + 1:
        raise TypeError("a fragment must have balanced parentheses")
    return fragment


def utc_param(value: object, name: str) -> str:
    """Render an aware datetime as a DateTime64(3, 'UTC') parameter value."""
    if not isinstance(value, datetime):
        raise InputError("bad_datetime", f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError("naive_datetime", f"{name} must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


def positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is a positive int (bool refused), else raise InputError."""
    if type(value) is not int or value <= 0:
        raise InputError(f"bad_{name}", f"{name} must be a positive integer")
    return value


def check_limit(n: object) -> int:
    """Return ``n`` if it is a row limit from 1 to 100000, else raise InputError."""
    if type(n) is not int or not 0 < n <= _MAX_LIMIT:
        raise InputError("bad_limit", f"limit must be an integer from 1 to {_MAX_LIMIT}")
    return n


def _check_value(name: str, ch_type: str, value: object) -> ParamValue:
    """Return ``value`` if it fits the declared ClickHouse type, else raise TypeError."""
    if _INT_TYPES.fullmatch(ch_type):
        if type(value) is int:
            return value
    elif ch_type == "String":
        if isinstance(value, str):
            return value
    elif ch_type == _DT64:
        return utc_param(value, name)
    elif ch_type == _DT:
        rendered = utc_param(value, name)
        if not rendered.endswith(".000"):
            raise TypeError(f"parameter {name}: a DateTime value has whole seconds")
        return rendered[:-4]
    elif ch_type == "UUID":
        if isinstance(value, uuid.UUID):
            return value
    elif ch_type == "Array(UUID)":
        if isinstance(value, tuple) and all(isinstance(v, uuid.UUID) for v in value):
            return value
    elif ch_type == "Array(String)":
        if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            return value
    elif ch_type == "Array(UInt32)":
        if isinstance(value, tuple) and all(type(v) is int and 0 <= v < 2**32 for v in value):
            return value
    else:
        raise TypeError(f"parameter {name}: type {ch_type} is not supported by the builder")
    raise TypeError(f"parameter {name}: {type(value).__name__} does not fit {ch_type}")


def bind(
    fragment: str, values: Mapping[str, object], taken: Mapping[str, ParamValue]
) -> dict[str, ParamValue]:
    """Check that ``fragment``'s placeholders and ``values`` match one to one; return them typed."""
    declared = {m.group(1): m.group(2) for m in _PLACEHOLDER.finditer(fragment)}
    if set(declared) != set(values):
        raise TypeError(f"placeholders {sorted(declared)} and values {sorted(values)} differ")
    bound: dict[str, ParamValue] = {}
    for name, value in values.items():
        if name in _RESERVED or name in taken:
            raise TypeError(f"parameter name {name!r} is reserved or already bound")
        bound[name] = _check_value(name, declared[name], value)
    return bound


class EventQuery:
    """Build one SELECT over a tenant table for one tenant; the tenant filter is always first.

    ``table`` defaults to ``events``; ``start``/``end`` bound its time column ``time``.
    """

    def __init__(
        self,
        scope: TenantScope,
        *,
        site_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        table: Table = "events",
        time: LiteralString = "ts",
    ) -> None:
        self._scope = require_scope(scope)
        if table not in TABLES:
            raise UnscopedQueryError(f"{table!r} is not a tenant table")
        self._table = table
        self._time = time
        self._params: dict[str, ParamValue] = {"tenant_id": self._scope.tenant_id}
        self._where: list[str] = []
        self._select: list[str] = []
        self._group: list[str] = []
        self._having: list[str] = []
        self._order: list[str] = []
        self._limit: int | None = None
        if site_id is not None:
            self._params["site_id"] = positive_int(site_id, "site_id")
            self._where.append("site_id = {site_id:UInt64}")
        if (start is None) != (end is None):
            raise TypeError("give both start and end, or neither")
        if start is not None and end is not None:
            self._bind_range(start, end)

    def _bind_range(self, start: datetime, end: datetime) -> None:
        self._params["start"] = utc_param(start, "start")
        self._params["end"] = utc_param(end, "end")
        if not start < end:
            raise InputError("bad_range", "start must be before end")
        self._where.append(f"{self._time} >= {{start:{_DT64}}} AND {self._time} < {{end:{_DT64}}}")

    def where(self, fragment: LiteralString, **values: object) -> Self:
        """Add ``AND (fragment)``; every ``{name:Type}`` in it must be given as a keyword."""
        self._params.update(bind(balanced(fragment), values, self._params))
        self._where.append(fragment)
        return self

    def where_in(self, columns: LiteralString, subquery: ScopedStatement) -> Self:
        """Add ``AND ((columns) IN (subquery))``; the subquery must read this query's tenant.

        Its parameters join this query's; a name both bind must have the same value.
        """
        if not isinstance(subquery, ScopedStatement):
            raise TypeError("where_in takes a built ScopedStatement")
        if subquery.tenant_id != self._scope.tenant_id:
            raise UnscopedQueryError("a subquery must read the same tenant")
        if any(self._params.get(n, v) != v for n, v in subquery.params.items()):
            raise TypeError("the subquery binds a name of this query to another value")
        self._params.update(subquery.params)
        self._where.append(f"({balanced(columns)}) IN ({subquery.sql})")
        return self

    def select(self, *exprs: LiteralString, **values: object) -> Self:
        """Add output expressions; placeholders in them are bound from ``values``."""
        self._params.update(bind(" ".join(exprs), values, self._params))
        self._select.extend(exprs)
        return self

    def group_by(self, *exprs: LiteralString) -> Self:
        self._group.extend(exprs)
        return self

    def having(self, fragment: LiteralString, **values: object) -> Self:
        """Add a HAVING condition, joined to the others with AND."""
        self._params.update(bind(balanced(fragment), values, self._params))
        self._having.append(fragment)
        return self

    def order_by(self, *exprs: LiteralString) -> Self:
        self._order.extend(exprs)
        return self

    def limit(self, n: int) -> Self:
        """Bound the rows returned; ``n`` must be 1..100000."""
        self._limit = check_limit(n)
        return self

    def build(self) -> ScopedStatement:
        """Return the finished statement; the tenant predicate leads the WHERE clause."""
        if not self._select:
            raise TypeError("select() something first")
        parts = [
            f"SELECT {', '.join(self._select)}",
            f"FROM {self._table} WHERE {TENANT_PREDICATE}",
        ]
        parts.extend(f"AND ({w})" for w in self._where)
        if self._group:
            parts.append(f"GROUP BY {', '.join(self._group)}")
        if self._having:
            parts.append("HAVING " + " AND ".join(f"({h})" for h in self._having))
        if self._order:
            parts.append(f"ORDER BY {', '.join(self._order)}")
        params = dict(self._params)
        if self._limit is not None:
            params["limit"] = self._limit
            parts.append("LIMIT {limit:UInt32}")
        return ScopedStatement(" ".join(parts), params, self._scope.tenant_id, _BUILDER_KEY)


def uuid_tuple(ids: Sequence[uuid.UUID]) -> tuple[uuid.UUID, ...]:
    """Return ``ids`` as a tuple, refusing anything that is not a UUID."""
    out = tuple(ids)
    if not all(isinstance(i, uuid.UUID) for i in out):
        raise TypeError("event ids must be uuid.UUID")
    return out
