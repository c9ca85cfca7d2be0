"""The durable spool: append-only, checksummed segment files fsync'd before an acknowledgement.

Layout: ``<spool>/<ns>-<writer>.open`` is being written by one live writer (it holds an exclusive
flock on it); ``.seg`` files are sealed and ready for the loader.  A record is
``b"HGR1" | u32 length | u32 crc32 | payload``; a reader stops at the first short or corrupt
record, so a torn tail left by ``kill -9`` is never loaded and nothing before it is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("heliograph.spool")

MAGIC = b"HGR1"
HEADER = struct.Struct("<4sII")
MAX_RECORD_BYTES = 16 * 1024 * 1024
# With a sealer, one group's payloads share a record up to this many bytes, well under the
# record limit whatever the sealer adds.
GROUP_BYTES = 1024 * 1024
OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".seg"

# Seals the payloads of one group (the collector: one tenant's beacons) into one record.
Sealer = Callable[[int, list[bytes]], bytes]


class SpoolError(OSError):
    """The spool cannot make a record durable (disk full, permissions, closed)."""


def frame(payload: bytes) -> bytes:
    """Return ``payload`` framed with magic, length and CRC-32."""
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class ReadResult:
    """The intact records of a segment and where (if anywhere) the intact prefix ends."""

    records: list[bytes]
    valid_bytes: int
    total_bytes: int

    @property
    def torn(self) -> bool:
        return self.valid_bytes != self.total_bytes


def read_records(path: Path) -> ReadResult:
    """Read every intact record of a segment, stopping at the first torn or corrupt one."""
    data = path.read_bytes()
    records: list[bytes] = []
    offset = 0
    for payload, end in _iter_frames(data):
        records.append(payload)
        offset = end
    return ReadResult(records=records, valid_bytes=offset, total_bytes=len(data))


def _iter_frames(data: bytes) -> Iterator[tuple[bytes, int]]:
    offset, size = 0, len(data)
    while offset + HEADER.size <= size:
        magic, length, crc = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        end = start + length
        if magic != MAGIC or length > MAX_RECORD_BYTES or end > size:
            return
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            return
        yield payload, end
        offset = end


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (creations, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def seal_orphans(spool_dir: Path) -> list[Path]:
    """Seal ``.open`` segments whose writer is gone, cutting any torn tail; return them."""
    sealed: list[Path] = []
    for path in sorted(spool_dir.glob("*" + OPEN_SUFFIX)):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # its writer sealed it meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            result = read_records(path)
            if result.torn:
                log.warning(
                    "spool.torn_tail_cut segment=%s kept=%d dropped_bytes=%d",
                    path.name,
                    result.valid_bytes,
                    result.total_bytes - result.valid_bytes,
                )
                os.ftruncate(fd, result.valid_bytes)
                os.fsync(fd)
            target = path.with_suffix(SEALED_SUFFIX)
            os.rename(path, target)
            sealed.append(target)
        finally:
            os.close(fd)
    if sealed:
        fsync_dir(spool_dir)
    return sealed


def sealed_segments(spool_dir: Path) -> list[Path]:
    """Return sealed segments, oldest first (names start with a nanosecond timestamp)."""
    return sorted(spool_dir.glob("*" + SEALED_SUFFIX))


class _Segment:
    """One open segment file owned by this writer."""

    def __init__(self, spool_dir: Path, writer_id: str) -> None:
        name = f"{time.time_ns():020d}-{writer_id}{OPEN_SUFFIX}"
        self.path = spool_dir / name
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fsync_dir(spool_dir)
        self.size = 0
        self.opened = time.monotonic()

    def write_durably(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        os.fsync(self.fd)
        self.size += len(data)

    def seal(self) -> Path:
        target = self.path.with_suffix(SEALED_SUFFIX)
        os.rename(self.path, target)
        fsync_dir(self.path.parent)
        os.close(self.fd)
        return target

    def discard_if_empty(self) -> bool:
        if self.size:
            return False
        os.unlink(self.path)
        os.close(self.fd)
        return True


class SpoolWriter:
    """Append records durably with group commit: one fsync covers every waiting request.

    With a sealer (:meth:`use_sealer`), the payloads waiting for one commit are grouped by the
    key they were submitted with, and each group becomes one record: the collector seals each
    tenant's beacons together under the tenant's key. Sealing happens in the commit thread,
    off the event loop, once per group instead of once per request.
    """

    def __init__(self, spool_dir: Path, *, segment_bytes: int, segment_seconds: float) -> None:
        self.spool_dir = spool_dir
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self.writer_id = f"{os.getpid()}{secrets.token_hex(4)}"
        self._pending: list[tuple[int, bytes, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._segment: _Segment | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._sealer: Sealer | None = None
        self.records_written = 0  # payloads made durable (with a sealer, several per record)

    def use_sealer(self, sealer: Sealer) -> None:
        """Make each commit's payloads one record per group key, ``sealer(key, payloads)``.

        A sealer that raises fails the futures of its group only, with its exception; the
        other groups of the commit are written.
        """
        self._sealer = sealer

    async def start(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._task = asyncio.create_task(self._run(), name="spool-writer")
        self._tick()

    def _tick(self) -> None:
        # Wake the writer now and then so an idle open segment is sealed for the loader. A
        # timer, not a timeout on every wait: asyncio.wait_for would cost a task per commit.
        if not self._closed:
            self._wakeup.set()
            self._timer = asyncio.get_running_loop().call_later(
                self.segment_seconds / 2, self._tick
            )

    async def append(self, payload: bytes, group: int = 0) -> None:
        """Return once ``payload`` is on disk and fsync'd; raise SpoolError if it cannot be."""
        await self.submit(payload, group)

    def submit(self, payload: bytes, group: int = 0) -> asyncio.Future[None]:
        """Queue ``payload`` for the next group commit; the future settles once it is on disk
        and fsync'd, or fails (SpoolError, or the sealer's error for its group). ``append``
        without a coroutine of its own, for the collector's hot path."""
        if self._closed:
            raise SpoolError("spool is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((group, payload, future))
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Flush what is pending, seal the open segment and stop."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                await loop.run_in_executor(None, self._commit, batch)
            if self._closed and not self._pending:
                await loop.run_in_executor(None, self._seal)
                return
            if self._due_for_rotation():
                await loop.run_in_executor(None, self._seal)

    def _commit(self, batch: list[tuple[int, bytes, asyncio.Future[None]]]) -> None:
        if not batch:
            return
        outcomes: list[tuple[list[asyncio.Future[None]], BaseException | None]] = []
        written: list[asyncio.Future[None]] = []
        frames: list[bytes] = []
        if self._sealer is None:
            frames = [frame(payload) for _, payload, _ in batch]
            written = [future for _, _, future in batch]
        else:
            for key, payloads, futures in _groups(batch):
                try:
                    frames.append(frame(self._sealer(key, payloads)))
                except Exception as exc:  # this group only: its key is gone or unreadable
                    log.error("spool.seal_failed group=%d error=%r", key, exc)
                    outcomes.append((futures, exc))
                else:
                    written.extend(futures)
        error: BaseException | None = None
        if frames:
            try:
                if self._segment is None:
                    self._segment = _Segment(self.spool_dir, self.writer_id)
                self._segment.write_durably(b"".join(frames))
                self.records_written += len(written)
            except OSError as exc:
                log.error("spool.write_failed error=%s", exc)
                error = SpoolError(str(exc))
                self._abandon_segment()
        outcomes.append((written, error))
        # One wake-up of the event loop settles the whole commit, not one per request.
        batch[0][2].get_loop().call_soon_threadsafe(_settle_all, outcomes)

    def _abandon_segment(self) -> None:
        # After a failed write the segment may end in a partial record; leave it for
        # seal_orphans (which cuts the torn tail) once our lock is released.
        if self._segment is not None:
            with contextlib.suppress(OSError):
                os.close(self._segment.fd)
            self._segment = None

    def _due_for_rotation(self) -> bool:
        segment = self._segment
        if segment is None or segment.size == 0:
            return False
        aged = time.monotonic() - segment.opened >= self.segment_seconds
        return aged or segment.size >= self.segment_bytes

    def _seal(self) -> None:
        segment, self._segment = self._segment, None
        if segment is not None and not segment.discard_if_empty():
            segment.seal()


def _groups(
    batch: list[tuple[int, bytes, asyncio.Future[None]]],
) -> Iterator[tuple[int, list[bytes], list[asyncio.Future[None]]]]:
    """The payloads of a commit by group key, in order, cut at GROUP_BYTES."""
    by_key: dict[int, list[tuple[bytes, asyncio.Future[None]]]] = {}
    for key, payload, future in batch:
        by_key.setdefault(key, []).append((payload, future))
    for key, items in by_key.items():
        payloads: list[bytes] = []
        futures: list[asyncio.Future[None]] = []
        size = 0
        for payload, future in items:
            if payloads and size + len(payload) > GROUP_BYTES:
                yield key, payloads, futures
                payloads, futures, size = [], [], 0
            payloads.append(payload)
            futures.append(future)
            size += len(payload)
        yield key, payloads, futures


def _settle_all(
    outcomes: list[tuple[list[asyncio.Future[None]], BaseException | None]],
) -> None:
    for futures, error in outcomes:
        for future in futures:
            if future.done():
                continue  # its request was cancelled (client gone)
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
