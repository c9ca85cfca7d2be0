"""HG-KEY, HG-SECRET-004, HG-DATA: who can read the keys, the secrets and the data directory."""

from __future__ import annotations

import pwd
import stat
from pathlib import Path

from heliograph.ops.checks.model import (
    Check,
    Context,
    Outcome,
    Severity,
    failed,
    passed,
    skipped,
    verdict,
)

SECRET_FILES = ("SECRET_KEY_FILE", "SMTP_PASSWORD_FILE")


def mode_problem(path: Path) -> str | None:
    """Say what is wrong if group or others have any access to ``path``."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as error:
        return f"cannot inspect {path}: {error.strerror}"
    if mode & 0o077:
        return f"{path} has mode {mode:04o}: group or others have access (want 0600)"
    return None


def directory_problem(path: Path) -> str | None:
    """Say what is wrong if others (not the owner, not the group) may enter or list ``path``."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None  # the file's own check reports a missing path
    if mode & 0o007:
        return f"directory {path} has mode {mode:04o}: others may enter it (want 0700 or 0750)"
    return None


def owner_problem(path: Path, uid: int) -> str | None:
    """Say what is wrong if ``path`` exists and does not belong to ``uid``."""
    try:
        owner = path.stat().st_uid
    except OSError:
        return None
    if owner != uid:
        return f"{path} belongs to {_user(owner)}, not to {_user(uid)} who runs Heliograph"
    return None


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def kek_file(ctx: Context) -> Path | None:
    """Return the key file the service reads its KEK from (None: the KEK is inline)."""
    configured = ctx.path("KEK_FILE")
    if configured is not None or ctx.settings is None or ctx.settings.kek_env:
        return configured
    return ctx.settings.default_kek_file


def key_files(ctx: Context) -> list[Path]:
    """Return the KEK file and the keyring that exist or are named explicitly."""
    found = []
    kek = kek_file(ctx)
    if kek is not None and (kek.exists() or ctx.raw("KEK_FILE")):
        found.append(kek)
    if ctx.settings is not None and ctx.settings.keyring_path.exists():
        found.append(ctx.settings.keyring_path)
    return found


def secret_files(ctx: Context) -> list[Path]:
    named = [ctx.path(name) for name in SECRET_FILES]
    return [path for path in named if path is not None]


def keys_private(ctx: Context) -> Outcome:
    files = key_files(ctx)
    if not files:
        return passed("no key file yet: Heliograph creates it with mode 0600")
    return verdict([p for f in files if (p := mode_problem(f))], "key files are mode 0600")


def key_directories_closed(ctx: Context) -> Outcome:
    directories = sorted({f.parent for f in key_files(ctx)})
    problems = [p for d in directories if (p := directory_problem(d))]
    return verdict(problems, "the key directories are closed to others")


def kek_outside_data(ctx: Context) -> Outcome:
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    kek = kek_file(ctx)
    if kek is None:
        return skipped("the KEK comes from HELIOGRAPH_KEK, not a file (HG-SECRET-003)")
    data = ctx.settings.data_dir.resolve()
    if kek.resolve().is_relative_to(data):
        where = "lies" if kek.exists() else "will be created"
        return failed(
            f"the key encryption key {kek} {where} inside the data directory {data}: a copy of "
            "the directory (backup, snapshot, stolen disk) carries the key with the data"
        )
    return passed(f"the key encryption key {kek} lies outside the data directory")


def owned_by_service_user(ctx: Context) -> Outcome:
    files = key_files(ctx) + secret_files(ctx)
    tls_key = ctx.path("TLS_KEY_FILE")
    if tls_key is not None:
        files.append(tls_key)
    problems = [p for f in files if (p := owner_problem(f, ctx.uid))]
    return verdict(problems, f"key and secret files belong to {_user(ctx.uid)}")


def secret_files_private(ctx: Context) -> Outcome:
    files = secret_files(ctx)
    if not files:
        return skipped("no HELIOGRAPH_*_FILE secret is configured")
    problems = [p for f in files if (p := mode_problem(f))]
    problems += [p for d in sorted({f.parent for f in files}) if (p := directory_problem(d))]
    return verdict(problems, "secret files are mode 0600 in closed directories")


def data_directory_private(ctx: Context) -> Outcome:
    if ctx.settings is None:
        return skipped("the configuration does not load (HG-CFG-001)")
    data = ctx.settings.data_dir
    if not data.exists():
        return passed(f"{data} does not exist yet: Heliograph creates it with mode 0700")
    problems = [p for p in (mode_problem(data), owner_problem(data, ctx.uid)) if p]
    return verdict(problems, f"{data} is mode 0700 and belongs to {_user(ctx.uid)}")


CHECKS = (
    Check(
        "HG-KEY-001",
        "the KEK file and the keyring are readable by their owner only",
        Severity.ERROR,
        "chmod 600 the key encryption key file and DATA_DIR/keys/keyring.json",
        keys_private,
    ),
    Check(
        "HG-KEY-002",
        "the directories holding keys are closed to others",
        Severity.ERROR,
        "chmod 700 (or 750) the directory of the KEK file and DATA_DIR/keys",
        key_directories_closed,
    ),
    Check(
        "HG-KEY-003",
        "the KEK file is outside the data directory",
        Severity.ERROR,
        "move the key file out (keep it 0600), e.g. to /etc/heliograph/keys/kek.json, and set "
        "HELIOGRAPH_KEK_FILE to it; back it up apart from the data",
        kek_outside_data,
    ),
    Check(
        "HG-KEY-004",
        "key and secret files belong to the user running Heliograph",
        Severity.ERROR,
        "chown them to the service user, and run `heliograph check` as that user "
        "(sudo -u heliograph heliograph check)",
        owned_by_service_user,
    ),
    Check(
        "HG-SECRET-004",
        "secret files are readable by their owner only",
        Severity.ERROR,
        "chmod 600 each HELIOGRAPH_*_FILE secret and chmod 700 its directory",
        secret_files_private,
    ),
    Check(
        "HG-DATA-001",
        "the data directory is private to the service user",
        Severity.ERROR,
        "chmod 700 HELIOGRAPH_DATA_DIR and chown it to the service user",
        data_directory_private,
    ),
)
