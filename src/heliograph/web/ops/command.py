"""``heliograph operator``: who may use the Django admin of the administrative listener.

This module is imported by the command line before Django is set up: it touches models only
inside :func:`run`.
"""

from __future__ import annotations

import argparse

from heliograph.core.config import Settings
from heliograph.core.errors import InputError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``heliograph operator grant|revoke|list``."""
    operator = commands.add_parser(
        "operator", help="grant or revoke access to the admin listener's Django admin"
    )
    actions = operator.add_subparsers(dest="action", required=True)
    for name, text in (("grant", "make a user an operator"), ("revoke", "stop it")):
        actions.add_parser(name, help=text).add_argument("--email", required=True)
    actions.add_parser("list", help="print the operators")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from django.contrib.auth.models import User

    from heliograph.web.accounts.services import normalise_email
    from heliograph.web.ops.services import operator_set

    if args.action == "list":
        for user in User.objects.filter(is_staff=True).order_by("pk"):
            print(f"{user.pk}\t{user.username}\t{'active' if user.is_active else 'inactive'}")
        return 0
    found = User.objects.filter(username=normalise_email(args.email)).first()
    if found is None:
        raise InputError("not_found", f"no user with the e-mail {args.email}")
    granted = args.action == "grant"
    operator_set(user=found, operator=granted)
    where = f"{settings.admin_host}:{settings.admin_port}"
    print(
        f"{found.username} {'is now' if granted else 'is no longer'} an operator (admin on {where})"
    )
    return 0
