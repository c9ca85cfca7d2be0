"""Template helpers of the app's pages."""

from __future__ import annotations

from django import template

from heliograph.web.dashboards.assets import asset_url

register = template.Library()


@register.simple_tag
def asset(name: str) -> str:
    """Return the versioned URL of one of the app's static files."""
    return asset_url(name)


@register.filter
def thousands(value: int | float) -> str:
    """Render 12345 as 12,345."""
    return f"{value:,}"


@register.filter
def change(value: float | None) -> str:
    """Render a relative change as +12% or \u22123%, or a dash with nothing to compare."""
    if value is None:
        return "—"
    sign = "+" if value >= 0 else "\u2212"
    if abs(value) >= 10:
        return f">{sign}999%"  # against a nearly empty period the ratio says nothing
    return f"{sign}{abs(value):.0%}"
