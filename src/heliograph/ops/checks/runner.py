"""Run every check on a Context; apply the severity model and explicit silencing."""

from __future__ import annotations

from heliograph.core.config import ENV_PREFIX
from heliograph.core.errors import ConfigError
from heliograph.ops.checks import configuration, credentials, files, tls, web
from heliograph.ops.checks.model import Check, Context, Outcome, Result, Severity, Status, failed

CHECKS: tuple[Check, ...] = (
    *configuration.CHECKS,
    *tls.CHECKS,
    *web.CHECKS,
    *credentials.CHECKS,
    *files.CHECKS,
)
SILENCED = ENV_PREFIX + "CHECKS_SILENCED"


def silenced_ids(ctx: Context) -> frozenset[str]:
    """Return the ids HELIOGRAPH_CHECKS_SILENCED accepts on purpose; refuse unknown ones."""
    named = {part.strip() for part in ctx.env.get(SILENCED, "").split(",") if part.strip()}
    unknown = named - {check.id for check in CHECKS}
    if unknown:
        raise ConfigError(f"{SILENCED} names unknown check ids: {', '.join(sorted(unknown))}")
    return frozenset(named)


def _run(check: Check, ctx: Context) -> Outcome:
    try:
        return check.run(ctx)
    except Exception as error:  # one check tripping over an odd file must not hide the others
        return failed(f"the check could not run: {error!r}")


def run_checks(ctx: Context) -> list[Result]:
    """Run every check in id order of its family; a failure outside production only warns."""
    silenced = silenced_ids(ctx)
    results = []
    for check in CHECKS:
        outcome = _run(check, ctx)
        severity = check.severity
        if check.production_only and not ctx.production:
            severity = Severity.WARNING
        status = outcome.status
        if status is Status.FAIL and check.id in silenced:
            status = Status.SILENCED
        results.append(Result(check, status, severity, outcome.message))
    return results
