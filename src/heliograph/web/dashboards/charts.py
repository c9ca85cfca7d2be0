"""The dashboards' pictures, drawn on the server as inline SVG (no script, no inline style)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Literal

from django.utils.safestring import SafeString

from heliograph.store.api import ClickMap, ScrollMap, SeriesPoint
from heliograph.web.dashboards.svg import (
    ACCENT,
    CATEGORIES,
    HEAT,
    PREVIOUS,
    REACH,
    SECOND,
    compact,
    el,
    luminance,
    nice_step,
    num,
    ramp,
    svg,
    text,
    title,
)


def _path(points: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{num(x)},{num(y)}" for x, y in points)


def _x_label(bucket: datetime, interval: Literal["hour", "day"]) -> str:
    if interval == "day" or (bucket.hour == 0 and bucket.minute == 0):
        return f"{bucket:%b} {bucket.day}"
    return f"{bucket:%H}:00"


def _label_every(count: int, interval: Literal["hour", "day"]) -> int:
    steps = (1, 2, 3, 6, 12, 24) if interval == "hour" else (1, 2, 3, 5, 7, 14, 30, 61, 91)
    return next((s for s in steps if count / s <= 8), steps[-1])


class _Frame:
    """The plot area of a chart and its value-to-pixel mapping."""

    def __init__(self, count: int, top_value: float) -> None:
        self.width, self.height = 960.0, 300.0
        self.left, self.right, self.top, self.bottom = 52.0, 30.0, 16.0, 34.0
        self.count = count
        self.step = nice_step(max(top_value, 4.0), 4)
        self.step = max(self.step, 1.0)
        self.y_max = self.step * max(1, math.ceil(top_value / self.step))

    @property
    def base(self) -> float:
        return self.height - self.bottom

    def x(self, index: float) -> float:
        span = self.width - self.left - self.right
        return self.left + (span * index / (self.count - 1) if self.count > 1 else span / 2)

    def y(self, value: float) -> float:
        return self.base - (self.base - self.top) * value / self.y_max


def _grid(frame: _Frame) -> list[str]:
    parts = []
    ticks = round(frame.y_max / frame.step)
    for i in range(ticks + 1):
        value = i * frame.step
        y = frame.y(value)
        parts.append(
            el(
                "line",
                x1=frame.left,
                x2=frame.width - frame.right,
                y1=y,
                y2=y,
                class_="grid" if i else "axis-line",
            )
        )
        parts.append(text(frame.left - 10, y + 4, compact(value), class_="tick", text_anchor="end"))
    return parts


def _x_labels(
    frame: _Frame, buckets: Sequence[datetime], interval: Literal["hour", "day"]
) -> list[str]:
    every = _label_every(len(buckets), interval)
    anchor_first = "start" if len(buckets) > 1 else "middle"
    parts = []
    for i in range(0, len(buckets), every):
        anchor = anchor_first if i == 0 else "middle"
        parts.append(
            text(
                frame.x(i),
                frame.height - 10,
                _x_label(buckets[i], interval),
                class_="tick",
                text_anchor=anchor,
            )
        )
    return parts


def _hover_bands(
    frame: _Frame, series: Sequence[SeriesPoint], interval: Literal["hour", "day"]
) -> list[str]:
    half = (frame.x(1) - frame.x(0)) / 2 if frame.count > 1 else frame.width / 2
    parts = []
    for i, point in enumerate(series):
        when = f"{point.bucket:%a %b} {point.bucket.day}"
        if interval == "hour":
            when += f", {point.bucket:%H}:00"
        tip = f"{when}: {point.pageviews:,} page views, {point.visitors:,} visitors"
        x0 = max(frame.x(i) - half, frame.left)
        x1 = min(frame.x(i) + half, frame.width - frame.right)
        parts.append(
            el(
                "rect",
                title(tip),
                x=x0,
                y=frame.top,
                width=x1 - x0,
                height=frame.base - frame.top,
                fill="transparent",
            )
        )
    return [el("g", "".join(parts), class_="hover")]


def _lines(points: list[tuple[float, float]], live: bool, colour: str, width: float) -> list[str]:
    """Draw a series as a solid line; a bucket still in progress gets a dotted last segment."""
    solid = points[:-1] if live and len(points) > 1 else points
    parts = [el("path", d=_path(solid), class_="line", stroke=colour, stroke_width=width)]
    if live and len(points) > 1:
        parts.append(
            el(
                "path",
                d=_path(points[-2:]),
                class_="line",
                stroke=colour,
                stroke_width=width,
                stroke_dasharray="2 5",
            )
        )
    return parts


def timeseries_chart(
    series: Sequence[SeriesPoint],
    previous: Sequence[SeriesPoint],
    interval: Literal["hour", "day"],
    now: datetime | None = None,
) -> SafeString:
    """Draw page views (area), visitors (line) and the previous period's page views (dashed).

    Give ``now`` while the range is still running: buckets after it stay empty and the bucket
    holding it is drawn dotted, so an unfinished hour or day does not read as a drop in traffic.
    """
    shown = [p for p in series if now is None or p.bucket <= now]
    live = now is not None and bool(shown)
    previous = previous[: len(series)]
    top_value = max([p.pageviews for p in (*shown, *previous)] + [0])
    frame = _Frame(max(len(series), 1), top_value)
    parts = _grid(frame)
    if previous:
        before = [(frame.x(i), frame.y(p.pageviews)) for i, p in enumerate(previous)]
        parts.append(
            el(
                "path",
                d=_path(before),
                class_="line",
                stroke=PREVIOUS,
                stroke_dasharray="5 5",
                stroke_width=1.5,
            )
        )
    if shown:
        views = [(frame.x(i), frame.y(p.pageviews)) for i, p in enumerate(shown)]
        visitors = [(frame.x(i), frame.y(p.visitors)) for i, p in enumerate(shown)]
        area = _path([(views[0][0], frame.base), *views, (views[-1][0], frame.base)]) + " Z"
        parts.append(el("path", d=area, fill="url(#hg-area)"))
        parts += _lines(visitors, live, SECOND, 2)
        parts += _lines(views, live, ACCENT, 2.5)
        if len(series) <= 31:
            parts += [
                el("circle", cx=x, cy=y, r=3.5, fill="#fff", stroke=ACCENT, stroke_width=2)
                for x, y in views
            ]
    if series:
        parts += _x_labels(frame, [p.bucket for p in series], interval)
        parts += _hover_bands(frame, shown, interval)
    if top_value == 0:
        parts.append(
            text(
                frame.width / 2,
                frame.height / 2,
                "No page views in this period",
                class_="empty",
                text_anchor="middle",
            )
        )
    gradient = el(
        "linearGradient",
        el("stop", offset="0", stop_color=ACCENT, stop_opacity=0.22)
        + el("stop", offset="1", stop_color=ACCENT, stop_opacity=0.02),
        id="hg-area",
        x1=0,
        y1=0,
        x2=0,
        y2=1,
    )
    return svg(
        (0, 0, frame.width, frame.height),
        [el("defs", gradient), *parts],
        class_="chart-svg",
        aria_label="Page views and visitors over time",
    )


def row_bar(value: float, largest: float) -> SafeString:
    """Draw the proportional bar that sits behind a table row's label."""
    share = 100 * value / largest if largest > 0 else 0
    return svg(
        (0, 0, 100, 10),
        [el("rect", width=share, height=10)],
        class_="rowbar",
        preserveAspectRatio="none",
        aria_hidden="true",
    )


def share_bar(parts: Sequence[tuple[str, int]]) -> SafeString:
    """Draw one stacked bar of shares (device classes, for example)."""
    total = sum(n for _, n in parts) or 1
    at, rects = 0.0, []
    for i, (name, count) in enumerate(parts):
        width = 100 * count / total
        tip = f"{name}: {count:,} ({100 * count / total:.1f}%)"
        rects.append(
            el(
                "rect",
                title(tip),
                x=at,
                width=width,
                height=10,
                fill=CATEGORIES[i % len(CATEGORIES)],
            )
        )
        at += width
    return svg((0, 0, 100, 10), rects, class_="sharebar", preserveAspectRatio="none")


def swatch(index: int) -> SafeString:
    """Draw the small colour dot of a legend entry."""
    return svg(
        (0, 0, 10, 10),
        [el("circle", cx=5, cy=5, r=5, fill=CATEGORIES[index % len(CATEGORIES)])],
        class_="swatch",
        aria_hidden="true",
    )


def heat_legend(stops: tuple[tuple[float, str], ...] = HEAT) -> SafeString:
    """Draw a colour scale (the click heat by default), from few to many."""
    stops_markup = "".join(
        el("stop", offset=i / 10, stop_color=ramp(i / 10, stops)) for i in range(11)
    )
    gradient = el("linearGradient", stops_markup, id="hg-legend", x1=0, y1=0, x2=1, y2=0)
    bar = el("rect", width=160, height=8, rx=4, fill="url(#hg-legend)")
    return svg(
        (0, 0, 160, 8), [el("defs", gradient), bar], class_="legend-ramp", aria_hidden="true"
    )


# --- click heatmap ---------------------------------------------------------------------------

# Smoothing: a separable Gaussian over the click cells, about one cell of standard deviation.
_KERNEL = tuple(math.exp(-(d * d) / (2 * 1.3**2)) for d in range(-3, 4))
_LEVELS = 32
_FLOOR = 0.02


def _smooth(cells: dict[tuple[int, int], float]) -> dict[tuple[int, int], float]:
    across: dict[tuple[int, int], float] = {}
    for (i, j), value in cells.items():
        for d, w in enumerate(_KERNEL, start=-3):
            across[(i + d, j)] = across.get((i + d, j), 0.0) + value * w
    out: dict[tuple[int, int], float] = {}
    for (i, j), value in across.items():
        for d, w in enumerate(_KERNEL, start=-3):
            out[(i, j + d)] = out.get((i, j + d), 0.0) + value * w
    return out


def _levels(click_map: ClickMap) -> dict[tuple[int, int], int]:
    """Return each cell's heat level 1.._LEVELS (cells below the floor are left out)."""
    px = click_map.bucket_px
    density = _smooth({(b.bx // px, b.by // px): float(b.clicks) for b in click_map.buckets})
    peak = max(density.values(), default=0.0)
    levels = {}
    for cell, value in density.items():
        t = (value / peak) ** 0.6 if peak else 0.0  # lift the quiet areas into view
        if t >= _FLOOR and cell[0] >= 0 and cell[1] >= 0:
            levels[cell] = max(1, math.ceil(t * _LEVELS))
    return levels


def _heat_runs(levels: dict[tuple[int, int], int], px: int) -> list[str]:
    """Merge horizontal runs of one level into one rectangle each (fewer elements)."""
    rects = []
    for j in sorted({j for _, j in levels}):
        row = sorted((i, lv) for (i, jj), lv in levels.items() if jj == j)
        start, prev_i, prev_lv = row[0][0], row[0][0], row[0][1]
        for i, lv in [*row[1:], (-10, -1)]:
            if i != prev_i + 1 or lv != prev_lv:
                t = prev_lv / _LEVELS
                rects.append(
                    el(
                        "rect",
                        x=start * px,
                        y=j * px,
                        width=(prev_i - start + 1) * px,
                        height=px,
                        fill=ramp(t),
                        fill_opacity=min(0.88, 0.12 + 1.4 * t),
                    )
                )
                start = i
            prev_i, prev_lv = i, lv
    return rects


def _page_guides(width: float, height: float, unit: float) -> list[str]:
    step = 500 if height <= 6000 else 1000
    parts = []
    for y in range(step, int(height), step):
        parts.append(el("line", x1=0, x2=width, y1=y, y2=y, class_="guide", stroke_width=unit))
        parts.append(
            text(
                -8 * unit,
                y + 4 * unit,
                f"{y:,} px",
                class_="page-tick",
                text_anchor="end",
                font_size=11 * unit,
            )
        )
    return parts


def heatmap(click_map: ClickMap, *, display_width: float = 680) -> SafeString:
    """Draw where clicks land on the page, as a smoothed density over its typical size."""
    px = click_map.bucket_px
    far_x = max((b.bx + px for b in click_map.buckets), default=0)
    far_y = max((b.by + px for b in click_map.buckets), default=0)
    width = float(max(click_map.doc_width, far_x, 320))
    height = float(max(click_map.doc_height, far_y, 480))
    unit = width / display_width  # one screen pixel, in page pixels
    margin = 62 * unit
    soften = el(
        "filter",
        el("feGaussianBlur", stdDeviation=px * 0.7),
        id="hg-soften",
        x="-5%",
        y="-5%",
        width="110%",
        height="110%",
    )
    parts = [
        el("defs", soften),
        el(
            "rect",
            x=0,
            y=0,
            width=width,
            height=height,
            class_="page",
            stroke_width=unit,
            rx=6 * unit,
        ),
        *_page_guides(width, height, unit),
        el("g", "".join(_heat_runs(_levels(click_map), px)), filter="url(#hg-soften)"),
    ]
    return svg(
        (-margin, -10 * unit, width + margin + 10 * unit, height + 20 * unit),
        parts,
        class_="heatmap-svg",
        aria_label=f"Click heatmap of {click_map.path}",
    )


# --- scroll map ------------------------------------------------------------------------------


def _half_depth(scroll_map: ScrollMap) -> float | None:
    """Return the depth (percent) that half of the page views reach, interpolated."""
    reach = scroll_map.reach
    for before, after in pairwise(reach):
        if before.share >= 0.5 > after.share:
            gap = before.share - after.share
            return before.depth + (after.depth - before.depth) * (before.share - 0.5) / gap
    return 100.0 if reach and reach[-1].share >= 0.5 else None


def scroll_chart(scroll_map: ScrollMap) -> SafeString:
    """Draw the page as ten bands coloured by how many page views reach them, with bars beside."""
    top, page_h, page_w = 28.0, 500.0, 250.0
    bars_x, bars_w = page_w + 150.0, 380.0
    reach = scroll_map.reach
    parts = [text(0, 14, "Top of page", class_="tick")]
    parts.append(el("rect", x=0, y=top, width=page_w, height=page_h, rx=8, class_="page"))
    for band in range(10):
        share = (reach[band].share + reach[band + 1].share) / 2 if len(reach) > band + 1 else 0.0
        colour = ramp(share, REACH)
        y = top + page_h * band / 10
        tip = f"{band * 10}\u2013{band * 10 + 10}% of the page: seen by about {share:.0%}"
        parts.append(
            el(
                "rect",
                title(tip),
                x=0,
                y=y,
                width=page_w,
                height=page_h / 10,
                fill=colour,
                fill_opacity=0.92,
                class_="band",
            )
        )
        ink = "#111827" if luminance(colour) > 0.35 else "#ffffff"
        parts.append(
            text(
                page_w / 2,
                y + page_h / 20 + 5,
                f"{share:.0%}",
                fill=ink,
                class_="band-label",
                text_anchor="middle",
            )
        )
    parts.append(text(0, top + page_h + 22, "Bottom of page", class_="tick"))
    for point in reach:
        y = top + page_h * point.depth / 100
        parts.append(el("line", x1=page_w, x2=bars_x - 8, y1=y, y2=y, class_="guide"))
        parts.append(text(page_w + 14, y + 4, f"{point.depth}%", class_="tick"))
        parts.append(el("rect", x=bars_x, y=y - 7, width=bars_w, height=14, rx=3, class_="track"))
        parts.append(
            el(
                "rect",
                x=bars_x,
                y=y - 7,
                width=bars_w * point.share,
                height=14,
                rx=3,
                fill=ACCENT,
                fill_opacity=0.85,
            )
        )
        parts.append(
            text(
                bars_x + bars_w + 12,
                y + 4,
                f"{point.share:.0%} · {point.pageviews:,} views",
                class_="value",
            )
        )
    half = _half_depth(scroll_map)
    if half is not None and scroll_map.pageviews:
        y = top + page_h * half / 100
        parts.append(
            el("line", x1=-6, x2=page_w + 6, y1=y, y2=y, class_="half-line", stroke_dasharray="6 4")
        )
        parts.append(text(-12, y - 3, "Half the views", class_="half-label", text_anchor="end"))
        parts.append(
            text(-12, y + 11, f"reach {half:.0f}%", class_="half-label", text_anchor="end")
        )
    return svg(
        (-124, 0, bars_x + bars_w + 294, top + page_h + 32),
        parts,
        class_="scroll-svg",
        aria_label=f"Scroll depth of {scroll_map.path}",
    )
