"""The security log's head record: its newest record, kept outside the database.

The hash chain finds any record changed or removed in the middle of the log, but not records
removed from its end: what is left is still a valid chain. So every committed append also
records the newest record's sequence number and hash in ``<data dir>/security-log.head``,
with an HMAC-SHA-256 under a key derived from the platform's data key (the keyring's
``derived_keys``; the data key itself never leaves the keyring). Someone who can change the
database but not the data directory (a stolen database login, SQL run by an attacker, a
database administrator) cannot cut the log's end, or rewrite it, without the head disagreeing.

The head only moves forward, and only after the database has committed: a rolled-back append
leaves it where it was. Several processes can append; a lock file orders their updates. Once
the log's end no longer matches the head (its record gone or changed), or the head file is
damaged, appends go on but the head stays where it is, as evidence, until an operator accepts
the log's current end (``heliograph security-log accept-end``).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from heliograph.core.crypto.keyring import PLATFORM, DerivedKey
from heliograph.core.crypto.setup import process_keyring
from heliograph.core.files import replace_durably

log = logging.getLogger("heliograph.security_log")

HEAD_FILE = "security-log.head"
KEY_LABEL = "security-log-head"


class HeadError(ValueError):
    """The head file exists but cannot be trusted: unreadable, or its MAC does not verify."""


@dataclass(frozen=True, slots=True)
class Head:
    """The newest record the log is known to have had."""

    seq: int
    hash: str


def head_path() -> Path:
    """Where the head record lives: beside the keyring, in the data directory."""
    data_dir: Path = settings.HELIOGRAPH.data_dir
    return data_dir / HEAD_FILE


def read_head() -> Head | None:
    """Return the verified head, None if none was ever written; raise HeadError if the file is
    there but is not a head this installation's keys wrote."""
    path = head_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise HeadError(f"the head file {path} cannot be read ({error})") from None
    try:
        stored = json.loads(raw)
        seq, digest, key_id, mac = stored["seq"], stored["hash"], stored["key"], stored["mac"]
        if (
            not isinstance(seq, int)
            or isinstance(seq, bool)
            or not all(isinstance(value, str) for value in (digest, key_id, mac))
            or not mac.isascii()
        ):
            raise TypeError("wrong types")
    except (ValueError, KeyError, TypeError) as error:
        raise HeadError(f"the head file {path} is not a head record ({error})") from None
    key = next((k for k in _keys() if k.key_id == key_id), None)
    if key is None:
        raise HeadError(f"the head file {path} names a key this installation does not have")
    if not hmac.compare_digest(_mac(key, seq, digest), mac):
        raise HeadError(f"the head file {path} was not written by this installation (bad MAC)")
    return Head(seq, digest)


def check_end(
    newest: Callable[[], tuple[int, str] | None], hash_at: Callable[[int], str | None]
) -> tuple[bool, tuple[int, str] | None]:
    """Whether the log still holds the head's record unchanged, so that new records may move
    the head on; and the log's newest record.

    The head is read first, then the log: ``newest()`` gives the newest record's (seq, hash),
    None for an empty log, and ``hash_at(seq)`` a record's hash, None if there is none. The
    head never names a record that the later read cannot see. When the head names the newest
    record, as it does between appends, one read of the log answers both questions.
    """
    try:
        known = read_head()
    except HeadError:
        return False, newest()
    last = newest()
    if known is None:
        return True, last
    if last is not None and last[0] == known.seq:
        return last[1] == known.hash, last
    return hash_at(known.seq) == known.hash, last


def signing_key_id() -> str | None:
    """The id of the key the head file names (unverified), for the keys command."""
    try:
        key_id = json.loads(head_path().read_bytes()).get("key")
    except (OSError, ValueError, AttributeError):
        return None
    return key_id if isinstance(key_id, str) else None


def advance(seq: int, digest: str) -> None:
    """Record ``seq``/``digest`` as the newest record, unless the head is already as new; a
    damaged head is left as it is (verify reports it)."""
    with _locked():
        try:
            current = read_head()
        except HeadError as error:
            log.error("security_log.head_kept seq=%d problem=%s", seq, error)
            return
        if current is None or current.seq < seq:
            _write(seq, digest)


def reset(end: tuple[int, str] | None) -> None:
    """Make ``end`` (seq, hash) the head whatever it was, or remove the head if the log is
    empty: an operator's acceptance of the log's current end (log.accept_end)."""
    with _locked():
        if end is None:
            head_path().unlink(missing_ok=True)
        else:
            _write(*end)


@contextmanager
def _locked() -> Iterator[None]:
    fd = os.open(head_path().with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(seq: int, digest: str) -> None:
    key = next(k for k in _keys() if k.active)
    body = {"seq": seq, "hash": digest, "key": key.key_id, "mac": _mac(key, seq, digest)}
    replace_durably(head_path(), json.dumps(body, sort_keys=True).encode() + b"\n")


def advance_after_commit(seq: int, digest: str) -> None:
    """``advance`` for a transaction's on_commit: the events are safe in the database, so a
    head that cannot be written is logged (verify() then reports it behind), not raised."""
    try:
        advance(seq, digest)
    except Exception:
        log.exception("security_log.head_not_written seq=%d", seq)


def _keys() -> list[DerivedKey]:
    return process_keyring(settings.HELIOGRAPH).derived_keys(PLATFORM, KEY_LABEL)


def _mac(key: DerivedKey, seq: int, digest: str) -> str:
    message = f"heliograph security log head|{key.key_id}|{seq}|{digest}".encode()
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()
