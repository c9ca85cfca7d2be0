"""Process metrics: parts register how to read a number, the admin listener renders them all.

The registry holds readers, not values: a counter stays where it is counted (the collector's
``accepted_events``, the spool's ``records_written``) and is read only when scraped, so the hot
path pays nothing for being observable.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge"]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text exposition format


@dataclass(frozen=True, slots=True)
class Metric:
    """One named number and how to read it."""

    name: str  # heliograph_<part>_<what>[_total]
    kind: Kind
    help: str
    read: Callable[[], float | None]  # None: no value right now (the sample is left out)


_lock = threading.Lock()
_metrics: dict[str, Metric] = {}


def register(name: str, kind: Kind, help: str, read: Callable[[], float | None]) -> None:
    """Make ``read`` the source of metric ``name``, replacing an earlier registration."""
    with _lock:
        _metrics[name] = Metric(name=name, kind=kind, help=help, read=read)


def unregister(name: str) -> None:
    """Forget metric ``name`` (a part that stops takes its numbers with it)."""
    with _lock:
        _metrics.pop(name, None)


def read(name: str) -> float | None:
    """Return the current value of ``name``, or None if it is not registered or has none."""
    with _lock:
        metric = _metrics.get(name)
    return None if metric is None else metric.read()


def exposition() -> str:
    """Render every registered metric in the Prometheus text format, sorted by name."""
    with _lock:
        metrics = sorted(_metrics.values(), key=lambda metric: metric.name)
    lines: list[str] = []
    for metric in metrics:
        value = metric.read()
        if value is None:
            continue
        lines.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        lines.append(f"{metric.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))
