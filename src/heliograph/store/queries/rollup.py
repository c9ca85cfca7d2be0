"""Read a window from a roll-up where it covers whole slots, and from finer rows at the edges.

A roll-up (schema/rollups.py) sums rows per 15-minute slot, UTC hour or UTC day. A window such as
[Jan 4 19:00 New York, Jan 6 19:00 New York) is a union of whole slots: it is read from the
roll-up alone. A window that starts or ends inside a slot (a "so far today" comparison, a
window in a time zone whose day does not start on the hour) reads the whole slots from the
roll-up and the rest from the table the roll-up is kept from, so every answer stays exact.
Splits nest: a coarser split's whole slots can be taken away from a finer one (``outside``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import LiteralString

from heliograph.store.queries.common import Window
from heliograph.store.sql import EventQuery, ScopedStatement, Table, union_all

SLOT = timedelta(minutes=15)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Roll-up time columns are DateTime (whole seconds), the tables under them DateTime64(3). The
# bounds of a split's whole slots are named after its step, so splits nest in one statement.
_WHOLE = "{time} >= {{{key}_start:DateTime('UTC')}} AND {time} < {{{key}_end:DateTime('UTC')}}"
_INNER = (
    "{time} >= {{{key}_from:DateTime64(3, 'UTC')}} AND {time} < {{{key}_to:DateTime64(3, 'UTC')}}"
)
_KEYS = {SLOT: "slot", HOUR: "hour", DAY: "day"}


def _floor(at: datetime, step: timedelta) -> datetime:
    return at - (at - _EPOCH) % step


def _ceil(at: datetime, step: timedelta) -> datetime:
    floor = _floor(at, step)
    return floor if floor == at else floor + step


def _aligned(at: datetime, step: timedelta) -> bool:
    return (at - _EPOCH) % step == timedelta(0)


@dataclass(frozen=True, slots=True)
class Split:
    """A window cut into whole roll-up slots ``inner`` (or None) and the rest."""

    window: Window
    inner: tuple[datetime, datetime] | None
    key: LiteralString = "slot"

    @property
    def ragged(self) -> bool:
        """True if some of the window lies outside ``inner`` and needs the finer table."""
        return self.inner != (self.window.start, self.window.end)

    def coarse(
        self, table: Table, time: LiteralString, *, outside: Split | None = None
    ) -> EventQuery | None:
        """Start a query of ``table`` over the whole slots, or None if there are none.

        ``outside``, a coarser split of the same window, takes its whole slots away: they are
        read from a coarser roll-up.
        """
        if self.inner is None:
            return None
        if outside is not None and outside.inner == self.inner:
            return None
        query = EventQuery(self.window.scope, site_id=self.window.site_id, table=table, time=time)
        query.where(_WHOLE.format(time=time, key=self.key), **self._whole())
        if outside is not None and outside.inner is not None:
            query.where(f"NOT ({_WHOLE.format(time=time, key=outside.key)})", **outside._whole())
        return query

    def _whole(self) -> dict[str, object]:
        start, end = self.inner or (None, None)
        return {f"{self.key}_start": start, f"{self.key}_end": end}

    def fine(self, table: Table = "events", time: LiteralString = "ts") -> EventQuery | None:
        """Start a query of ``table`` over the window minus the whole slots, or None."""
        if not self.ragged:
            return None
        w = self.window
        query = EventQuery(
            w.scope, site_id=w.site_id, start=w.start, end=w.end, table=table, time=time
        )
        if self.inner is None:
            return query
        start, end = self.inner
        bounds = {f"{self.key}_from": start, f"{self.key}_to": end}
        return query.where(f"NOT ({_INNER.format(time=time, key=self.key)})", **bounds)


def split(window: Window, step: timedelta, cuts: Iterable[datetime] = ()) -> Split:
    """Cut ``window`` at ``step`` boundaries; ``cuts`` (bucket starts) must fall on them too.

    If a cut inside the whole slots is not on a boundary (a time zone offset that is not a
    multiple of the step), the roll-up cannot answer per bucket and the whole window is fine.
    """
    window.query()  # validate scope, site and range first
    key = _KEYS[step]
    start, end = _ceil(window.start, step), _floor(window.end, step)
    if not start < end:
        return Split(window, None, key)
    if not all(_aligned(c, step) for c in cuts if start < c < end):
        return Split(window, None, key)
    return Split(window, (start, end), key)


def combine(*parts: ScopedStatement | None) -> ScopedStatement:
    """Return the one statement given, or the UNION ALL of several (None parts are skipped)."""
    present = [p for p in parts if p is not None]
    return present[0] if len(present) == 1 else union_all(*present)
