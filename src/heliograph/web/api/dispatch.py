"""Serve declared operations: authenticate, check CSRF, role and scope, parse, run, answer JSON.

The order is fixed and nothing tenant-specific happens before the gate: a caller whose role or
scope does not allow an operation is refused before any object is looked up, so the answer
says nothing about which ids exist (CONVENTIONS 3). Every refusal is JSON
``{"code", "message"}`` with a 4xx; client input cannot reach a 5xx.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import msgspec.inspect as mi
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

from heliograph.core.errors import InputError, NotFound
from heliograph.store.api import StoreError
from heliograph.web.api.auth import Caller, authenticate
from heliograph.web.api.declare import Access, AnyOperation, Call, Empty
from heliograph.web.api.schemas import Error, encode

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_NOT_FOUND = NotFound()
STORE_UNAVAILABLE = Error("store_unavailable", "analytics are unavailable, retry later")


def json_response(payload: object, status: int) -> HttpResponse:
    """Answer ``payload`` as JSON; nothing the API answers may be cached."""
    if payload is None:
        response = HttpResponse(status=status)
    else:
        response = HttpResponse(encode(payload), status=status, content_type=JSON)
    # What add_never_cache_headers sets, less Expires: answers must not depend on the clock.
    patch_cache_control(
        response, max_age=0, no_cache=True, no_store=True, must_revalidate=True, private=True
    )
    patch_vary_headers(response, ("Authorization", "Cookie"))
    return response


def error_response(error: InputError) -> HttpResponse:
    """Answer an InputError as ``{"code", "message"}`` with its 4xx status."""
    response = json_response(Error(code=error.code, message=error.message), error.status)
    if error.status == 401:
        challenge = 'Bearer realm="heliograph"'
        if error.code == "invalid_token":
            challenge += ', error="invalid_token"'
        response["WWW-Authenticate"] = challenge
    return response


@csrf_exempt  # answers the same to everyone and changes nothing
def not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Answer an unknown API path like a missing object."""
    return error_response(_NOT_FOUND)


def method_not_allowed(allowed: str) -> HttpResponse:
    """Answer a method the path does not have, naming those it has."""
    message = f"allowed methods: {allowed}"
    response = error_response(InputError("method_not_allowed", message, status=405))
    response["Allow"] = allowed
    return response


def _csrf_refused(request: HttpRequest) -> bool:
    """Return True if a session request fails Django's CSRF check (tokens are exempt)."""
    check = CsrfViewMiddleware(lambda _: HttpResponse())
    check.process_request(request)
    return check.process_view(request, _checked_view, (), {}) is not None


def _checked_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    return HttpResponse()


def authorise(caller: Caller, access: Access) -> None:
    """Raise a 403 InputError unless ``caller`` may use an operation with ``access``."""
    if caller.token is not None:
        if not access.tokens:
            raise InputError(
                "session_required", "this operation needs a signed-in session", status=403
            )
        if not caller.scopes & access.scopes:
            scopes = " or ".join(sorted(access.scopes))
            raise InputError(
                "insufficient_scope", f"this operation needs the scope {scopes}", status=403
            )
    if not caller.role.allows(access.minimum):
        raise InputError(
            "forbidden", f"this operation needs the {access.minimum.value} role", status=403
        )


def _validation_message(error: msgspec.ValidationError) -> str:
    return str(error).replace("`$.", "`")


def _is_integer(info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return _is_integer(info.type)
    if isinstance(info, mi.UnionType):
        return any(_is_integer(member) for member in info.types)
    return isinstance(info, mi.IntType)


@functools.cache
def _integer_fields(query: type[msgspec.Struct]) -> frozenset[str]:
    info = mi.type_info(query)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"a query is declared as a msgspec Struct, not {query!r}")
    return frozenset(field.encode_name for field in info.fields if _is_integer(field.type))


def parse_query(request: HttpRequest, query: type[msgspec.Struct]) -> msgspec.Struct:
    """Return the query string as ``query``, or raise a 400 InputError.

    Conversion is strict: only decimal digits make an integer, and dates and date-times must be
    RFC 3339 text (msgspec's lax mode would read "0.5" as a Unix time).
    """
    if query is Empty:
        return Empty()
    integers = _integer_fields(query)
    raw: dict[str, object] = {}
    for name, values in request.GET.lists():
        value = values[-1]  # a repeated parameter counts once, as its last value
        raw[name] = int(value) if name in integers and _INTEGER.fullmatch(value) else value
    try:
        return msgspec.convert(raw, type=query)
    except msgspec.ValidationError as error:
        raise InputError("invalid_parameter", _validation_message(error)) from None


def parse_body(request: HttpRequest, body: type[msgspec.Struct]) -> msgspec.Struct:
    """Return the JSON body as ``body``, or raise a 400, 413 or 415 InputError."""
    if body is Empty:
        return Empty()
    if request.content_type != JSON:
        raise InputError("unsupported_media_type", f"send the body as {JSON}", status=415)
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise InputError("bad_request", "Content-Length is not a number") from None
    if declared > MAX_BODY_BYTES:
        raise InputError("body_too_large", f"a body has at most {MAX_BODY_BYTES} bytes", status=413)
    try:
        return msgspec.json.decode(request.body, type=body)
    except msgspec.ValidationError as error:
        raise InputError("invalid_body", _validation_message(error)) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise InputError("invalid_json", "the body is not a JSON document") from None


def _serve(operation: AnyOperation, request: HttpRequest, object_id: int) -> HttpResponse:
    caller = authenticate(request)
    if caller.token is None and request.method not in _SAFE_METHODS and _csrf_refused(request):
        raise InputError(
            "csrf_failed", "the CSRF check failed: send the X-CSRFToken header", status=403
        )
    authorise(caller, operation.access)
    query = parse_query(request, operation.query)
    body = parse_body(request, operation.body)
    payload = operation.handler(Call(caller, query, body, object_id, request))
    return json_response(payload, operation.status)


def _answer(operation: AnyOperation, request: HttpRequest, object_id: int) -> HttpResponse:
    try:
        return _serve(operation, request, object_id)
    except InputError as error:
        return error_response(error)
    except Http404:
        return error_response(_NOT_FOUND)
    except SuspiciousOperation:  # too many fields, an oversized body, a bad host, ...
        return error_response(InputError("bad_request", "the request was refused"))
    except StoreError:  # the store is down: not the client's fault, and worth a retry
        return json_response(STORE_UNAVAILABLE, 503)


def route_view(operations: Sequence[AnyOperation]) -> Callable[..., HttpResponse]:
    """Return the one Django view of a path, dispatching on the HTTP method."""
    by_method: Mapping[str, AnyOperation] = {op.method: op for op in operations}
    allowed = ", ".join(sorted(by_method))

    @csrf_exempt  # token requests need none; session requests are checked in _serve
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        operation = by_method.get(request.method or "")
        if operation is None:
            return method_not_allowed(allowed)
        return _answer(operation, request, int(kwargs.get("id", 0)))

    return view
