"""A tiny SVG writer: elements with escaped attributes, numbers trimmed, colour ramps.

Charts use presentation attributes (fill, opacity, x, width, ...) and classes from the static
stylesheet only: the pages run under ``style-src 'self'``, which forbids ``style=""``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Attr = str | int | float | None

# Categorical colours: one hue family per series, muted enough to sit on white cards.
ACCENT = "#4f46e5"
SECOND = "#0d9488"
PREVIOUS = "#a1a1aa"
CATEGORIES = ("#4f46e5", "#0d9488", "#f59e0b", "#e11d48", "#0ea5e9", "#8b5cf6", "#64748b")
# The classic heat ramp: cold and rare (blue) through cyan, green and yellow to hot (red).
HEAT = (
    (0.0, "#2c7bb6"),
    (0.18, "#00a6ca"),
    (0.34, "#00ccbc"),
    (0.5, "#90eb9d"),
    (0.64, "#ffff8c"),
    (0.76, "#f9d057"),
    (0.86, "#f29e2e"),
    (0.94, "#e76818"),
    (1.0, "#d7191c"),
)

# A calm sequential ramp for shares (the scroll map): pale for few page views, indigo for all.
REACH = (
    (0.0, "#eef2ff"),
    (0.35, "#c7d2fe"),
    (0.65, "#818cf8"),
    (0.85, "#4f46e5"),
    (1.0, "#3730a3"),
)


def num(value: float) -> str:
    """Render a coordinate with at most two decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _attr(value: Attr) -> str:
    if isinstance(value, float):
        return num(value)
    return escape(str(value))


def tag(name: str, attrs: dict[str, Attr], body: str = "") -> str:
    """Return one SVG element; attribute values are escaped, ``body`` is trusted markup."""
    rendered = "".join(f' {key}="{_attr(v)}"' for key, v in attrs.items() if v is not None)
    if body:
        return f"<{name}{rendered}>{body}</{name}>"
    return f"<{name}{rendered}/>"


def text(x: float, y: float, content: str, **attrs: Attr) -> str:
    """Return a text element whose content is escaped."""
    return tag("text", {"x": x, "y": y, **_hyphenated(attrs)}, escape(content))


def title(content: str) -> str:
    """Return a <title> (the browser shows it as a tooltip, no script needed)."""
    return f"<title>{escape(content)}</title>"


def _hyphenated(attrs: dict[str, Attr]) -> dict[str, Attr]:
    renamed = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
    return renamed


def el(name: str, body: str = "", **attrs: Attr) -> str:
    """Return an element; ``class_`` becomes class and ``stroke_width`` stroke-width."""
    return tag(name, _hyphenated(attrs), body)


def svg(
    view_box: tuple[float, float, float, float], parts: Iterable[str], **attrs: Attr
) -> SafeString:
    """Return a complete inline <svg> that scales with its container."""
    box = " ".join(num(v) for v in view_box)
    root: dict[str, Attr] = {"viewBox": box, **_hyphenated(attrs)}
    root.setdefault("role", "img")
    return mark_safe(tag("svg", root, "".join(parts)))  # noqa: S308  every value above is escaped


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def ramp(t: float, stops: tuple[tuple[float, str], ...] = HEAT) -> str:
    """Return the colour at ``t`` (0..1) of a piecewise-linear colour ramp."""
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in pairwise(stops):
        if t <= t1:
            share = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            mixed = (round(a + (b - a) * share) for a, b in zip(_rgb(c0), _rgb(c1), strict=True))
            return "#" + "".join(f"{v:02x}" for v in mixed)
    return stops[-1][1]


def luminance(colour: str) -> float:
    """Return the relative luminance of ``colour`` (WCAG 2), to pick a legible label colour."""

    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def nice_step(span: float, count: int) -> float:
    """Return a round step (1, 2, 2.5 or 5 times a power of ten) giving about ``count`` ticks."""
    raw = max(span / max(count, 1), 1e-9)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def compact(value: float) -> str:
    """Return 950, 1.2k, 35k, 1.4M: axis labels that stay short."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return num(value)
