"""The wire formats of a beacon, validated strictly (unknown fields, wrong types, long strings),
and the spool records the collector makes of them.

Three wire formats are accepted on ``POST /collect``:

* **runs** (what the tag sends since 0.3.0): ``{"site", "sid", "vid", "runs": [{"pid", "url",
  "vw", "vh", "dw", "dh", ...}]}``. A batch's session and visitor are stated once, and each run
  of events on one page view, URL, viewport and document size once. Since tag 0.4.0 a run
  states its events as columns: ``type`` and ``ts`` with one entry per event, ``ref`` one per
  page view, ``sel``, ``x`` and ``y`` one per click and ``depth`` one per scroll, each in the
  order of the events. Tag 0.3.0 sent them as objects under ``events``, each with ``type``
  first and then only its type's fields; both are accepted, one or the other in a run. 20
  events of one page are about 1.5 KB as columns (2.0 KB as objects), and columns decode
  without an object per event (the whole check of 20 events: 70k instructions against 78k).
* **pages** (tag 0.2.0; still accepted from tags open in browsers): the same grouping by page
  view and URL, with the viewport and document size on every event.
* **events** (the tag before it grouped by page; still accepted from old tags and from API
  clients): ``{"site", "events": [...]}`` with every field on every event.

All are stored in the spool as received (sealed, with what the collector learnt: tenant,
site, receive time, client class, the cookieless session) and expanded into one row per event
by the loader, so the collector's work per beacon does not grow with its events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

import msgspec

from heliograph.collector.enrich import clamp_timestamp
from heliograph.core.crypto.aead import DecryptionError
from heliograph.core.crypto.keyring import Keyring, key_id_of

MAX_EVENTS = 100
MAX_URL = 2048
MAX_SELECTOR = 512
MAX_ID = 64
MAX_PIXELS = 1_000_000

# Ids and the site key are checked for their alphabet by check_ids() and _check_grouped(),
# over all of a batch's ids at once: a msgspec `pattern` runs a regex on every field of every
# event (it tripled decoding time), and even on the one site key it cost more than one join.
Id = Annotated[str, msgspec.Meta(max_length=MAX_ID)]
PageviewId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]
_ID_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL)]
Pixels = Annotated[int, msgspec.Meta(ge=0, le=MAX_PIXELS)]
Coordinate = Annotated[int, msgspec.Meta(ge=-MAX_PIXELS, le=MAX_PIXELS)]
SiteKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Selector = Annotated[str, msgspec.Meta(max_length=MAX_SELECTOR)]
Depth = Annotated[int, msgspec.Meta(ge=0, le=100)]


class PageEvent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """One event of a page run: what changes from event to event."""

    type: Literal["pageview", "click", "scroll"]
    ts: EpochMs
    vw: Pixels = 0
    vh: Pixels = 0
    dw: Pixels = 0
    dh: Pixels = 0
    ref: Url = ""
    sel: Selector = ""
    x: Coordinate = 0
    y: Coordinate = 0
    depth: Depth = 0


class WireEvent(PageEvent, kw_only=True):
    """One event with every field on it: the flat format's events, and what the loader stores.

    A PageEvent plus the ids that the "pages" format states once per batch or page run.
    """

    sid: Id
    pid: PageviewId
    url: Url
    vid: Id = ""


class Beacon(msgspec.Struct, forbid_unknown_fields=True):
    """A batch of events for one site, every field on every event (the "events" format)."""

    site: SiteKey
    events: Annotated[list[WireEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


class Page(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A run of consecutive events on one page view and URL."""

    pid: PageviewId
    url: Url
    events: Annotated[list[PageEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


class PageBeacon(msgspec.Struct, forbid_unknown_fields=True):
    """A batch of events for one site, grouped by page (the "pages" format the tag sends)."""

    site: SiteKey
    sid: Id
    pages: Annotated[list[Page], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]
    vid: Id = ""


# The "runs" format: an event states only its own fields, named by its type (a tagged union:
# the decoder picks the struct by "type", so a click without coordinates is refused at once).


class Pageview(
    msgspec.Struct, tag_field="type", tag="pageview", forbid_unknown_fields=True, gc=False
):
    ts: EpochMs
    ref: Url = ""


class Click(msgspec.Struct, tag_field="type", tag="click", forbid_unknown_fields=True, gc=False):
    ts: EpochMs
    sel: Selector
    x: Coordinate
    y: Coordinate


class Scroll(msgspec.Struct, tag_field="type", tag="scroll", forbid_unknown_fields=True, gc=False):
    ts: EpochMs
    depth: Depth


Kind = Literal["pageview", "click", "scroll"]


class Run(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Consecutive events on one page view and URL, with one viewport and document size.

    The events are columns (tag 0.4.0): ``type`` and ``ts`` have an entry for every event,
    ``ref`` for every page view, ``sel``, ``x`` and ``y`` for every click, ``depth`` for every
    scroll, in the order of the events (_run_events checks that they agree). Tag 0.3.0
    sent objects under ``events`` instead; a run has one or the other.
    """

    pid: PageviewId
    url: Url
    vw: Pixels
    vh: Pixels
    dw: Pixels
    dh: Pixels
    type: Annotated[list[Kind], msgspec.Meta(max_length=MAX_EVENTS)] = []
    ts: Annotated[list[EpochMs], msgspec.Meta(max_length=MAX_EVENTS)] = []
    ref: Annotated[list[Url], msgspec.Meta(max_length=MAX_EVENTS)] = []
    sel: Annotated[list[Selector], msgspec.Meta(max_length=MAX_EVENTS)] = []
    x: Annotated[list[Coordinate], msgspec.Meta(max_length=MAX_EVENTS)] = []
    y: Annotated[list[Coordinate], msgspec.Meta(max_length=MAX_EVENTS)] = []
    depth: Annotated[list[Depth], msgspec.Meta(max_length=MAX_EVENTS)] = []
    events: Annotated[list[Pageview | Click | Scroll], msgspec.Meta(max_length=MAX_EVENTS)] = []


class RunBeacon(msgspec.Struct, forbid_unknown_fields=True):
    """A batch of events for one site, grouped into runs (the "runs" format the tag sends)."""

    site: SiteKey
    sid: Id
    runs: Annotated[list[Run], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]
    vid: Id = ""


WIRE_EVENTS = 1
WIRE_PAGES = 2
WIRE_RUNS = 3


class CheckedBeacon(msgspec.Struct, gc=False):
    """What the collector needs from a valid beacon of either format."""

    site: str
    wire: int  # WIRE_EVENTS, WIRE_PAGES or WIRE_RUNS
    events: int  # how many
    urls: set[str]  # the distinct page URLs
    cookieless: bool  # some event has no visitor id: the collector keeps its session


class BeaconError(ValueError):
    """A beacon that is not valid JSON (``malformed``) or not a valid beacon."""

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def check_beacon(body: bytes) -> CheckedBeacon:
    """Validate a beacon of any wire format; raise BeaconError saying what is wrong.

    The tag's "runs" format is tried first. A body of an older format fails that at its
    ``pages`` or ``events`` key (msgspec stops at the first unknown field) and is decoded as
    what it names. The error given is that of the format the body names: "runs", else
    "pages", else the flat "events" format.
    """
    try:
        beacon = _run_beacon_decoder.decode(body)
    except msgspec.ValidationError as error:
        if b'"runs"' in body:
            raise BeaconError(str(error)) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise BeaconError("body is not valid UTF-8 JSON", malformed=True) from None
    else:
        return _check_runs(beacon)
    try:
        if b'"pages"' in body:
            return _check_pages(_page_beacon_decoder.decode(body))
        return _check_events(beacon_decoder.decode(body))
    except msgspec.ValidationError as error:
        raise BeaconError(str(error)) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        # Valid up to a key the "runs" format does not know, malformed after it.
        raise BeaconError("body is not valid UTF-8 JSON", malformed=True) from None


def _check_runs(beacon: RunBeacon) -> CheckedBeacon:
    runs = beacon.runs
    if len(runs) == 1:  # a beacon from one page: most of them
        run = runs[0]
        count = _run_events(run, 0)
        return _checked(beacon, WIRE_RUNS, count, run.pid, {run.url}, runs, "$.runs")
    count = sum([_run_events(run, index) for index, run in enumerate(runs)])
    pids = "".join([run.pid for run in runs])
    return _checked(beacon, WIRE_RUNS, count, pids, {run.url for run in runs}, runs, "$.runs")


def _check_pages(beacon: PageBeacon) -> CheckedBeacon:
    pages = beacon.pages
    count = sum([len(page.events) for page in pages])
    pids = "".join([page.pid for page in pages])
    return _checked(beacon, WIRE_PAGES, count, pids, {page.url for page in pages}, pages, "$.pages")


def _checked(
    beacon: RunBeacon | PageBeacon,
    wire: int,
    count: int,
    pids: str,
    urls: set[str],
    groups: list[Run] | list[Page],
    path: str,
) -> CheckedBeacon:
    """The checks msgspec cannot make on a grouped beacon ("runs" or "pages" format): the
    events of all groups together, and the alphabet of the site key and the ids (all of them
    joined: one check for the whole beacon)."""
    if count > MAX_EVENTS:
        raise BeaconError(f"Expected at most {MAX_EVENTS} events in a batch - at `{path}`")
    site, vid = beacon.site, beacon.vid
    if not _clean_ids(site + beacon.sid + vid + pids):
        raise BeaconError(_id_message(_bad_grouped_id(beacon, groups, path)))
    return CheckedBeacon(site, wire, count, urls, not vid)


def _run_events(run: Run, index: int) -> int:
    """The number of events in a run, once its columns agree with each other (or it has its
    events as objects, and no columns); raise BeaconError saying where they do not."""
    kinds = run.type
    if kinds:
        clicks = kinds.count("click")
        views = kinds.count("pageview")
        scrolls = len(kinds) - clicks - views  # msgspec let only the three kinds through
        if (
            run.events
            or len(run.ts) != len(kinds)
            or len(run.sel) != clicks
            or len(run.x) != clicks
            or len(run.y) != clicks
            or len(run.ref) != views
            or len(run.depth) != scrolls
        ):
            raise BeaconError(_columns_message(run, f"$.runs[{index}]"))
        return len(kinds)
    if run.events and not (run.ts or run.ref or run.sel or run.x or run.y or run.depth):
        return len(run.events)
    raise BeaconError(_columns_message(run, f"$.runs[{index}]"))


def _columns_message(run: Run, path: str) -> str:
    kinds = run.type
    if kinds and run.events:
        return f"Expected either columns or `events`, not both - at `{path}`"
    if not kinds and not run.events:
        what = "a `type` column for the others" if run.ts else "events"
        return f"Expected {what} - at `{path}`"
    if not kinds:
        return f"Expected no columns beside `events` - at `{path}`"
    clicks = kinds.count("click")
    expected = {
        "ts": (len(kinds), "event"),
        "ref": (kinds.count("pageview"), "page view"),
        "sel": (clicks, "click"),
        "x": (clicks, "click"),
        "y": (clicks, "click"),
        "depth": (kinds.count("scroll"), "scroll"),
    }
    mismatch = next(
        (
            (name, wanted)
            for name, wanted in expected.items()
            if len(getattr(run, name)) != wanted[0]
        ),
        None,
    )
    if mismatch is None:  # pragma: no cover - _run_events refused the run for one of the above
        return f"Expected columns that agree with `type` - at `{path}`"
    name, (count, per) = mismatch
    got = len(getattr(run, name))
    return f"Expected {count} `{name}` entries (one per {per}), got {got} - at `{path}.{name}`"


def _bad_grouped_id(
    beacon: RunBeacon | PageBeacon, groups: list[Run] | list[Page], runs_path: str
) -> str:
    """The path of the first id of a grouped beacon with a character outside the alphabet."""
    for path, value in (("$.site", beacon.site), ("$.sid", beacon.sid), ("$.vid", beacon.vid)):
        if not _clean_ids(value):
            return path
    pids: list[str] = [group.pid for group in groups]
    bad = next(index for index, pid in enumerate(pids) if not _clean_ids(pid))
    return f"{runs_path}[{bad}].pid"


def _check_events(beacon: Beacon) -> CheckedBeacon:
    bad = "$.site" if not _clean_ids(beacon.site) else check_ids(beacon)
    if bad is not None:
        raise BeaconError(_id_message(bad))
    events = beacon.events
    return CheckedBeacon(
        site=beacon.site,
        wire=WIRE_EVENTS,
        events=len(events),
        urls={event.url for event in events},
        cookieless=not all([event.vid for event in events]),
    )


def _clean_ids(joined: str) -> bool:
    # Non-ASCII fails the encoding; the translation deletes every allowed byte.
    try:
        return not joined.encode("ascii").translate(None, _ID_CHARACTERS)
    except UnicodeEncodeError:
        return False


def _id_message(path: str) -> str:
    return f"Expected only A-Z, a-z, 0-9, _ and - - at `{path}`"


def check_ids(beacon: Beacon) -> str | None:
    """Return the path of the first session, page-view or visitor id with a character outside
    ``A-Z a-z 0-9 _ -``, or None if every id is clean."""
    events = beacon.events
    # Every id joined: one check covers the whole batch.
    if _clean_ids("".join([e.sid + e.pid + e.vid for e in events])):
        return None
    for index, event in enumerate(events):
        for name in ("sid", "pid", "vid"):
            if not _clean_ids(getattr(event, name)):
                return f"$.events[{index}].{name}"
    return None  # pragma: no cover - the joined check and the loop agree


class _Received(msgspec.Struct, array_like=True, gc=False):
    """What the collector learnt about a beacon (never the raw IP); the first fields of both
    spool record bodies, in this order."""

    batch_id: bytes  # 16 random bytes; event ids derive from it and the event's index
    tenant_id: int
    site_id: int
    received_ms: int
    visitor_hash: str  # salted daily hash standing in for a visitor id in cookieless mode
    device: str
    browser: str
    os: str


class SpoolBatch(_Received):
    """A beacon's events, enriched, as the loader stores them."""

    events: list[WireEvent]


class ReceivedBeacon(_Received):
    """What the collector makes durable: a valid beacon as received, and what it learnt about
    it. The loader expands it with :func:`expand`."""

    session: str  # the server-side session of cookieless events ("" if none)
    wire: int  # WIRE_EVENTS, WIRE_PAGES or WIRE_RUNS
    body: bytes


# The loader reads spooled bodies with these: the same fields without limits, unknown fields
# ignored. A body the collector accepted must load even after a later version tightens a
# limit or the tag gains a field; the collector's check is the gate, not this.
class _StoredEvent(msgspec.Struct, gc=False):
    type: str
    ts: int
    sid: str = ""
    pid: str = ""
    url: str = ""
    vid: str = ""
    vw: int = 0
    vh: int = 0
    dw: int = 0
    dh: int = 0
    ref: str = ""
    sel: str = ""
    x: int = 0
    y: int = 0
    depth: int = 0


class _StoredRun(msgspec.Struct, gc=False):
    """A run ("runs" format: its events as columns or as objects) or a page ("pages" format:
    no sizes, they are on its events)."""

    pid: str
    url: str
    events: list[_StoredEvent] = []
    vw: int = 0
    vh: int = 0
    dw: int = 0
    dh: int = 0
    type: list[str] = []
    ts: list[int] = []
    ref: list[str] = []
    sel: list[str] = []
    x: list[int] = []
    y: list[int] = []
    depth: list[int] = []


def _column_events(run: _StoredRun, received_ms: int, sid: str, vid: str) -> Iterator[WireEvent]:
    """A run's columns as events, in order: each takes the next entry of its type's columns."""
    refs, sels, xs, ys, depths = (
        iter(run.ref), iter(run.sel), iter(run.x), iter(run.y), iter(run.depth)
    )  # fmt: skip
    pid, url, vw, vh, dw, dh = run.pid, run.url, run.vw, run.vh, run.dw, run.dh
    for kind, ts in zip(run.type, run.ts, strict=False):  # the collector checked the lengths
        ref = sel = ""
        x = y = depth = 0
        if kind == "click":
            sel, x, y = next(sels, ""), next(xs, 0), next(ys, 0)
        elif kind == "scroll":
            depth = next(depths, 0)
        elif kind == "pageview":
            ref = next(refs, "")
        # (a type of a later tag has no fields of its own here)
        yield WireEvent(
            kind,  # type: ignore[arg-type]  # validated by the collector
            clamp_timestamp(ts, received_ms), vw, vh, dw, dh, ref, sel, x, y, depth,
            sid=sid, pid=pid, url=url, vid=vid,
        )  # fmt: skip


class _StoredGroupedBeacon(msgspec.Struct):
    sid: str
    vid: str = ""
    runs: list[_StoredRun] = []
    pages: list[_StoredRun] = []


class _StoredBeacon(msgspec.Struct):
    events: list[_StoredEvent]


beacon_decoder = msgspec.json.Decoder(Beacon)
_page_beacon_decoder = msgspec.json.Decoder(PageBeacon)
_run_beacon_decoder = msgspec.json.Decoder(RunBeacon)
_stored_grouped_decoder = msgspec.json.Decoder(_StoredGroupedBeacon)
_stored_events_decoder = msgspec.json.Decoder(_StoredBeacon)
spool_encoder = msgspec.msgpack.Encoder()
spool_decoder = msgspec.msgpack.Decoder(SpoolBatch)
_received_decoder = msgspec.msgpack.Decoder(ReceivedBeacon)

# Envelope formats: 1 holds a SpoolBatch (written by versions before the collector spooled
# beacons as received), 2 one ReceivedBeacon, 3 the ReceivedBeacons of one tenant that one group
# commit made durable (what the collector writes now: one seal per tenant per commit). This
# version reads all three; an older version would quarantine segments of the formats it does not
# know (the loader keeps them, it does not drop them), so a downgrade must first let the loader
# empty the spool.
RECORD_BATCH = 1
RECORD_RECEIVED = 2
RECORD_GROUP = 3


class SpoolEnvelope(msgspec.Struct, array_like=True):
    """A spool record: the tenant in clear (to pick its key), the batch sealed under its key."""

    tenant_id: int
    sealed: bytes
    format: int = RECORD_BATCH


def expand(received: ReceivedBeacon) -> SpoolBatch:
    """Turn a beacon as received into its events, as the collector would have enriched them.

    The client's clock is trusted only within a day before the receive time and never after it
    (enrich.clamp_timestamp); events without a visitor id get the collector's server-side session.
    """
    received_ms = received.received_ms
    session = received.session
    events: list[WireEvent]
    if received.wire in (WIRE_RUNS, WIRE_PAGES):
        grouped = _stored_grouped_decoder.decode(received.body)
        sid = session if session and not grouped.vid else grouped.sid
        # A run states the viewport and document size of its events; a page leaves them on
        # each event.
        by_run = received.wire == WIRE_RUNS
        events = []
        for group in grouped.runs if by_run else grouped.pages:
            if group.type:  # columns (tag 0.4.0)
                events.extend(_column_events(group, received_ms, sid, grouped.vid))
                continue
            events.extend(
                _wire_event(
                    event,
                    received_ms,
                    sid,
                    group.pid,
                    group.url,
                    grouped.vid,
                    group if by_run else event,
                )
                for event in group.events
            )
    elif received.wire == WIRE_EVENTS:
        events = [
            _wire_event(
                event,
                received_ms,
                session if session and not event.vid else event.sid,
                event.pid,
                event.url,
                event.vid,
                event,
            )
            for event in _stored_events_decoder.decode(received.body).events
        ]
    else:
        raise DecryptionError(f"spool record has an unknown wire format {received.wire}")
    return SpoolBatch(
        batch_id=received.batch_id,
        tenant_id=received.tenant_id,
        site_id=received.site_id,
        received_ms=received_ms,
        visitor_hash=received.visitor_hash,
        device=received.device,
        browser=received.browser,
        os=received.os,
        events=events,
    )


_envelope_decoder = msgspec.msgpack.Decoder(SpoolEnvelope)
SPOOL_PURPOSE = "spool"
# Format 2 and 3 records are sealed for purposes of their own: the envelope's format number is
# not encrypted, so binding the format into the associated data makes a flipped number fail
# authentication instead of reaching a decoder.
RECEIVED_PURPOSE = "spool.received"
GROUP_PURPOSE = "spool.group"
_PURPOSES = {
    RECORD_BATCH: SPOOL_PURPOSE,
    RECORD_RECEIVED: RECEIVED_PURPOSE,
    RECORD_GROUP: GROUP_PURPOSE,
}
_group_decoder = msgspec.msgpack.Decoder(list[ReceivedBeacon])


def record_key(record: bytes) -> tuple[int, str]:
    """Return the tenant and data key id a spool record is sealed for, without opening it.

    Raises msgspec.DecodeError or DecryptionError for a record that is not a sealed envelope.
    """
    envelope = _envelope_decoder.decode(record)
    return envelope.tenant_id, key_id_of(envelope.sealed)


def _wire_event(
    event: _StoredEvent,
    received_ms: int,
    sid: str,
    pid: str,
    url: str,
    vid: str,
    size: _StoredEvent | _StoredRun,
) -> WireEvent:
    """One event with every field, its viewport and document size taken from ``size`` (the
    event itself, or in the "runs" format its run)."""
    return WireEvent(
        type=event.type,  # type: ignore[arg-type]  # validated by the collector
        ts=clamp_timestamp(event.ts, received_ms),
        sid=sid,
        pid=pid,
        url=url,
        vid=vid,
        vw=size.vw,
        vh=size.vh,
        dw=size.dw,
        dh=size.dh,
        ref=event.ref,
        sel=event.sel,
        x=event.x,
        y=event.y,
        depth=event.depth,
    )


class SpoolCodec:
    """Seal beacons with the tenant's data key (AES-256-GCM) for the spool, and open them."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal(self, batch: SpoolBatch) -> bytes:
        """Seal an already expanded batch (format 1)."""
        sealed = self.keyring.encrypt(batch.tenant_id, SPOOL_PURPOSE, spool_encoder.encode(batch))
        return spool_encoder.encode(SpoolEnvelope(batch.tenant_id, sealed))

    def seal_received(self, received: ReceivedBeacon) -> bytes:
        """Seal one beacon as received (format 2); the loader expands it."""
        tenant_id = received.tenant_id
        sealed = self.keyring.encrypt(tenant_id, RECEIVED_PURPOSE, spool_encoder.encode(received))
        return spool_encoder.encode(SpoolEnvelope(tenant_id, sealed, RECORD_RECEIVED))

    def seal_group(self, tenant_id: int, encoded: list[bytes]) -> bytes:
        """Seal beacons of one tenant, each made by :func:`encode_received`, as one record
        (format 3). The spool's writer thread calls this once per tenant per group commit;
        AES-GCM runs there without holding the GIL."""
        plain = spool_encoder.encode([msgspec.Raw(item) for item in encoded])
        sealed = self.keyring.encrypt(tenant_id, GROUP_PURPOSE, plain)
        return spool_encoder.encode(SpoolEnvelope(tenant_id, sealed, RECORD_GROUP))

    def open(self, record: bytes) -> list[SpoolBatch]:
        """Return the beacons of a record, expanded (one for formats 1 and 2, the group for
        format 3); raise DecryptionError or msgspec errors if it is bad."""
        envelope = _envelope_decoder.decode(record)
        purpose = _PURPOSES.get(envelope.format)
        if purpose is None:
            raise DecryptionError(f"spool record has an unknown format {envelope.format}")
        plain = self.keyring.decrypt(envelope.tenant_id, purpose, envelope.sealed)
        if envelope.format == RECORD_BATCH:
            batches = [spool_decoder.decode(plain)]
        elif envelope.format == RECORD_RECEIVED:
            batches = [expand(_received_decoder.decode(plain))]
        else:
            batches = [expand(received) for received in _group_decoder.decode(plain)]
        if any(batch.tenant_id != envelope.tenant_id for batch in batches):
            raise DecryptionError("spool record names another tenant than its batch")
        return batches


def encode_received(received: ReceivedBeacon) -> bytes:
    """A beacon as received, encoded for :meth:`SpoolCodec.seal_group` (not yet sealed)."""
    return spool_encoder.encode(received)
