"""HG-CFG: the configuration loads, names its environment, and uses absolute paths."""

from __future__ import annotations

from pathlib import Path

from heliograph.core.config import ENV_PREFIX
from heliograph.ops.checks.envfile import path_variables
from heliograph.ops.checks.model import Check, Context, Outcome, Severity, failed, passed, verdict

ENVIRONMENTS = ("production", "development")


def loads(ctx: Context) -> Outcome:
    if ctx.settings_error:
        return failed(ctx.settings_error)
    return passed("the configuration loads as `heliograph serve` would load it")


def names_environment(ctx: Context) -> Outcome:
    # Anything but "production" means development: HELIOGRAPH_ENV=prod would silently turn
    # off every production safeguard (generated secrets, plain HTTP, warnings only).
    value = ctx.env.get(ENV_PREFIX + "ENV")
    if value is None or value in ENVIRONMENTS:
        return passed(f"{ENV_PREFIX}ENV is {value or 'unset (development)'}")
    return failed(f"{ENV_PREFIX}ENV is {value!r}, which Heliograph reads as development")


def absolute_paths(ctx: Context) -> Outcome:
    relative = [name for name in path_variables(ctx.env) if not Path(ctx.env[name]).is_absolute()]
    return verdict(
        [f"{name}={ctx.env[name]} depends on the working directory" for name in relative],
        "every path is absolute",
    )


CHECKS = (
    Check(
        "HG-CFG-001",
        "the configuration loads",
        Severity.ERROR,
        "set what the message names; `heliograph serve` refuses to start until then",
        loads,
        production_only=False,
    ),
    Check(
        "HG-CFG-002",
        "HELIOGRAPH_ENV is 'production' or 'development'",
        Severity.ERROR,
        "set HELIOGRAPH_ENV=production on servers (any other value means development)",
        names_environment,
        production_only=False,
    ),
    Check(
        "HG-CFG-003",
        "paths are absolute",
        Severity.WARNING,
        "write HELIOGRAPH_DATA_DIR and every *_FILE as an absolute path",
        absolute_paths,
    ),
)
