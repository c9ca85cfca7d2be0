"""Read an env file strictly, and rebase its paths under a prepared root directory.

The format is the one systemd's ``EnvironmentFile=`` and ``docker run --env-file`` read alike:
``NAME=VALUE`` lines, blank lines and whole-line ``#`` comments. Anything they would read
differently (quotes, inline comments, trailing blanks, ``export``) is refused with the line
number, rather than checked as something the service will not see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from heliograph.core.config import ENV_PREFIX
from heliograph.core.errors import ConfigError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(ConfigError):
    """An env file line that systemd or docker would not read as a plain NAME=VALUE."""


def parse_env_file(path: Path) -> dict[str, str]:
    """Return the variables of the env file at ``path``, or raise EnvFileError naming the line."""
    try:
        text = path.read_bytes().decode("utf-8")  # not read_text: it would hide carriage returns
    except FileNotFoundError:
        raise EnvFileError(f"{path}: no such env file") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"{path}: not UTF-8 text") from None
    env: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, value = _parse_line(line, f"{path}:{number}")
        if name in env:
            raise EnvFileError(
                f"{path}:{number}: {name} is set again (first on line {first_seen[name]})"
            )
        env[name], first_seen[name] = value, number
    return env


def _parse_line(line: str, where: str) -> tuple[str, str]:
    name, equals, value = line.partition("=")
    if not equals:
        raise EnvFileError(f"{where}: expected NAME=VALUE, got {_shown(line)}")
    if name.startswith("export "):
        raise EnvFileError(f"{where}: drop 'export': the file is read as NAME=VALUE lines")
    if not NAME.fullmatch(name):
        raise EnvFileError(
            f"{where}: {_shown(name)} is not a variable name (letters, digits, _; no blanks "
            "around '=')"
        )
    if value != value.rstrip():
        raise EnvFileError(f"{where}: {name} has blanks or a carriage return after its value")
    if value[:1] in ("'", '"'):
        raise EnvFileError(
            f"{where}: {name} is quoted; systemd strips quotes but docker keeps them: "
            "write the value without quotes"
        )
    if " #" in value or "\t#" in value:
        raise EnvFileError(
            f"{where}: {name} has an inline comment, which would become part of the value: "
            "put the comment on a line of its own"
        )
    return name, value


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def path_variables(env: Mapping[str, str]) -> list[str]:
    """Return the names of the variables that hold paths: the data directory and every *_FILE."""
    return sorted(
        name
        for name in env
        if name == ENV_PREFIX + "DATA_DIR"
        or (name.startswith(ENV_PREFIX) and name.endswith("_FILE"))
    )


def rebase_paths(env: Mapping[str, str], root: Path) -> dict[str, str]:
    """Return ``env`` with every absolute path moved under ``root`` (/etc/x -> ROOT/etc/x).

    CI has no /etc/heliograph: it prepares the files under a directory and checks the shipped
    configuration against them.
    """
    rebased = dict(env)
    for name in path_variables(env):
        value = Path(env[name])
        if value.is_absolute():
            rebased[name] = str(root / value.relative_to(value.anchor))
    return rebased
