"""Server-side enrichment: device and browser from the user agent, privacy-safe visitor ids."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import ua_parser

SESSION_IDLE_SECONDS = 30 * 60
CLOCK_SKEW_MS = 24 * 3600 * 1000
DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Client:
    """Device class, browser and OS family of a user agent."""

    device: str
    browser: str
    os: str


@lru_cache(maxsize=4096)
def classify_user_agent(user_agent: str) -> Client:
    """Classify a user agent; unknown or empty agents become ``other``."""
    if not user_agent:
        return Client("other", "Other", "Other")
    parsed = ua_parser.parse(user_agent[:512])
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    family = parsed.device.family if parsed.device else ""
    return Client(_device_class(user_agent, family), browser[:64], os_family[:64])


def prepare_classifier() -> None:
    """Build the user-agent parser's matchers now (about 0.25 s) rather than inside the first
    beacon, where it would stall the event loop and every request waiting on it."""
    ua_parser.parse("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")


def _device_class(user_agent: str, family: str) -> str:
    lowered = user_agent.lower()
    if family == "Spider" or "bot" in lowered or "crawler" in lowered or "spider" in lowered:
        return "bot"
    if (
        "ipad" in lowered
        or "tablet" in lowered
        or ("android" in lowered and "mobile" not in lowered)
    ):
        return "tablet"
    if "mobi" in lowered or "iphone" in lowered:
        return "mobile"
    return "desktop"


class DailySalt:
    """A random salt that is replaced every UTC day and never written anywhere.

    Visitor hashes from different days cannot be linked, and the raw IP is never stored
    (ARCHITECTURE: privacy; GDPR recital 26 style pseudonymisation).
    """

    def __init__(self) -> None:
        self._day_start = 0.0
        self._day_end = 0.0
        self._salt = b""

    def current(self, now: float | None = None) -> bytes:
        now = time.time() if now is None else now
        if not self._day_start <= now < self._day_end:
            self._day_start = now - now % DAY_SECONDS  # UTC midnight: epoch days have no leap
            self._day_end = self._day_start + DAY_SECONDS
            self._salt = secrets.token_bytes(32)
        return self._salt

    def visitor_hash(self, site_id: int, ip: str, user_agent: str) -> str:
        """Return a 16-hex-digit visitor id for cookieless beacons."""
        message = f"{site_id}|{ip}|{user_agent}".encode()
        # Keyed BLAKE2b is a MAC (RFC 7693 s. 2.5) and a third of HMAC-SHA-256's cost here.
        return hashlib.blake2b(message, key=self.current(), digest_size=8).hexdigest()


class CookielessSessions:
    """Give cookieless visitors server-side sessions with 30 minutes of inactivity."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_entries

    def session_for(self, visitor: str, now: float) -> str:
        current = self._sessions.pop(visitor, None)
        if current is None or now - current[1] > SESSION_IDLE_SECONDS:
            session_id = "c" + secrets.token_hex(10)
        else:
            session_id = current[0]
        self._sessions[visitor] = (session_id, now)
        if len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session_id


def clamp_timestamp(client_ms: int, received_ms: int) -> int:
    """Trust the client clock only within a day of ours (and never in the future)."""
    if client_ms > received_ms or received_ms - client_ms > CLOCK_SKEW_MS:
        return received_ms
    return client_ms
