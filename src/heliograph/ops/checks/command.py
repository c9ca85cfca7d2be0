"""`heliograph check`: arguments, and the exit code (0 pass, 1 a check failed, 2 bad usage)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from heliograph.core.config import ENV_PREFIX
from heliograph.core.errors import ConfigError
from heliograph.ops.checks.context import build_context
from heliograph.ops.checks.envfile import parse_env_file, rebase_paths
from heliograph.ops.checks.model import Severity, Status
from heliograph.ops.checks.report import as_json, as_text
from heliograph.ops.checks.runner import run_checks

FAILED = 1
USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file",
        type=Path,
        help="check this file of NAME=VALUE lines instead of the process environment",
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="read the configuration's absolute paths under this directory (/etc/x -> ROOT/etc/x)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")


def run(args: argparse.Namespace) -> int:
    """Check the configuration ``args`` name; print the report; return the exit code."""
    try:
        env, source = _configuration(args)
        ctx = build_context(env)
        results = run_checks(ctx)
    except ConfigError as error:
        print(f"heliograph check: {error}", file=sys.stderr)
        return USAGE
    render = as_json if args.format == "json" else as_text
    print(render(results, production=ctx.production, source=source))
    failing = {Severity.ERROR, Severity.WARNING} if args.strict else {Severity.ERROR}
    failed = any(r.status is Status.FAIL and r.severity in failing for r in results)
    return FAILED if failed else 0


def _configuration(args: argparse.Namespace) -> tuple[dict[str, str], str]:
    if args.env_file is not None:
        env, source = parse_env_file(args.env_file), str(args.env_file)
    else:
        env, source = dict(os.environ), "the process environment"
    if args.data_dir:
        env[ENV_PREFIX + "DATA_DIR"] = str(Path(args.data_dir).resolve())
    if args.root is not None:
        if not args.root.is_dir():
            raise ConfigError(f"--root {args.root} is not a directory")
        env = rebase_paths(env, args.root.resolve())
        source += f" (absolute paths under {args.root})"
    return env, source
