"""The wire format of a beacon, validated strictly (unknown fields, wrong types, long strings)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from heliograph.core.crypto.aead import DecryptionError
from heliograph.core.crypto.keyring import Keyring, key_id_of

MAX_EVENTS = 100
MAX_URL = 2048
MAX_SELECTOR = 512
MAX_ID = 64
MAX_PIXELS = 1_000_000

# Ids are checked for their alphabet by check_ids(), once per distinct value of a batch: a
# msgspec `pattern` runs the regex on every field of every event and tripled decoding time.
Id = Annotated[str, msgspec.Meta(max_length=MAX_ID)]
_ID_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL)]
Pixels = Annotated[int, msgspec.Meta(ge=0, le=MAX_PIXELS)]
Coordinate = Annotated[int, msgspec.Meta(ge=-MAX_PIXELS, le=MAX_PIXELS)]
SiteKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class WireEvent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """One event as the tag sends it."""

    type: Literal["pageview", "click", "scroll"]
    ts: EpochMs
    sid: Id
    pid: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]
    url: Url
    vid: Id = ""
    vw: Pixels = 0
    vh: Pixels = 0
    dw: Pixels = 0
    dh: Pixels = 0
    ref: Url = ""
    sel: Annotated[str, msgspec.Meta(max_length=MAX_SELECTOR)] = ""
    x: Coordinate = 0
    y: Coordinate = 0
    depth: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0


class Beacon(msgspec.Struct, forbid_unknown_fields=True):
    """A batch of events for one site."""

    site: SiteKey
    events: Annotated[list[WireEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


def check_ids(beacon: Beacon) -> str | None:
    """Return the path of the first session, page-view or visitor id with a character outside
    ``A-Z a-z 0-9 _ -``, or None if every id is clean."""
    events = beacon.events
    # Every id joined: one regex run covers the whole batch.
    if _ID_ALPHABET.fullmatch("".join([e.sid + e.pid + e.vid for e in events])):
        return None
    for index, event in enumerate(events):
        for name in ("sid", "pid", "vid"):
            if not _ID_ALPHABET.fullmatch(getattr(event, name)):
                return f"$.events[{index}].{name}"
    return None  # pragma: no cover - the joined check and the loop agree


class SpoolBatch(msgspec.Struct, array_like=True, gc=False):
    """What the collector makes durable: a validated, enriched beacon (never the raw IP)."""

    batch_id: bytes  # 16 random bytes; event ids derive from it and the event's index
    tenant_id: int
    site_id: int
    received_ms: int
    visitor_hash: str  # salted daily hash standing in for a visitor id in cookieless mode
    device: str
    browser: str
    os: str
    events: list[WireEvent]


beacon_decoder = msgspec.json.Decoder(Beacon)
spool_encoder = msgspec.msgpack.Encoder()
spool_decoder = msgspec.msgpack.Decoder(SpoolBatch)


class SpoolEnvelope(msgspec.Struct, array_like=True):
    """A spool record: the tenant in clear (to pick its key), the batch sealed under its key."""

    tenant_id: int
    sealed: bytes


_envelope_decoder = msgspec.msgpack.Decoder(SpoolEnvelope)
SPOOL_PURPOSE = "spool"


def record_key(record: bytes) -> tuple[int, str]:
    """Return the tenant and data key id a spool record is sealed for, without opening it.

    Raises msgspec.DecodeError or DecryptionError for a record that is not a sealed envelope.
    """
    envelope = _envelope_decoder.decode(record)
    return envelope.tenant_id, key_id_of(envelope.sealed)


class SpoolCodec:
    """Seal batches with the tenant's data key (AES-256-GCM) for the spool, and open them."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal(self, batch: SpoolBatch) -> bytes:
        sealed = self.keyring.encrypt(batch.tenant_id, SPOOL_PURPOSE, spool_encoder.encode(batch))
        return spool_encoder.encode(SpoolEnvelope(batch.tenant_id, sealed))

    def open(self, record: bytes) -> SpoolBatch:
        """Return the batch of a record; raise DecryptionError or msgspec errors if it is bad."""
        envelope = _envelope_decoder.decode(record)
        plain = self.keyring.decrypt(envelope.tenant_id, SPOOL_PURPOSE, envelope.sealed)
        batch = spool_decoder.decode(plain)
        if batch.tenant_id != envelope.tenant_id:
            raise DecryptionError("spool record names another tenant than its batch")
        return batch
