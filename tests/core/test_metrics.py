"""The metrics registry renders the Prometheus text exposition format."""

from __future__ import annotations

import math

from heliograph.core import metrics


def test_exposition_is_sorted_typed_and_numeric() -> None:
    metrics.register("heliograph_z_total", "counter", "Z things.", lambda: 3)
    metrics.register("heliograph_a_ratio", "gauge", "A ratio,\nwith a newline.", lambda: 0.25)
    metrics.register("heliograph_inf", "gauge", "Infinite.", lambda: math.inf)
    try:
        text = metrics.exposition()
        assert metrics.read("heliograph_z_total") == 3
    finally:
        for name in ("heliograph_z_total", "heliograph_a_ratio", "heliograph_inf"):
            metrics.unregister(name)
    assert (
        text.index("heliograph_a_ratio")
        < text.index("heliograph_inf")
        < text.index("heliograph_z_total")
    )
    assert "# HELP heliograph_a_ratio A ratio,\\nwith a newline.\n" in text
    assert "heliograph_a_ratio 0.25\n" in text
    assert "heliograph_inf +Inf\n" in text
    assert "# TYPE heliograph_z_total counter\nheliograph_z_total 3\n" in text
    assert metrics.read("heliograph_z_total") is None
