"""``heliograph mail``: show, set or delete the SMTP server stored in the metadata database.

This module is imported by the command line before Django is set up: it touches models only
inside :func:`run`.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from heliograph.core.config import Settings
from heliograph.core.errors import InputError

TLS_MODES = ("starttls", "ssl", "none")
IN_FORCE = {
    "environment": "the environment (HELIOGRAPH_SMTP_HOST is set: it wins over the stored row)",
    "database": "the stored row",
    "off": "nothing: e-mail is off",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``heliograph mail show|set|delete``."""
    mail = commands.add_parser(
        "mail",
        help="the SMTP server stored in the database (HELIOGRAPH_SMTP_* win when set)",
    )
    actions = mail.add_subparsers(dest="action", required=True)
    actions.add_parser("show", help="print the SMTP settings in force and where they come from")
    setting = actions.add_parser("set", help="store the SMTP server (the password is encrypted)")
    setting.add_argument("--host", required=True)
    setting.add_argument("--port", type=int, help="default 587, or 465 with --tls ssl")
    setting.add_argument("--tls", choices=TLS_MODES, default="starttls")
    setting.add_argument("--from", dest="mail_from", required=True, help="the sender address")
    setting.add_argument("--user", default="", help="SMTP user name (with a password)")
    password = setting.add_mutually_exclusive_group()
    password.add_argument(
        "--password-stdin", action="store_true", help="read a new password from standard input"
    )
    password.add_argument(
        "--password-prompt", action="store_true", help="ask for a new password on the terminal"
    )
    password.add_argument("--clear-password", action="store_true", help="forget the password")
    actions.add_parser("delete", help="forget the stored SMTP server")


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.password_prompt:
        return getpass.getpass("SMTP password: ")
    return None


def _set(args: argparse.Namespace) -> int:
    from heliograph.web.mailserver.models import TlsMode
    from heliograph.web.mailserver.services import PasswordChange, mail_server_set

    tls = TlsMode(args.tls)
    mail_server_set(
        host=args.host,
        port=args.port or (465 if tls == TlsMode.SSL else 587),
        username=args.user,
        tls=tls,
        mail_from=args.mail_from,
        password=PasswordChange(new=_password(args), clear=args.clear_password),
    )
    print("SMTP server stored; the password (if any) is encrypted in the database")
    _show()
    return 0


def _show() -> int:
    from heliograph.web.mailserver.resolve import mail_source, stored_mail_server

    row, source = stored_mail_server(), mail_source()
    if row is None:
        print("no SMTP server is stored in the database")
    else:
        set_at = row.password_set_at
        password = f"set on {set_at:%Y-%m-%d %H:%M} UTC" if set_at else "not set"
        print(
            f"stored: {row.host}:{row.port} tls={row.tls} user={row.username or '-'} "
            f"password={password} from={row.mail_from}"
        )
    print(f"in force: {IN_FORCE[source]}")
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Carry out ``heliograph mail ACTION``."""
    if args.action == "set":
        return _set(args)
    if args.action == "delete":
        from heliograph.web.mailserver.services import mail_server_delete

        if not mail_server_delete():
            raise InputError("not_found", "no SMTP server is stored")
        print("stored SMTP server deleted")
        return 0
    return _show()
