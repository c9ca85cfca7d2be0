"""The OpenAPI 3.1 document of /api/v1, generated from the declared OPERATIONS."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec
import msgspec.inspect as mi
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from heliograph.web.api.declare import AnyOperation
from heliograph.web.api.dispatch import MAX_BODY_BYTES, json_response, method_not_allowed
from heliograph.web.api.endpoints import OPERATIONS
from heliograph.web.api.schemas import Error

PREFIX = "/api/v1"
MAX_ID = 10**18 - 1  # ids are at most 18 digits (urls.py), so always a 64-bit integer
_REF = "#/components/schemas/{name}"
_JSON = "application/json"
_BEARER, _SESSION = "bearerAuth", "sessionCookie"
_ERRORS = {
    400: "The query or body is invalid.",
    401: "No credentials, or a token that is invalid, expired or revoked.",
    403: "The role or the token's scopes do not allow this, or the CSRF check failed.",
    404: "No such object in the caller's tenant.",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes.",
    415: "The body is not application/json.",
    503: "The event store is unavailable; retry later.",
}


def _walk(info: mi.Type) -> Iterator[mi.Type]:
    """Yield ``info`` and every type nested in it."""
    yield info
    if isinstance(info, mi.Metadata):
        yield from _walk(info.type)
    elif isinstance(info, mi.StructType | mi.DataclassType):
        for field in info.fields:
            yield from _walk(field.type)
    elif isinstance(info, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        yield from _walk(info.item_type)
    elif isinstance(info, mi.DictType):
        yield from _walk(info.value_type)
    elif isinstance(info, mi.UnionType):
        for member in info.types:
            yield from _walk(member)


def _is_datetime(info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return _is_datetime(info.type)
    if isinstance(info, mi.UnionType):
        return any(_is_datetime(member) for member in info.types)
    return isinstance(info, mi.DateTimeType)


def _add_date_time_format(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["format"] = "date-time"


def _mark_datetimes(types: Sequence[object], components: dict[str, Any]) -> None:
    """Give every datetime field ``format: date-time``.

    msgspec leaves the format out unless a field demands an offset; every datetime the API
    answers is aware (the store's and the database's), so the format is the truth.
    """
    for info in mi.multi_type_info(types):
        for nested in _walk(info):
            if isinstance(nested, mi.StructType | mi.DataclassType):
                properties = components[nested.cls.__name__]["properties"]
                for field in nested.fields:
                    if _is_datetime(field.type):
                        _add_date_time_format(properties[field.encode_name])


def _content(ref: object) -> dict[str, Any]:
    return {_JSON: {"schema": ref}}


def _parameters(operation: AnyOperation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if operation.has_id:
        params.append(
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            }
        )
    if not operation.has_query:
        return params
    _, components = msgspec.json.schema_components([operation.query], ref_template=_REF)
    query = components[operation.query.__name__]
    required = set(query.get("required", ()))
    for name, schema in query["properties"].items():
        if "$ref" in schema:
            raise TypeError(f"query parameter {name} of {operation.operation_id} is not flat")
        param = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if "description" in schema:
            param["description"] = schema["description"]
        params.append(param)
    return params


def _responses(operation: AnyOperation, refs: Mapping[object, object]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": operation.summary}
    if operation.response is not None:
        success["content"] = _content(refs[operation.response])
    codes = [401, 403]
    if operation.has_query or operation.has_body:
        codes.append(400)
    if operation.has_id:
        codes.append(404)
    if operation.has_body:
        codes += [413, 415]
    if operation.uses_store:
        codes.append(503)
    answers = {str(operation.status): success}
    for code in sorted(codes):
        answers[str(code)] = {"description": _ERRORS[code], "content": _content(refs[Error])}
    answers["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return answers


def _security(operation: AnyOperation) -> list[dict[str, list[str]]]:
    session: dict[str, list[str]] = {_SESSION: []}
    if not operation.access.tokens:
        return [session]
    return [{_BEARER: sorted(operation.access.scopes)}, session]


def _operation(operation: AnyOperation, refs: Mapping[object, object]) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag] if operation.tag else [],
        "parameters": _parameters(operation),
        "responses": _responses(operation, refs),
        "security": _security(operation),
    }
    role = f"Needs the {operation.access.minimum.value} role or higher"
    declared["description"] = " ".join(filter(None, [operation.description, role + "."]))
    if operation.has_body:
        declared["requestBody"] = {"required": True, "content": _content(refs[operation.body])}
    return declared


def _schema_types() -> list[object]:
    types: list[object] = [Error]
    for operation in OPERATIONS:
        for declared in (operation.body if operation.has_body else None, operation.response):
            if declared is not None and declared not in types:
                types.append(declared)
    return types


def _security_schemes() -> dict[str, Any]:
    return {
        _BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token hg_<prefix>_<secret>; the scopes an operation accepts "
            "are listed in its security requirement.",
        },
        _SESSION: {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The browser session; POST and DELETE also need the X-CSRFToken header.",
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """Return the OpenAPI document (built once per process)."""
    types = _schema_types()
    refs, components = msgspec.json.schema_components(types, ref_template=_REF)
    _mark_datetimes(types, components)
    ref_of = dict(zip(types, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        item = paths.setdefault(PREFIX + operation.path, {})
        item[operation.method.lower()] = _operation(operation, ref_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Heliograph API",
            "version": "1",
            "description": "Sites, dashboards, API tokens and security events of one tenant. "
            "Every error is JSON {code, message}; another tenant's object answers exactly like "
            "a missing one.",
        },
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": _security_schemes()},
    }


@csrf_exempt  # public and read-only
def openapi_json(request: HttpRequest) -> HttpResponse:
    """Serve the OpenAPI document (public: it describes the API, it holds no tenant data)."""
    if request.method != "GET":
        return method_not_allowed("GET")
    return json_response(document(), 200)
