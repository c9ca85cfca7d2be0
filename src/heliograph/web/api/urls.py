"""Routes of /api/v1, generated from the declared OPERATIONS (one Django view per path)."""

from __future__ import annotations

import re
from collections import defaultdict

from django.urls import URLPattern, URLResolver, path, re_path

from heliograph.web.api.declare import AnyOperation
from heliograph.web.api.dispatch import not_found, route_view
from heliograph.web.api.endpoints import OPERATIONS
from heliograph.web.api.openapi import openapi_json

app_name = "api"
# At most 18 digits: every id fits a signed 64-bit column, so no lookup can overflow.
_ID = r"(?P<id>[1-9][0-9]{0,17})"


def _regex(template: str) -> str:
    """Turn "/sites/{id}/overview" into an anchored route regex with a bounded id."""
    parts = re.split(r"(\{id\})", template.lstrip("/"))
    return "^" + "".join(_ID if part == "{id}" else re.escape(part) for part in parts) + "$"


def _patterns() -> list[URLPattern | URLResolver]:
    by_path: dict[str, list[AnyOperation]] = defaultdict(list)
    for operation in OPERATIONS:
        by_path[operation.path].append(operation)
    routes: list[URLPattern | URLResolver] = [
        path("openapi.json", openapi_json, name="openapi"),
    ]
    for template, operations in by_path.items():
        name = operations[0].operation_id
        routes.append(re_path(_regex(template), route_view(operations), name=name))
    # Anything else below /api/v1/ is a JSON 404, like a missing object.
    routes.append(re_path(r"^", not_found))
    return routes


urlpatterns = _patterns()
