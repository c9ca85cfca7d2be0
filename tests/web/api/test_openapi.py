"""The OpenAPI 3.1 document is generated from the declared operations and covers all of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern

from heliograph.web.api import urls as api_urls
from heliograph.web.api.endpoints import OPERATIONS
from heliograph.web.api.openapi import document

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def doc() -> dict[str, Any]:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    served: dict[str, Any] = response.json()
    return served


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"]["/api/v1" + path][method]
    return found


def test_the_document_is_public_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert doc["components"]["schemas"]["Error"]["required"] == ["code", "message"]
    assert doc == document()


def test_every_operation_and_every_route_is_documented(doc: dict[str, Any]) -> None:
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert documented == {(op.method, "/api/v1" + op.path) for op in OPERATIONS}
    routed = {
        str(p.pattern) for p in api_urls.urlpatterns
        if isinstance(p, URLPattern) and p.name not in (None, "openapi")
    }
    assert len(routed) == len(doc["paths"])
    assert len({op.operation_id for op in OPERATIONS}) == len(OPERATIONS)


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for ref in set(_refs(doc)):
        assert re.fullmatch(r"#/components/schemas/\w+", ref)
        assert ref.rsplit("/", 1)[1] in schemas


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation_id)
def test_errors_and_security_are_declared(doc: dict[str, Any], operation: Any) -> None:
    declared = _operation(doc, operation.method.lower(), operation.path)
    responses = declared["responses"]
    for code in ("401", "403"):
        assert responses[code]["content"]["application/json"]["schema"] == ERROR_REF
    assert ("404" in responses) == operation.has_id
    assert ("400" in responses) == (operation.has_query or operation.has_body)
    schemes = [next(iter(requirement)) for requirement in declared["security"]]
    assert schemes == (["bearerAuth", "sessionCookie"] if operation.access.tokens
                       else ["sessionCookie"])


def test_parameters_carry_their_types_and_limits(doc: dict[str, Any]) -> None:
    params = {p["name"]: p for p in _operation(doc, "get", "/sites/{id}/heatmap")["parameters"]}
    assert params["id"]["in"] == "path" and params["id"]["schema"]["minimum"] == 1
    assert params["start"]["schema"]["format"] == "date" and params["start"]["required"]
    assert params["tz"]["required"] is False
    assert params["path"]["schema"]["maxLength"] == 2048
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 1000)
    overview = _operation(doc, "get", "/sites/{id}/overview")["responses"]["200"]
    assert overview["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Overview"
    }
    point = doc["components"]["schemas"]["SeriesPoint"]["properties"]["bucket"]
    assert point == {"type": "string", "format": "date-time"}


def test_request_bodies_are_declared(doc: dict[str, Any]) -> None:
    body = _operation(doc, "post", "/tokens")["requestBody"]
    assert body["required"] is True
    schema = doc["components"]["schemas"]["TokenCreate"]
    assert schema["required"] == ["name", "scopes", "expires_at"]
    assert schema["additionalProperties"] is False
    assert doc["components"]["schemas"]["Scope"]["enum"] == ["analytics:read", "sites:manage"]
    assert "plaintext" in doc["components"]["schemas"]["CreatedToken"]["required"]


def test_the_document_refuses_other_methods() -> None:
    response = Client().post("/api/v1/openapi.json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
