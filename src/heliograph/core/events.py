"""The stored shape of one analytics event, shared by the collector, the spool and the store."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

EVENT_TYPES = ("pageview", "click", "scroll")


class EventRow(msgspec.Struct, frozen=True, kw_only=True):
    """One enriched event as the loader hands it to the store (tenant comes from the scope)."""

    event_id: uuid.UUID
    site_id: int
    ts: datetime  # client time, clamped near receive time; UTC
    received: datetime  # server receive time; UTC
    type: str  # one of EVENT_TYPES
    session_id: str
    visitor_id: str
    pageview_id: str
    url: str
    path: str
    referrer: str = ""
    referrer_host: str = ""
    selector: str = ""
    x: int = 0  # page coordinates of a click, CSS pixels
    y: int = 0
    vw: int = 0  # viewport size
    vh: int = 0
    dw: int = 0  # document size
    dh: int = 0
    depth: int = 0  # maximum scroll depth of the page view, percent 0..100
    device: str = ""  # desktop | mobile | tablet | bot | other
    browser: str = ""
    os: str = ""
