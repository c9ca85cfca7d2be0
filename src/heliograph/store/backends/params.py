"""Render bound values as ClickHouse escaped-text parameter strings (for chDB's params=)."""

from __future__ import annotations

import uuid

from heliograph.store.sql import ParamValue

# The escaped text format reads a backslash as an escape and stops a value at tab or newline;
# escaping these keeps every string a single opaque value (tested by round-trip fuzzing).
_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0", "'": "\\'"}
)


def encode_param(value: ParamValue) -> str:
    """Return ``value`` as the text ClickHouse parses for a ``{name:Type}`` placeholder."""
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple) and all(isinstance(v, uuid.UUID) for v in value):
        # str(UUID) is 36 hex digits and dashes: nothing in it needs quoting.
        return "[" + ",".join(f"'{v}'" for v in value) + "]"
    if isinstance(value, tuple) and all(type(v) is int for v in value):
        return "[" + ",".join(str(v) for v in value) + "]"
    if isinstance(value, tuple):
        # Quoted elements use the same backslash escapes, with ' escaped (tested like strings).
        texts = [v.translate(_ESCAPES) for v in value if isinstance(v, str)]
        if len(texts) == len(value):
            return "[" + ",".join(f"'{t}'" for t in texts) + "]"
    raise TypeError(f"cannot bind a {type(value).__name__}")


def encode_params(params: dict[str, ParamValue]) -> dict[str, str]:
    """Encode every value of ``params``."""
    return {name: encode_param(value) for name, value in params.items()}
