"""The durable spool: checksummed records added at the end of segment files and made durable
(fdatasync) before an acknowledgement.

Layout: ``<spool>/<ns>-<writer>.open`` is being written by one live writer (it holds an exclusive
flock on it); ``.seg`` files are sealed and ready for the loader.  A record is
``b"HGR1" | u32 length | u32 crc32 | payload``; a reader stops at the first short or corrupt
record, so a torn tail left by ``kill -9`` is never loaded and nothing before it is lost.

Once an open segment holds ZERO_AFTER bytes, it is zeroed ahead of its records, in steps as
large as what it holds (at most ZERO_AHEAD), each step made durable with the commit that needs
it. The other commits overwrite blocks the file already has: the file's size and block map stay
as they are, so their fdatasync has only the records to write (no metadata, and on a
journalling file system no journal commit). On the development VM that halves a commit's
fsync latency (docs/benchmarks.md). PostgreSQL zeroes its WAL segments for the same reason.
The price is disk writes: a busy segment's bytes are written twice, zeros first. A quiet
segment (under ZERO_AFTER bytes before it is sealed) gets no zeros at all, and a disk too full
for the zeros still takes the records. The zeros after the last record are not a record, so
readers stop there; sealing cuts them off, and so does ``seal_orphans`` after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from heliograph.core.files import fsync_dir

__all__ = ["fsync_dir"]  # also imported from here by the loader and simulate

log = logging.getLogger("heliograph.spool")

MAGIC = b"HGR1"
HEADER = struct.Struct("<4sII")
MAX_RECORD_BYTES = 16 * 1024 * 1024
# With a sealer, one group's payloads share a record up to this many bytes, well under the
# record limit whatever the sealer adds.
GROUP_BYTES = 1024 * 1024
# An open segment is zeroed ahead of its records once it holds ZERO_AFTER bytes, in steps of
# what it holds, at most ZERO_AHEAD.
ZERO_AFTER = 64 * 1024
ZERO_AHEAD = 1024 * 1024
OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".seg"

# Seals the payloads of one group (the collector: one tenant's beacons) into one record.
Sealer = Callable[[int, list[bytes]], bytes]
# What one commit settles: futures, each list with its error (None: durable).
Outcomes = list[tuple[list["asyncio.Future[None]"], BaseException | None]]


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
    # Bytes after the intact records that are not all zeros: a record cut off or corrupted.
    # Zeros alone are an open segment's space zeroed ahead of its records.
    garbled_tail: bool = False

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
    garbled = data.count(0, offset) != len(data) - offset
    return ReadResult(
        records=records, valid_bytes=offset, total_bytes=len(data), garbled_tail=garbled
    )


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
                log.log(
                    logging.WARNING if result.garbled_tail else logging.INFO,
                    "spool.%s segment=%s kept=%d dropped_bytes=%d",
                    "torn_tail_cut" if result.garbled_tail else "zero_tail_cut",
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
    """One open segment file owned by this writer, zeroed ahead of its records once busy."""

    def __init__(self, spool_dir: Path, writer_id: str) -> None:
        name = f"{time.time_ns():020d}-{writer_id}{OPEN_SUFFIX}"
        self.path = spool_dir / name
        # Not O_APPEND: records are written at their offset, over the zeros.
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fsync_dir(spool_dir)
        self.size = 0  # where the records end
        self.allocated = 0  # where the file's written blocks end: records, then zeros
        self.zero_ahead = True  # until the disk has no room for zeros
        self.opened = time.monotonic()

    def write_durably(self, data: bytes) -> None:
        end = self.size + len(data)
        if end > self.allocated:
            self._grow(end)
        _write_at(self.fd, memoryview(data), self.size)
        # fdatasync also makes durable a new size and new blocks (what reading the data back
        # needs); without them, as between steps, it has no metadata to write.
        os.fdatasync(self.fd)
        self.size = end

    def _grow(self, end: int) -> None:
        """The records will end at ``end``, past the file's blocks: zero the next step after
        them (made durable by the same fdatasync), unless the segment is still small."""
        self.allocated = end
        if not self.zero_ahead or self.size < ZERO_AFTER:
            return
        step = min(ZERO_AHEAD, self.size)
        try:
            _write_at(self.fd, memoryview(bytes(step)), end)
        except OSError as exc:
            # No room for zeros (disk full, quota, file size limit): give back what was
            # written of them, and take this segment's records without zeros.
            self.zero_ahead = False
            log.warning("spool.zero_ahead_stopped segment=%s error=%s", self.path.name, exc)
            os.ftruncate(self.fd, self.size)
            return
        self.allocated = end + step

    def seal(self) -> Path:
        try:
            if self.allocated > self.size:
                os.ftruncate(self.fd, self.size)
                os.fsync(self.fd)  # a sealed segment ends with its last record
            target = self.path.with_suffix(SEALED_SUFFIX)
            os.rename(self.path, target)
            fsync_dir(self.path.parent)
        finally:
            # Also after a failure: closing releases the lock, so that seal_orphans (the
            # loader's, in this process too) can seal what is left as .open.
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

    One writer thread of its own takes whatever is pending, writes it, fsyncs it and settles
    the waiting futures with one wake-up of the event loop; what arrives meanwhile waits for the
    next commit. The event loop only appends to the pending list under a lock, and wakes the
    thread only when it is idle.

    With a sealer (:meth:`use_sealer`), the payloads waiting for one commit are grouped by the
    key they were submitted with, and each group becomes one record: the collector seals each
    tenant's beacons together under the tenant's key. Sealing happens in the writer thread,
    off the event loop, once per group instead of once per request.
    """

    def __init__(self, spool_dir: Path, *, segment_bytes: int, segment_seconds: float) -> None:
        self.spool_dir = spool_dir
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self.writer_id = f"{os.getpid()}{secrets.token_hex(4)}"
        self._pending: list[tuple[int, bytes, asyncio.Future[None]]] = []
        self._lock = threading.Lock()  # guards _pending, _idle and _closed
        # A binary semaphore: released (once) by submit() to wake the idle writer thread.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._idle = False
        self._closed = False
        self._segment: _Segment | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
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
        self._loop = loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        threading.Thread(
            target=self._run, args=(loop, self._stopped), name="spool-writer", daemon=True
        ).start()

    async def append(self, payload: bytes, group: int = 0) -> None:
        """Return once ``payload`` is durable on disk; raise SpoolError if it cannot be."""
        await self.submit(payload, group)

    def submit(self, payload: bytes, group: int = 0) -> asyncio.Future[None]:
        """Queue ``payload`` for the next group commit; the future settles once it is durable
        on disk, or fails (SpoolError, or the sealer's error for its group). ``append``
        without a coroutine of its own, for the collector's hot path."""
        with self._lock:
            if self._closed or self._loop is None:
                raise SpoolError("spool is closed" if self._closed else "spool is not started")
            # The loop's own create_future: asyncio.get_running_loop() costs a getpid() call.
            future: asyncio.Future[None] = self._loop.create_future()
            self._pending.append((group, payload, future))
            idle, self._idle = self._idle, False
        if idle:
            self._signal()
        return future

    async def close(self) -> None:
        """Flush what is pending, seal the open segment and stop."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, False
        if idle:
            self._signal()
        if self._stopped is not None:
            await asyncio.shield(self._stopped)

    def _signal(self) -> None:
        # Already released if the thread timed out of its wait and has not looked yet.
        with contextlib.suppress(RuntimeError):
            self._wake.release()

    def _run(self, loop: asyncio.AbstractEventLoop, stopped: asyncio.Future[None]) -> None:
        """The writer thread: commit what is pending, seal idle or full segments, stop on close."""
        tick = self.segment_seconds / 2  # an idle open segment is sealed for the loader
        batch: list[tuple[int, bytes, asyncio.Future[None]]] = []
        try:
            _yield_to_the_event_loop()
            while True:
                with self._lock:
                    batch, self._pending = self._pending, []
                    closed = self._closed
                    self._idle = not batch and not closed
                if batch:
                    self._commit(loop, batch)
                elif closed:
                    self._seal()
                    return
                else:
                    self._wake.acquire(timeout=tick)
                if self._due_for_rotation():
                    self._seal()
        except Exception as exc:  # a bug: logged, and no request is left waiting
            log.exception("spool.writer_crashed")
            with self._lock:
                self._closed = True
                # The batch being committed (futures already settled are skipped) and the rest.
                batch, self._pending = batch + self._pending, []
            error = SpoolError(f"spool writer stopped: {exc!r}")
            outcomes: Outcomes = [([future for _, _, future in batch], error)]
            loop.call_soon_threadsafe(_settle_all, outcomes)
        finally:
            loop.call_soon_threadsafe(_set_done, stopped)

    def _commit(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[int, bytes, asyncio.Future[None]]]
    ) -> None:
        outcomes: Outcomes = []
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
        loop.call_soon_threadsafe(_settle_all, outcomes)

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
            try:
                segment.seal()
            except OSError as exc:  # left .open; seal_orphans seals it after a restart
                log.error("spool.seal_failed segment=%s error=%s", segment.path.name, exc)


def _yield_to_the_event_loop() -> None:
    """Make the calling thread (the writer) one that does not preempt others when it wakes.

    Linux's SCHED_BATCH: the same share of the CPU, but a writer woken by its fsync no longer
    interrupts the event loop in the middle of a request, only to wait for the GIL the loop
    holds. On one busy core that halves the context switches per commit and lets more requests
    join each commit. Only the default policy is changed: a policy an operator chose (real-time,
    idle) stays. Where the policy is missing or refused, the writer runs as it was.
    """
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is None:
        return
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            return
        os.sched_setscheduler(0, batch, os.sched_param(0))
    except OSError as exc:
        log.info("spool.writer_policy_unchanged error=%s", exc)


def _write_at(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        if not written:
            raise OSError(errno.ENOSPC, "the file system took no more bytes")
        view, offset = view[written:], offset + written


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


def _settle_all(outcomes: Outcomes) -> None:
    for futures, error in outcomes:
        for future in futures:
            if future.done():
                continue  # its request was cancelled (client gone)
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
