"""Render check results for people (text) and machines (JSON)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from heliograph.ops.checks.model import Result, Severity, Status

MARKS = {Status.PASS: "ok", Status.SKIP: "skip", Status.SILENCED: "silenced"}


def summary(results: list[Result]) -> dict[str, int]:
    """Count passes, errors, warnings, skips and silenced checks."""
    counts = Counter(_kind(r) for r in results)
    return {k: counts[k] for k in ("passed", "errors", "warnings", "skipped", "silenced")}


def _kind(result: Result) -> str:
    if result.status is Status.FAIL:
        return "errors" if result.severity is Severity.ERROR else "warnings"
    return {Status.PASS: "passed", Status.SKIP: "skipped", Status.SILENCED: "silenced"}[
        result.status
    ]


def as_json(results: list[Result], *, production: bool, source: str) -> str:
    document: dict[str, Any] = {
        "ok": not any(r.blocking for r in results),
        "environment": "production" if production else "development",
        "source": source,
        "summary": summary(results),
        "checks": [
            {
                "id": r.check.id,
                "title": r.check.title,
                "status": r.status.value,
                "severity": r.severity.value,
                "message": r.message,
                "fix": r.check.fix if r.status in (Status.FAIL, Status.SILENCED) else "",
            }
            for r in results
        ],
    }
    return json.dumps(document, indent=2)


def as_text(results: list[Result], *, production: bool, source: str) -> str:
    environment = "production" if production else "development"
    lines = [f"heliograph check: {environment} configuration from {source}"]
    if not production:
        lines.append("  (development: production-only checks warn instead of failing)")
    for r in results:
        mark = r.severity.value.upper() if r.status is Status.FAIL else MARKS[r.status]
        lines.append(f"{mark:<9} {r.check.id:<14} {r.check.title}")
        if r.status is not Status.PASS:
            lines.append(f"{'':24}{r.message}")
        if r.status is Status.FAIL:
            lines.append(f"{'':24}fix: {r.check.fix}")
    counts = summary(results)
    lines.append(", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return "\n".join(lines)
