"""How an endpoint is declared: once, for the router, the gate and the OpenAPI document alike.

An Operation names its method and path, who may call it (Access), the msgspec types of its
query and body, the type of its answer and the handler. The dispatcher parses and checks
requests from the same declaration the OpenAPI document is generated from, so the two cannot
drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec
from django.http import HttpRequest

from heliograph.web.api.auth import Caller
from heliograph.web.api.models import Scope
from heliograph.web.tenants.models import Role

Method = Literal["GET", "POST", "DELETE"]
Q = TypeVar("Q", bound=msgspec.Struct)
B = TypeVar("B", bound=msgspec.Struct)
# A call is read-only: a Call[OverviewQuery, ...] is a Call[RangeQuery, ...].
Q_co = TypeVar("Q_co", bound=msgspec.Struct, covariant=True)
B_co = TypeVar("B_co", bound=msgspec.Struct, covariant=True)


class Empty(msgspec.Struct, forbid_unknown_fields=True):
    """No parameters, or no request body."""


@dataclass(frozen=True, slots=True)
class Access:
    """The least role an operation needs, and the token scopes that admit it (any one of them).

    No scopes means the browser session only: tokens are refused.
    """

    minimum: Role
    scopes: frozenset[Scope] = frozenset()

    @property
    def tokens(self) -> bool:
        return bool(self.scopes)


@dataclass(frozen=True, slots=True)
class Call(Generic[Q_co, B_co]):
    """What a handler receives: the caller, the parsed query and body, the path's object id."""

    caller: Caller
    query: Q_co
    body: B_co
    object_id: int  # 0 when the path names no object
    request: HttpRequest


@dataclass(frozen=True, slots=True)
class Operation(Generic[Q, B]):
    """One method on one path of the API, with everything needed to serve and document it."""

    method: Method
    path: str  # below /api/v1, with "{id}" for an object id: "/sites/{id}/overview"
    operation_id: str
    summary: str
    access: Access
    handler: Callable[[Call[Q, B]], object]
    query: type[Q]
    body: type[B]
    response: object  # a type msgspec can describe, or None for 204 No Content
    status: int = 200
    tag: str = ""
    description: str = ""
    uses_store: bool = False  # answers 503 when the event store is unavailable

    @property
    def has_id(self) -> bool:
        return "{id}" in self.path

    @property
    def has_body(self) -> bool:
        return self.body is not Empty

    @property
    def has_query(self) -> bool:
        return self.query is not Empty


AnyOperation = Operation[Any, Any]
