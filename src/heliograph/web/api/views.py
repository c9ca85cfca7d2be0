"""Handlers of the API: thin reads and writes through selectors, services and the store API.

Each handler runs after the dispatcher has authenticated the caller, checked role and scope,
and parsed the query and body (see endpoints.py for who may call what). Objects are looked up
within the caller's tenant only, so another tenant's object is as missing as no object.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from django.conf import settings
from django.utils import timezone

from heliograph.core.errors import NotFound
from heliograph.store import api as store
from heliograph.web.api.declare import Call, Empty
from heliograph.web.api.models import ApiToken, Scope
from heliograph.web.api.schemas import (
    CreatedToken,
    HeatmapQuery,
    OverviewQuery,
    PageList,
    RangeQuery,
    ReferrerList,
    ScrollQuery,
    SecurityEventList,
    SecurityEventOut,
    SecurityEventQuery,
    SiteCreate,
    SiteList,
    SiteOut,
    TableQuery,
    TokenCreate,
    TokenList,
    TokenOut,
)
from heliograph.web.api.tokens import api_token_create, api_token_revoke, token_state
from heliograph.web.audit.log import tenant_security_events
from heliograph.web.audit.trail import Actor, actor_from_request
from heliograph.web.dashboards.ranges import DateRange
from heliograph.web.sites.models import Site
from heliograph.web.sites.selectors import site_of, sites_of
from heliograph.web.sites.services import site_create, site_rotate_key, snippet

# -- sites --------------------------------------------------------------------------------


def site_out(site: Site) -> SiteOut:
    """Return the API form of a site."""
    return SiteOut(
        id=site.pk,
        name=site.name,
        key=site.key,
        allowed_domains=list(site.allowed_domains),
        created_at=site.created_at,
        key_rotated_at=site.key_rotated_at,
        snippet=snippet(site, settings.HELIOGRAPH.base_url),
    )


def _actor(call: Call[msgspec.Struct, msgspec.Struct]) -> Actor:
    caller = call.caller
    via = f"token {caller.token.prefix}" if caller.token is not None else "session"
    return actor_from_request(call.request, label=f"user {caller.user.pk} via {via}")


def _site(call: Call[msgspec.Struct, Empty]) -> Site:
    return site_of(call.caller.scope, call.object_id)


def list_sites(call: Call[Empty, Empty]) -> SiteList:
    """List the tenant's sites, oldest first."""
    return SiteList(items=[site_out(site) for site in sites_of(call.caller.scope)])


def create_site(call: Call[Empty, SiteCreate]) -> SiteOut:
    """Create a site in the caller's tenant."""
    body = call.body
    site = site_create(
        tenant=call.caller.tenant, name=body.name, domains=body.domains, actor=_actor(call)
    )
    return site_out(site)


def get_site(call: Call[Empty, Empty]) -> SiteOut:
    """Return one of the tenant's sites."""
    return site_out(_site(call))


def rotate_site_key(call: Call[Empty, Empty]) -> SiteOut:
    """Give a site a new key; beacons with the old key are refused once caches expire."""
    return site_out(site_rotate_key(site=_site(call), actor=_actor(call)))


# -- dashboards ---------------------------------------------------------------------------


def _window(call: Call[RangeQuery, Empty]) -> tuple[Site, DateRange]:
    site = _site(call)
    return site, call.query.period(call.caller.tenant.time_zone, timezone.now())


def overview(call: Call[OverviewQuery, Empty]) -> store.Overview:
    """Headline numbers and a filled time series."""
    site, period = _window(call)
    interval = call.query.interval if isinstance(call.query.interval, str) else period.interval
    return store.overview(
        call.caller.scope,
        site_id=site.pk,
        start=period.start,
        end=period.end,
        tz=period.tz,
        interval=interval,
    )


def pages(call: Call[TableQuery, Empty]) -> PageList:
    """The most viewed paths."""
    site, period = _window(call)
    return PageList(
        store.top_pages(
            call.caller.scope,
            site_id=site.pk,
            start=period.start,
            end=period.end,
            limit=call.query.limit,
        )
    )


def entry_pages(call: Call[TableQuery, Empty]) -> PageList:
    """The paths sessions start on (``pageviews`` counts sessions)."""
    site, period = _window(call)
    return PageList(
        store.entry_pages(
            call.caller.scope,
            site_id=site.pk,
            start=period.start,
            end=period.end,
            limit=call.query.limit,
        )
    )


def exit_pages(call: Call[TableQuery, Empty]) -> PageList:
    """The paths sessions end on (``pageviews`` counts sessions)."""
    site, period = _window(call)
    return PageList(
        store.exit_pages(
            call.caller.scope,
            site_id=site.pk,
            start=period.start,
            end=period.end,
            limit=call.query.limit,
        )
    )


def referrers(call: Call[TableQuery, Empty]) -> ReferrerList:
    """Referring hosts by visitors."""
    site, period = _window(call)
    return ReferrerList(
        store.referrers(
            call.caller.scope,
            site_id=site.pk,
            start=period.start,
            end=period.end,
            limit=call.query.limit,
        )
    )


def devices(call: Call[TableQuery, Empty]) -> store.Devices:
    """Visitors by device class, browser and operating system."""
    site, period = _window(call)
    return store.devices(
        call.caller.scope,
        site_id=site.pk,
        start=period.start,
        end=period.end,
        limit=call.query.limit,
    )


def heatmap(call: Call[HeatmapQuery, Empty]) -> store.ClickMap:
    """The click heatmap of one path."""
    site, period = _window(call)
    query = call.query
    return store.click_map(
        call.caller.scope,
        site_id=site.pk,
        start=period.start,
        end=period.end,
        path=query.path,
        bucket_px=query.bucket_px,
        limit=query.limit,
    )


def scroll(call: Call[ScrollQuery, Empty]) -> store.ScrollMap:
    """How far the page views of one path scrolled."""
    site, period = _window(call)
    return store.scroll_map(
        call.caller.scope, site_id=site.pk, start=period.start, end=period.end, path=call.query.path
    )


# -- tokens -------------------------------------------------------------------------------


def token_out(token: ApiToken, now: datetime) -> TokenOut:
    """Return the API form of a token: never its secret or the secret's hash."""
    return TokenOut(
        id=token.pk,
        name=token.name,
        prefix=token.prefix,
        scopes=[Scope(s) for s in token.scopes],
        state=token_state(token, now),
        created_by=token.created_by_id,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


def list_tokens(call: Call[Empty, Empty]) -> TokenList:
    """List the tenant's tokens, newest first, revoked and expired ones included."""
    now = timezone.now()
    tokens = ApiToken.objects.filter(tenant_id=call.caller.tenant.pk).order_by("-pk")
    return TokenList(items=[token_out(token, now) for token in tokens])


def create_token(call: Call[Empty, TokenCreate]) -> CreatedToken:
    """Create a token; the answer holds its plaintext, the only time it is shown."""
    body = call.body
    token, plaintext = api_token_create(
        tenant=call.caller.tenant,
        name=body.name,
        scopes=[s.value for s in body.scopes],
        expires_at=body.expires_at,
        actor=call.caller.user,
    )
    return CreatedToken(plaintext=plaintext, token=token_out(token, timezone.now()))


def revoke_token(call: Call[Empty, Empty]) -> None:
    """Revoke one of the tenant's tokens (revoking twice is not an error)."""
    token = ApiToken.objects.filter(tenant_id=call.caller.tenant.pk, pk=call.object_id).first()
    if token is None:
        raise NotFound
    api_token_revoke(token=token, actor=call.caller.user)


# -- security events ----------------------------------------------------------------------


def security_events(call: Call[SecurityEventQuery, Empty]) -> SecurityEventList:
    """The tenant's security events, newest first."""
    since = call.query.since if isinstance(call.query.since, datetime) else None
    records = tenant_security_events(call.caller.scope, since=since, limit=call.query.limit)
    return SecurityEventList(
        items=[
            SecurityEventOut(
                seq=r.seq,
                timestamp=r.timestamp,
                action=r.action,
                outcome=r.outcome,
                document=r.document,
            )
            for r in records
        ]
    )
