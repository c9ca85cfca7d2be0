"""Dashboards of one site: overview, pages, sources, devices, click heatmap, scroll map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from heliograph.store import api as store
from heliograph.web.accounts.access import TenantContext, tenant_view
from heliograph.web.dashboards import charts
from heliograph.web.dashboards.ranges import PRESET_LABELS, DateRange, parse_range
from heliograph.web.dashboards.svg import REACH
from heliograph.web.sites.models import Site
from heliograph.web.sites.selectors import site_of, sites_of
from heliograph.web.tenants.models import Role

MAX_PATH_CHARS = 2048
PICKER_PAGES = 50


@dataclass(frozen=True, slots=True)
class Kpi:
    """One headline number with its change against the previous period."""

    label: str
    value: str
    change: float | None  # relative change, None when the previous period had nothing
    higher_is_better: bool = True

    @property
    def trend(self) -> str:
        if self.change is None or abs(self.change) < 0.005:
            return "flat"
        return "good" if (self.change > 0) == self.higher_is_better else "bad"


@dataclass(frozen=True, slots=True)
class Row:
    """A table row: a label, its numbers and the bar drawn behind it."""

    label: str
    primary: int
    secondary: int
    bar: str
    link: str = ""


def _preset_links(period: DateRange, **extra: str) -> list[tuple[str, str, bool]]:
    """Return (label, query, active) of each preset, keeping ``extra`` parameters."""
    return [
        (label, "?" + urlencode({"range": key, **extra}), period.preset == key)
        for key, label in PRESET_LABELS
    ]


def _change(now: float, before: float) -> float | None:
    return (now - before) / before if before else None


def _base(
    request: HttpRequest, ctx: TenantContext, site_id: int, tab: str
) -> tuple[Site, DateRange, dict[str, Any]]:
    """Look the site up in the tenant, read the range, and start the template context."""
    site = site_of(ctx.scope, site_id)
    period, range_error = parse_range(request.GET, ctx.tenant.time_zone, timezone.now())
    context = {
        "ctx": ctx,
        "site": site,
        "sites": sites_of(ctx.scope),
        "period": period,
        "range_error": range_error,
        "preset_links": _preset_links(period),
        "tab": tab,
    }
    return site, period, context


def _window(site: Site, period: DateRange) -> dict[str, Any]:
    return {"site_id": site.pk, "start": period.start, "end": period.end}


def _rows(
    stats: tuple[store.PageStat, ...], link: str = "", period: DateRange | None = None
) -> list[Row]:
    largest = max((s.pageviews for s in stats), default=0)
    return [
        Row(
            s.path,
            s.pageviews,
            s.visitors,
            charts.row_bar(s.pageviews, largest),
            f"{link}?{period.query(path=s.path)}" if link and period else "",
        )
        for s in stats
    ]


def _referrer_rows(stats: tuple[store.ReferrerStat, ...]) -> list[Row]:
    largest = max((s.visitors for s in stats), default=0)
    return [
        Row(s.referrer_host, s.visitors, s.pageviews, charts.row_bar(s.visitors, largest))
        for s in stats
    ]


def _kpis(current: store.Overview, previous: store.Overview) -> list[Kpi]:
    return [
        Kpi("Page views", f"{current.pageviews:,}", _change(current.pageviews, previous.pageviews)),
        Kpi("Visitors", f"{current.visitors:,}", _change(current.visitors, previous.visitors)),
        Kpi("Sessions", f"{current.sessions:,}", _change(current.sessions, previous.sessions)),
        Kpi(
            "Bounce rate",
            f"{current.bounce_rate:.0%}",
            _change(current.bounce_rate, previous.bounce_rate),
            higher_is_better=False,
        ),
        Kpi(
            "Avg. scroll depth",
            f"{current.avg_scroll_depth:.0f}%",
            _change(current.avg_scroll_depth, previous.avg_scroll_depth),
        ),
    ]


@require_safe
@tenant_view(Role.VIEWER)
def overview(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """Headline numbers against the previous period, the time series, top pages and sources."""
    site, period, context = _base(request, ctx, site_id, "overview")
    now = timezone.now()
    tz, interval = ctx.tenant.time_zone, period.interval
    current = store.overview(ctx.scope, **_window(site, period), tz=tz, interval=interval)
    previous = store.overview(
        ctx.scope,
        site_id=site.pk,
        start=period.previous_start,
        end=period.previous_end,
        tz=tz,
        interval=interval,
    )
    heatmap_url = reverse("dashboards:heatmap", args=[site.pk])
    context.update(
        kpis=_kpis(current, previous),
        chart=charts.timeseries_chart(
            current.series, previous.series, interval, now if period.end > now else None
        ),
        pages=_rows(
            store.top_pages(ctx.scope, **_window(site, period), limit=8), heatmap_url, period
        ),
        referrers=_referrer_rows(store.referrers(ctx.scope, **_window(site, period), limit=8)),
    )
    return render(request, "dashboards/overview.html", context)


@require_safe
@tenant_view(Role.VIEWER)
def pages(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """Top pages, and the pages sessions start and end on."""
    site, period, context = _base(request, ctx, site_id, "pages")
    window = _window(site, period)
    heatmap_url = reverse("dashboards:heatmap", args=[site.pk])
    context.update(
        top=_rows(store.top_pages(ctx.scope, **window, limit=30), heatmap_url, period),
        entry=_rows(store.entry_pages(ctx.scope, **window, limit=15)),
        exit=_rows(store.exit_pages(ctx.scope, **window, limit=15)),
    )
    return render(request, "dashboards/pages.html", context)


@require_safe
@tenant_view(Role.VIEWER)
def sources(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """Where sessions come from."""
    site, period, context = _base(request, ctx, site_id, "sources")
    stats = store.referrers(ctx.scope, **_window(site, period), limit=50)
    context.update(referrers=_referrer_rows(stats))
    return render(request, "dashboards/sources.html", context)


def _named_rows(counts: tuple[store.NamedCount, ...]) -> list[Row]:
    largest = max((c.visitors for c in counts), default=0)
    total = sum(c.visitors for c in counts) or 1
    return [
        Row(
            c.name[:1].upper() + c.name[1:],
            c.visitors,
            round(100 * c.visitors / total),
            charts.row_bar(c.visitors, largest),
        )
        for c in counts
    ]


@require_safe
@tenant_view(Role.VIEWER)
def devices(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """Visitors by device class, browser and operating system."""
    site, period, context = _base(request, ctx, site_id, "devices")
    found = store.devices(ctx.scope, **_window(site, period), limit=12)
    context.update(
        share=charts.share_bar([(c.name, c.visitors) for c in found.device]),
        legend=[(charts.swatch(i), c) for i, c in enumerate(found.device)],
        device=_named_rows(found.device),
        browser=_named_rows(found.browser),
        os=_named_rows(found.os),
    )
    return render(request, "dashboards/devices.html", context)


def _page_choice(request: HttpRequest, top: tuple[store.PageStat, ...]) -> str:
    """Return the path the map shows: the one asked for, else the most viewed."""
    asked = request.GET.get("path", "")[:MAX_PATH_CHARS]
    return asked or (top[0].path if top else "/")


def _map_base(
    request: HttpRequest, ctx: TenantContext, site_id: int, tab: str
) -> tuple[Site, DateRange, dict[str, Any], str]:
    site, period, context = _base(request, ctx, site_id, tab)
    top = store.top_pages(ctx.scope, **_window(site, period), limit=PICKER_PAGES)
    path = _page_choice(request, top)
    choices = [p.path for p in top]
    if path not in choices:
        choices.insert(0, path)
    stat = next((p for p in top if p.path == path), None)
    context.update(
        path=path,
        choices=choices,
        preset_links=_preset_links(period, path=path),
        page_views=stat.pageviews if stat else None,
    )
    return site, period, context, path


@require_safe
@tenant_view(Role.VIEWER)
def heatmap(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """Where visitors click on one page, and the most-clicked elements."""
    site, period, context, path = _map_base(request, ctx, site_id, "heatmap")
    found = store.click_map(ctx.scope, **_window(site, period), path=path, bucket_px=20, limit=15)
    largest = max((s.clicks for s in found.selectors), default=0)
    views = context["page_views"]
    context.update(
        clicks=found.clicks,
        clicks_per_view=f"{found.clicks / views:.2f}" if views else "\u2014",
        doc_size=f"{found.doc_width:,} \u00d7 {found.doc_height:,} px" if found.doc_width else "",
        picture=charts.heatmap(found) if found.clicks else None,
        legend=charts.heat_legend(),
        selectors=[
            Row(
                s.selector,
                s.clicks,
                round(100 * s.clicks / max(found.clicks, 1)),
                charts.row_bar(s.clicks, largest),
            )
            for s in found.selectors
        ],
    )
    return render(request, "dashboards/heatmap.html", context)


@require_safe
@tenant_view(Role.VIEWER)
def scroll(request: HttpRequest, ctx: TenantContext, site_id: int) -> HttpResponse:
    """How far down one page its page views scroll."""
    site, period, context, path = _map_base(request, ctx, site_id, "scroll")
    found = store.scroll_map(ctx.scope, **_window(site, period), path=path)
    context.update(
        views=found.pageviews,
        picture=charts.scroll_chart(found) if found.pageviews else None,
        legend=charts.heat_legend(REACH),
    )
    return render(request, "dashboards/scroll.html", context)
