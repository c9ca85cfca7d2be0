"""The shapes the API reads and writes, as msgspec types: they validate and they document.

Query types are flat Structs whose fields become query parameters; bodies and answers become
components of the OpenAPI document. Store results (heliograph.store.api) are answered as they
are: their dataclasses are described directly.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from heliograph.core.errors import InputError
from heliograph.store import api as store
from heliograph.web.api.models import Scope
from heliograph.web.api.tokens import TokenState
from heliograph.web.dashboards.ranges import (
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_DAYS,
    DateRange,
    build_range,
)

# Text that reaches the database and the event store: no control characters (PostgreSQL
# refuses NUL, and nothing legitimate needs the others). The pattern documents the rule in
# the OpenAPI document; check_printable enforces it exactly.
PRINTABLE = "^[^\\u0000-\\u001f\\u007f]*$"
_CONTROL = re.compile("[\\u0000-\\u001f\\u007f]")
MAX_PATH_CHARS = 2048
MAX_LIMIT = 1000

# The shape of every IANA zone name; whether the zone exists is checked against the zone list.
TIME_ZONE = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
Timestamp = Annotated[datetime, Meta(tz=True, description="RFC 3339 date-time with offset")]


class Error(Struct):
    """Every error answer: a stable machine code and a human message."""

    code: str
    message: str


# -- query parameters ---------------------------------------------------------------------


class RangeQuery(Struct, kw_only=True):
    """Whole local days from ``start`` to ``end`` (inclusive) in the zone ``tz``."""

    start: Annotated[
        date, Meta(description="first day, ISO 8601 (YYYY-MM-DD)", examples=["2024-03-12"])
    ]
    end: Annotated[
        date,
        Meta(
            description=f"last day, inclusive; a range covers at most {MAX_DAYS} days",
            examples=["2024-03-12"],
        ),
    ]
    tz: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=64,
                description="IANA time zone; default the tenant's",
                pattern=TIME_ZONE,
                examples=["UTC", "Europe/Berlin"],
            ),
        ]
        | UnsetType
    ) = UNSET

    def period(self, default_tz: str, now: datetime) -> DateRange:
        """Return the checked range as UTC-aware bounds, or raise InputError."""
        tz = self.tz if isinstance(self.tz, str) else default_tz
        if tz not in _time_zones():
            raise InputError("invalid_time_zone", "tz must be an IANA time zone such as UTC")
        if not EARLIEST_DAY <= self.start <= self.end <= LATEST_DAY:
            raise InputError(
                "invalid_range",
                f"start and end are days from {EARLIEST_DAY} to {LATEST_DAY}, start first",
            )
        if (self.end - self.start).days >= MAX_DAYS:
            raise InputError("invalid_range", f"a range covers at most {MAX_DAYS} days")
        return build_range("custom", self.start, self.end, tz, now)


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_printable(*values: str) -> None:
    """Raise ValueError if a value holds a control character.

    The PRINTABLE pattern documents this rule, but Python's ``$`` also matches before a final
    newline; this check is exact. msgspec turns the ValueError into a validation error.
    """
    if any(_CONTROL.search(value) for value in values):
        raise ValueError("text must not contain control characters")


Limit = Annotated[int, Meta(ge=1, le=MAX_LIMIT, description="rows to return")]
PagePath = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_PATH_CHARS,
        pattern=PRINTABLE,
        description="the page path, as in /pricing",
        examples=["/pricing"],
    ),
]


class OverviewQuery(RangeQuery, kw_only=True):
    interval: (
        Annotated[
            Literal["hour", "day"],
            Meta(description="series bucket; default hour up to 2 days, else day"),
        ]
        | UnsetType
    ) = UNSET


class TableQuery(RangeQuery, kw_only=True):
    limit: Limit = 20


class ScrollQuery(RangeQuery, kw_only=True):
    path: PagePath

    def __post_init__(self) -> None:
        check_printable(self.path)


class HeatmapQuery(ScrollQuery, kw_only=True):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT, description="selectors to return")] = 50
    bucket_px: Annotated[int, Meta(ge=1, le=1000, description="cell size in CSS pixels")] = 20


class SecurityEventQuery(Struct, kw_only=True):
    limit: Limit = 200
    since: (
        Annotated[datetime, Meta(tz=True, description="only events at or after this instant")]
        | UnsetType
    ) = UNSET

    def __post_init__(self) -> None:
        # Year 1 at +01:00 is before the first UTC instant a database can hold.
        if isinstance(self.since, datetime) and not EARLIEST_DAY.year <= self.since.year <= (
            LATEST_DAY.year
        ):
            raise ValueError(f"since is a time from {EARLIEST_DAY.year} to {LATEST_DAY.year}")
        if isinstance(self.since, datetime):
            # PostgreSQL accepts UTC offsets up to about 16 h, ISO 8601 up to 24 h: store UTC.
            try:
                self.since = self.since.astimezone(UTC)
            except OverflowError:
                raise ValueError("since is outside the supported range") from None


# -- request bodies -----------------------------------------------------------------------

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=PRINTABLE)]
Domain = Annotated[str, Meta(min_length=1, max_length=253, pattern=PRINTABLE)]


class SiteCreate(Struct, forbid_unknown_fields=True):
    """A new site: its name and the hostnames allowed to send beacons (``*.`` for subdomains)."""

    name: Name
    domains: Annotated[list[Domain], Meta(min_length=1, max_length=50)]

    def __post_init__(self) -> None:
        check_printable(self.name, *self.domains)


class TokenCreate(Struct, forbid_unknown_fields=True):
    """A new API token: a name, one or more scopes, and when it expires (within 365 days)."""

    name: Annotated[str, Meta(min_length=1, max_length=100, pattern=PRINTABLE)]
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=len(Scope))]
    expires_at: Timestamp

    def __post_init__(self) -> None:
        check_printable(self.name)


# -- answers ------------------------------------------------------------------------------


class SiteOut(Struct):
    """A site, its public key (it appears in page source) and the snippet to paste."""

    id: int
    name: str
    key: str
    allowed_domains: list[str]
    created_at: Timestamp
    key_rotated_at: Timestamp | None
    snippet: str


class SiteList(Struct):
    items: list[SiteOut]


class TokenOut(Struct):
    """An API token as its tenant's admins see it: never its secret."""

    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    state: TokenState
    created_by: int | None
    created_at: Timestamp
    expires_at: Timestamp
    revoked_at: Timestamp | None
    last_used_at: Timestamp | None


class TokenList(Struct):
    items: list[TokenOut]


class CreatedToken(Struct):
    """A token just created; ``plaintext`` is shown this once and cannot be shown again."""

    plaintext: Annotated[str, Meta(description="send as 'Authorization: Bearer <plaintext>'")]
    token: TokenOut


class SecurityEventOut(Struct):
    """One record of the tenant's security event log (an ECS-style document)."""

    seq: int
    timestamp: Timestamp
    action: str
    outcome: str
    document: dict[str, Any]


class SecurityEventList(Struct):
    items: list[SecurityEventOut]


class PageList(Struct):
    items: tuple[store.PageStat, ...]


class ReferrerList(Struct):
    items: tuple[store.ReferrerStat, ...]


def encode(payload: object) -> bytes:
    """Serialise an answer as JSON."""
    return msgspec.json.encode(payload)
