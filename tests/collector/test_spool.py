"""The spool keeps every acknowledged record and never yields a torn or corrupt one."""

from __future__ import annotations

import asyncio
import fcntl
import os
import platform
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from heliograph.collector.spool import (
    HEADER,
    SpoolError,
    SpoolWriter,
    frame,
    read_records,
    seal_orphans,
    sealed_segments,
)


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def test_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.seg"
    write(path, frame(b"one") + frame(b"") + frame(b"three" * 1000))
    result = read_records(path)
    assert result.records == [b"one", b"", b"three" * 1000]
    assert not result.torn


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size, HEADER.size + 2])
def test_torn_tail_is_not_read(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "s.seg"
    last = frame(b"the last record")
    write(path, frame(b"kept") + last[:cut])
    result = read_records(path)
    assert result.records == [b"kept"]
    assert result.torn
    assert result.valid_bytes == len(frame(b"kept"))


def test_flipped_bit_stops_reading(tmp_path: Path) -> None:
    path = tmp_path / "s.seg"
    data = bytearray(frame(b"good") + frame(b"payload") + frame(b"after"))
    data[len(frame(b"good")) + HEADER.size + 2] ^= 0x01
    write(path, bytes(data))
    assert read_records(path).records == [b"good"]


def test_absurd_length_is_treated_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "s.seg"
    write(path, frame(b"good") + HEADER.pack(b"HGR1", 2**31, 0) + b"x" * 100)
    assert read_records(path).records == [b"good"]


def test_seal_orphans_cuts_torn_tail_and_skips_live_writers(tmp_path: Path) -> None:
    dead = tmp_path / "0001-dead.open"
    write(dead, frame(b"a") + frame(b"b")[:5])
    live = tmp_path / "0002-live.open"
    write(live, frame(b"c"))
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live writer holds its segment locked
    try:
        sealed = seal_orphans(tmp_path)
    finally:
        os.close(fd)
    assert [p.name for p in sealed] == ["0001-dead.seg"]
    assert read_records(sealed[0]).records == [b"a"]
    assert not read_records(sealed[0]).torn
    assert live.exists()


def test_seal_orphans_cuts_zeros_quietly_and_warns_about_a_torn_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A killed writer leaves its segment zeroed ahead of the last record: the zeros are cut
    without a warning. A record cut off before the zeros is a torn tail, and is reported."""
    zeros_only = tmp_path / "0001-dead.open"
    write(zeros_only, frame(b"a") + frame(b"b") + bytes(5000))
    torn = tmp_path / "0002-dead.open"
    write(torn, frame(b"c") + frame(b"d")[:-1] + bytes(5000))
    with caplog.at_level("WARNING", logger="heliograph.spool"):
        sealed = seal_orphans(tmp_path)
    assert [read_records(p).records for p in sealed] == [[b"a", b"b"], [b"c"]]
    assert [p.stat().st_size for p in sealed] == [len(frame(b"a") + frame(b"b")), len(frame(b"c"))]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "0002-dead.open" in warned[0] and "torn_tail_cut" in warned[0]


def _file_state(path: Path) -> tuple[int, bool, list[bytes], int]:
    """(bytes after the records, garbled?, records, where the first hole starts)."""
    result = read_records(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
    finally:
        os.close(fd)
    return result.total_bytes - result.valid_bytes, result.garbled_tail, result.records, hole


def test_an_open_segment_is_zeroed_ahead_and_sealed_to_its_last_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a segment holds ZERO_AFTER bytes, its records go over zeros written ahead of them
    (real blocks, not a hole), in steps of what it holds, at most ZERO_AHEAD. Appends that cross
    the zeroed end, by a little or by more than a whole step, all read back in order, and the
    sealed segment ends exactly at its last record."""
    # Sizes of whole 4 KiB blocks and more, so that a sparse tail would show as a hole.
    monkeypatch.setattr("heliograph.collector.spool.ZERO_AFTER", 4096)
    monkeypatch.setattr("heliograph.collector.spool.ZERO_AHEAD", 16384)
    payloads = [b"x" * n for n in (1000, 3000, 100, 9000, 50, 5000, 20000, 300)]

    async def run() -> list[tuple[int, bool, list[bytes], int]]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        seen = []
        for payload in payloads:
            await writer.append(payload)
            (open_segment,) = tmp_path.glob("*.open")
            seen.append(_file_state(open_segment))
        await writer.close()
        return seen

    seen = asyncio.run(run())
    # Framed: 1,012, 3,012, 112, 9,012, 62, 5,012, 20,012 and 312 bytes. Under 4,096 bytes
    # held, no zeros; then steps of what is held (4,136, then 13,210), then of at most 16,384.
    assert [state[0] for state in seen] == [0, 0, 0, 4136, 4074, 13210, 16384, 16072]
    for count, (zero_bytes, garbled, records, hole) in enumerate(seen, start=1):
        assert not garbled  # zeros ahead, never a torn tail
        assert records == payloads[:count]
        # The first hole is the end of the file: the zeros are written blocks, not a sparse
        # tail (which would leave the commits allocating blocks, as appends do).
        assert hole == sum(len(frame(r)) for r in records) + zero_bytes
    (segment,) = sealed_segments(tmp_path)
    assert segment.stat().st_size == sum(len(frame(p)) for p in payloads)
    result = read_records(segment)
    assert result.records == payloads and not result.torn


def test_a_quiet_segment_gets_no_zeros(tmp_path: Path) -> None:
    """Under ZERO_AFTER bytes (the default, 64 KiB), a segment's file is exactly its records:
    a site with little traffic pays no extra writes."""

    async def run() -> list[int]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        sizes = []
        for index in range(40):
            await writer.append(b"%04d" % index * 300)  # 1,200 bytes, about a beacon
            (open_segment,) = tmp_path.glob("*.open")
            sizes.append(open_segment.stat().st_size)
        await writer.close()
        return sizes

    sizes = asyncio.run(run())
    assert sizes == [(index + 1) * (HEADER.size + 1200) for index in range(40)]


def test_no_room_for_zeros_still_takes_the_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A disk with room for the records but not for the zeros ahead of them (full, a quota, a
    file size limit): every append is still made durable, the zeros written before the disk
    filled are given back, and the segment goes on without zeros."""
    monkeypatch.setattr("heliograph.collector.spool.ZERO_AFTER", 100)
    capacity = 2_000  # bytes this "disk" holds for the segment
    real_pwrite = os.pwrite

    def small_disk(fd: int, data: memoryview, offset: int) -> int:
        if offset >= capacity:
            raise OSError(28, "No space left on device")
        return real_pwrite(fd, data[: capacity - offset], offset)  # a short write at the end

    monkeypatch.setattr("heliograph.collector.spool.os.pwrite", small_disk)
    payloads = [b"%02d" % i * 40 for i in range(20)]  # 92 bytes framed: 1,840 in all

    async def run() -> list[int]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        sizes = []
        for payload in payloads:
            await asyncio.wait_for(writer.append(payload), timeout=10)
            (open_segment,) = tmp_path.glob("*.open")
            sizes.append(open_segment.stat().st_size)
        await writer.close()
        return sizes

    with caplog.at_level("WARNING", logger="heliograph.spool"):
        sizes = asyncio.run(run())
    assert [r.getMessage().split()[0] for r in caplog.records] == ["spool.zero_ahead_stopped"]
    assert sizes[-1] == 1_840  # the zeros given back; the records only
    (segment,) = sealed_segments(tmp_path)
    assert read_records(segment).records == payloads


def test_sealing_cuts_the_zeros_durably_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sealed name is only given to a file already cut to its last record on disk: the loader
    quarantines a sealed segment that does not read whole."""
    monkeypatch.setattr("heliograph.collector.spool.ZERO_AFTER", 10)
    calls: list[str] = []
    for name in ("ftruncate", "fsync", "rename"):
        real = getattr(os, name)

        def spy(*args: object, _name: str = name, _real: Any = real) -> Any:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(f"heliograph.collector.spool.os.{name}", spy)

    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        for index in range(2):  # 52 bytes framed each: the second is followed by 52 zeros
            await writer.append(b"r%d" % index * 20)
        calls.clear()  # from here on: the seal
        await writer.close()

    asyncio.run(run())
    sealing = [call for call in calls if call in ("ftruncate", "fsync", "rename")]
    assert sealing[:3] == ["ftruncate", "fsync", "rename"]
    (segment,) = sealed_segments(tmp_path)
    assert not read_records(segment).torn


def test_a_failed_seal_leaves_the_segment_for_seal_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If cutting the zeros fails, the segment stays .open but its lock is released, so the
    loader's seal_orphans (in the same process) seals it with every acknowledged record."""
    monkeypatch.setattr("heliograph.collector.spool.ZERO_AFTER", 10)
    real_ftruncate = os.ftruncate
    failures = {"left": 1}

    def failing_once(fd: int, length: int) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(5, "Input/output error")
        real_ftruncate(fd, length)

    monkeypatch.setattr("heliograph.collector.spool.os.ftruncate", failing_once)

    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        for index in range(2):  # 52 bytes framed each: the second is followed by 52 zeros
            await writer.append(b"r%d" % index * 20)
        await writer.close()

    asyncio.run(run())
    assert not sealed_segments(tmp_path) and len(list(tmp_path.glob("*.open"))) == 1
    sealed = seal_orphans(tmp_path)  # would skip the file if its lock were still held
    assert [read_records(p).records for p in sealed] == [[b"r%d" % i * 20 for i in range(2)]]
    assert not read_records(sealed[0]).torn


def test_group_commit_many_concurrent_appends(tmp_path: Path) -> None:
    async def run() -> SpoolWriter:
        writer = SpoolWriter(tmp_path, segment_bytes=4096, segment_seconds=0.05)
        await writer.start()
        for wave in range(5):  # waves, so that the size limit rotates segments between them
            await asyncio.gather(
                *(writer.append(f"r{i}".encode() * 20) for i in range(wave * 100, wave * 100 + 100))
            )
        await writer.close()
        return writer

    writer = asyncio.run(run())
    records = [r for p in sealed_segments(tmp_path) for r in read_records(p).records]
    assert sorted(records) == sorted(f"r{i}".encode() * 20 for i in range(500))
    assert len(sealed_segments(tmp_path)) > 1  # rotated by size
    assert writer.records_written == 500
    assert not list(tmp_path.glob("*.open"))


def test_idle_open_segment_is_sealed_for_the_loader(tmp_path: Path) -> None:
    async def run() -> list[Path]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=0.1)
        await writer.start()
        await writer.append(b"lonely")
        await asyncio.sleep(0.4)
        sealed = sealed_segments(tmp_path)
        await writer.close()
        return sealed

    assert len(asyncio.run(run())) == 1


def test_append_after_close_fails(tmp_path: Path) -> None:
    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=0.1)
        await writer.start()
        await writer.close()
        await writer.append(b"late")

    with pytest.raises(SpoolError):
        asyncio.run(run())


def test_write_failure_is_reported_not_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: object, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=0.1)
        await writer.start()
        try:
            await writer.append(b"x")
        finally:
            await writer.close()

    monkeypatch.setattr("heliograph.collector.spool._Segment.write_durably", disk_full)
    with pytest.raises(SpoolError, match="No space"):
        asyncio.run(run())


def test_failed_sync_fails_its_records_and_the_next_go_to_a_new_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdatasync = os.fdatasync
    calls = {"n": 0}

    def flaky_fdatasync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        real_fdatasync(fd)

    monkeypatch.setattr("heliograph.collector.spool.os.fdatasync", flaky_fdatasync)

    async def run() -> tuple[list[BaseException | None], SpoolWriter]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        first = await asyncio.gather(writer.append(b"lost"), return_exceptions=True)
        second = await asyncio.gather(writer.append(b"kept"), return_exceptions=True)
        await writer.close()
        return [*first, *second], writer

    outcomes, writer = asyncio.run(run())
    assert isinstance(outcomes[0], SpoolError) and "Input/output" in str(outcomes[0])
    assert outcomes[1] is None
    assert writer.records_written == 1
    # The failed segment is left .open (unlocked now) for seal_orphans; the good one is sealed.
    assert [read_records(p).records for p in sealed_segments(tmp_path)] == [[b"kept"]]
    assert len(list(tmp_path.glob("*.open"))) == 1


def test_append_racing_close_is_refused_not_left_waiting(tmp_path: Path) -> None:
    async def run() -> list[BaseException | None]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        appends = [asyncio.ensure_future(writer.append(b"r%d" % i)) for i in range(50)]
        await asyncio.sleep(0)  # some appends have written, the rest not yet started
        closing = asyncio.ensure_future(writer.close())
        late = asyncio.ensure_future(writer.append(b"late"))
        results = await asyncio.wait_for(
            asyncio.gather(*appends, late, return_exceptions=True), timeout=10
        )
        await closing
        return results

    results = asyncio.run(run())
    assert all(result is None for result in results[:-1])
    assert isinstance(results[-1], SpoolError)
    records = [r for p in sealed_segments(tmp_path) for r in read_records(p).records]
    assert sorted(records) == sorted(b"r%d" % i for i in range(50))
    assert not list(tmp_path.glob("*.open"))


def test_a_sealer_makes_one_record_per_group_and_a_failing_group_fails_alone(
    tmp_path: Path,
) -> None:
    """With a sealer, each commit writes one record per group key; a group whose sealing fails
    gets the sealer's error, and the other groups are still made durable."""

    class Gone(ValueError):
        pass

    def sealer(key: int, payloads: list[bytes]) -> bytes:
        if key == 3:
            raise Gone("group 3's key is destroyed")
        return b"%d:" % key + b",".join(payloads)

    async def run() -> tuple[list[BaseException | None], SpoolWriter]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        writer.use_sealer(sealer)
        await writer.start()
        appends = [writer.append(b"p%d" % i, group=i % 3 + 1) for i in range(9)]
        outcomes = await asyncio.gather(*appends, return_exceptions=True)
        await writer.close()
        return outcomes, writer

    outcomes, writer = asyncio.run(run())
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "NoneType", "Gone"] * 3
    assert writer.records_written == 6  # payloads made durable, two groups of three
    (segment,) = sealed_segments(tmp_path)
    assert sorted(read_records(segment).records) == [b"1:p0,p3,p6", b"2:p1,p4,p7"]


def test_a_sealed_group_is_cut_before_it_grows_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("heliograph.collector.spool.GROUP_BYTES", 250)

    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        writer.use_sealer(lambda key, payloads: b"|".join(payloads))
        await writer.start()
        await asyncio.gather(*(writer.append(b"%03d" % i * 25) for i in range(10)))
        await writer.close()

    asyncio.run(run())
    (segment,) = sealed_segments(tmp_path)
    records = read_records(segment).records
    assert [len(record.split(b"|")) for record in records] == [3, 3, 3, 1]  # 75-byte payloads
    assert b"|".join(records) == b"|".join(b"%03d" % i * 25 for i in range(10))


def test_appends_racing_the_writers_idle_wake_ups_all_land(tmp_path: Path) -> None:
    """The writer thread wakes every few milliseconds when idle (segment_seconds / 2) and is
    woken by the first append after it went idle; appends arriving around those wake-ups,
    alone or in bursts, are each written once and none is left waiting."""

    sent: list[bytes] = []

    async def run() -> SpoolWriter:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=0.004)
        await writer.start()
        rng = random.Random(5)
        for round_ in range(150):
            payloads = [b"r%d-%d" % (round_, i) for i in range(rng.randint(1, 4))]
            sent.extend(payloads)
            burst = [writer.append(payload) for payload in payloads]
            await asyncio.wait_for(asyncio.gather(*burst), timeout=10)
            await asyncio.sleep(rng.choice([0, 0.0005, 0.001, 0.002, 0.003]))
        writer._signal()  # a wake-up already pending is not an error
        writer._signal()
        await writer.close()
        return writer

    writer = asyncio.run(run())
    records = [r for p in sealed_segments(tmp_path) for r in read_records(p).records]
    assert sorted(records) == sorted(sent)  # each once
    assert writer.records_written == len(sent)
    assert not list(tmp_path.glob("*.open"))


def test_append_before_start_is_refused(tmp_path: Path) -> None:
    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=1)
        await writer.append(b"early")

    with pytest.raises(SpoolError, match="not started"):
        asyncio.run(run())


def test_a_writer_thread_that_fails_answers_every_waiting_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the writer thread must not leave requests waiting forever: the batch it was
    committing and everything pending get a SpoolError, and later appends are refused."""

    def broken(batch: object) -> object:
        raise RuntimeError("a bug in grouping")

    monkeypatch.setattr("heliograph.collector.spool._groups", broken)

    async def run() -> tuple[list[BaseException | None], BaseException | None]:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        writer.use_sealer(lambda key, payloads: b"".join(payloads))
        await writer.start()
        appends = [writer.append(b"p%d" % i) for i in range(5)]
        outcomes = await asyncio.wait_for(asyncio.gather(*appends, return_exceptions=True), 10)
        late: BaseException | None = None
        try:
            await writer.append(b"late")
        except SpoolError as error:
            late = error
        await asyncio.wait_for(writer.close(), 10)
        return outcomes, late

    outcomes, late = asyncio.run(run())
    assert all(isinstance(o, SpoolError) and "writer stopped" in str(o) for o in outcomes)
    assert isinstance(late, SpoolError)


def _writer_thread_policy(tmp_path: Path) -> int:
    """The scheduling policy the writer thread runs under, seen from inside it (the sealer runs
    there), for a writer started from the calling thread."""
    policies: list[int] = []

    def sealer(key: int, payloads: list[bytes]) -> bytes:
        policies.append(os.sched_getscheduler(0))
        return b"".join(payloads)

    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        writer.use_sealer(sealer)
        await writer.start()
        await writer.append(b"p")
        await writer.close()

    asyncio.run(run())
    (policy,) = policies
    return policy


@pytest.mark.skipif(
    not hasattr(os, "SCHED_BATCH") or platform.libc_ver()[0] != "glibc",
    reason="SCHED_BATCH is a Linux policy, and musl's sched_setscheduler always fails (the "
    "writer then keeps the default policy, which the refused-policy test covers)",
)
def test_the_writer_thread_runs_under_sched_batch(tmp_path: Path) -> None:
    """The writer thread runs under SCHED_BATCH, whose wake-ups do not preempt; the event
    loop's thread keeps the normal policy."""
    assert _writer_thread_policy(tmp_path) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


@pytest.mark.skipif(
    not hasattr(os, "SCHED_IDLE"),
    reason="SCHED_IDLE, the operator's policy this test sets, exists only on Linux",
)
def test_a_policy_an_operator_chose_is_kept(tmp_path: Path) -> None:
    """The writer thread inherits its starter's policy; only the default one is changed."""
    seen: list[int] = []

    def idle_thread() -> None:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        seen.append(_writer_thread_policy(tmp_path))

    thread = threading.Thread(target=idle_thread)
    thread.start()
    thread.join(timeout=30)
    assert seen == [os.SCHED_IDLE]


def test_a_refused_scheduling_policy_leaves_the_writer_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("heliograph.collector.spool.os.sched_setscheduler", refused)

    async def run() -> None:
        writer = SpoolWriter(tmp_path, segment_bytes=1 << 20, segment_seconds=30)
        await writer.start()
        await asyncio.wait_for(writer.append(b"kept"), timeout=10)
        await writer.close()

    asyncio.run(run())
    assert [read_records(p).records for p in sealed_segments(tmp_path)] == [[b"kept"]]
