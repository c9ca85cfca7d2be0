"""The ``heliograph`` command line."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from heliograph.collector.schema import SpoolCodec
from heliograph.collector.sites import SiteInfo
from heliograph.core.config import Settings, load_settings
from heliograph.core.errors import ConfigError, HeliographError, InputError
from heliograph.ops import keys as keys_command
from heliograph.ops.checks import command as check_command
from heliograph.tls.openssl_conf import restart_with_tls_groups
from heliograph.web.mailserver import command as mail_command
from heliograph.web.ops import command as operator_command

DEMO_DOMAINS = ["shop.example", "localhost", "127.0.0.1"]
DEMO_EMAIL = "demo@example.com"
ROLES = ("owner", "admin", "analyst", "viewer")


def _django(settings: Settings) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.web.settings")
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    import django

    django.setup()


NEEDS_METADATA = (
    "tenant",
    "site",
    "user",
    "simulate",
    "security-log",
    "mail",
    "operator",
    "keys",
    "export",
)


def _migrate_metadata() -> None:
    """Bring the metadata database up to date so a first command on a new directory works."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _migrate(settings: Settings, *, quiet: bool = False) -> None:
    from django.core.management import call_command

    from heliograph.store import api as store

    call_command("migrate", interactive=False, verbosity=0 if quiet else 1)
    store.open_store(settings)
    store.close_store()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    _migrate(settings)
    print("metadata database and event store are up to date")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph.server import serve

    _migrate(settings, quiet=True)
    print(f"Heliograph on {settings.base_url}  (data in {settings.data_dir})", flush=True)
    serve(settings)
    return 0


def cmd_tenant(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph.web.tenants.models import Tenant
    from heliograph.web.tenants.services import tenant_create

    if args.action == "create":
        tenant = tenant_create(name=args.name, time_zone=args.time_zone)
        print(f"tenant {tenant.pk} created: {tenant.name}")
    elif args.action == "delete":
        from heliograph.store import api as store
        from heliograph.web.tenants.deletion import tenant_delete

        found = Tenant.objects.filter(pk=args.tenant_id).first()
        if found is None:
            raise InputError("not_found", f"no tenant {args.tenant_id}")
        store.open_store(settings)
        try:
            done = tenant_delete(found, settings=settings, confirm_name=args.confirm)
        finally:
            store.close_store()
        print(
            f"tenant {done.tenant_id} deleted: {done.data_keys_destroyed} data keys destroyed "
            f"(spool, exports, backups and secrets unreadable), events erased from "
            f"{done.store_tables_erased} store tables, {done.export_files_removed} exports removed"
        )
    else:
        for tenant in Tenant.objects.order_by("pk"):
            print(f"{tenant.pk}\t{tenant.name}\t{tenant.time_zone}")
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph import exports
    from heliograph.core.tenancy import TenantScope
    from heliograph.store import api as store

    scope = TenantScope(args.tenant)
    if args.action == "create":
        store.open_store(settings)
        try:
            info = exports.create_export(settings, scope, site_id=args.site)
        finally:
            store.close_store()
        print(f"export {info.export_id} written: {info.events:,} events, encrypted")
    elif args.action == "list":
        for info in exports.list_exports(settings, scope):
            site = "all sites" if info.site_id is None else f"site {info.site_id}"
            print(f"{info.export_id}\t{info.created.isoformat()}\t{site}\t{info.events}")
    else:
        for piece in exports.read_export(settings, scope, args.export_id):
            sys.stdout.buffer.write(piece)
    return 0


def cmd_site(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph.web.sites.models import Site
    from heliograph.web.sites.services import site_create, snippet
    from heliograph.web.tenants.models import Tenant

    if args.action == "create":
        tenant = Tenant.objects.filter(pk=args.tenant).first()
        if tenant is None:
            raise InputError("not_found", f"no tenant with id {args.tenant}")
        site = site_create(tenant=tenant, name=args.name, domains=args.domain)
        print(f"site {site.pk} created for tenant {tenant.pk}: key {site.key}")
        print("Paste this into every page, before </head>:")
        print(snippet(site, settings.base_url))
        return 0
    sites = Site.objects.order_by("pk")
    if args.tenant is not None:
        sites = sites.filter(tenant_id=args.tenant)
    for site in sites:
        domains = ",".join(site.allowed_domains)
        print(f"{site.pk}\ttenant {site.tenant_id}\t{site.name}\t{site.key}\t{domains}")
        print(f"\t{snippet(site, settings.base_url)}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != password:
        raise InputError("password_mismatch", "the two passwords differ")
    return password


def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    from django.contrib.auth.models import User

    from heliograph.web.accounts.services import membership_grant, normalise_email, user_create
    from heliograph.web.tenants.models import Role, Tenant

    tenant = Tenant.objects.filter(pk=args.tenant).first()
    if tenant is None:
        raise InputError("not_found", f"no tenant with id {args.tenant}")
    role = Role(args.role)
    if args.action == "create":
        user = user_create(
            email=args.email, password=_read_password(args), tenant=tenant, role=role
        )
        print(f"user {user.username} created: {role.value} of tenant {tenant.pk}")
        return 0
    existing = User.objects.filter(username=normalise_email(args.email)).first()
    if existing is None:
        raise InputError("not_found", f"no user with the e-mail {args.email}")
    membership_grant(user=existing, tenant=tenant, role=role)
    print(f"user {existing.username} is now {role.value} of tenant {tenant.pk}")
    return 0


def _demo_user(tenant_id: int) -> str:
    """Create the demo owner, or give it a new password; return the password."""
    from django.contrib.auth.models import User

    from heliograph.web.accounts.services import user_create, user_set_password
    from heliograph.web.tenants.models import Role, Tenant

    password = secrets.token_urlsafe(12)
    user = User.objects.filter(username=DEMO_EMAIL).first()
    if user is None:
        tenant = Tenant.objects.get(pk=tenant_id)
        user_create(email=DEMO_EMAIL, password=password, tenant=tenant, role=Role.OWNER)
    else:
        user_set_password(user=user, password=password)
    return password


def _site_by_key(key: str) -> SiteInfo:
    from heliograph.web.sites.registry import lookup_site

    site = lookup_site(key)
    if site is None:
        raise InputError("unknown_site", f"no site has the key {key!r}")
    return site


def _codec(settings: Settings) -> SpoolCodec:
    from heliograph.collector.schema import SpoolCodec
    from heliograph.core.crypto.setup import process_keyring

    return SpoolCodec(process_keyring(settings))


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph.simulate import simulate_into_spool, simulate_via_collector

    site = _site_by_key(args.site)
    if args.via == "spool":
        written = simulate_into_spool(
            site,
            _codec(settings),
            settings.spool_dir,
            args.events,
            days=args.days,
            seed=args.seed,
        )
        print(
            f"{written:,} events written to the spool; the loader of `heliograph serve` "
            "moves them into the event store"
        )
        return 0
    host = site.allowed_domains[0].removeprefix("*.")
    accepted, rejected = simulate_via_collector(
        site.key,
        host,
        args.url or settings.base_url,
        args.events,
        days=args.days,
        seed=args.seed,
        concurrency=args.concurrency,
    )
    print(f"{accepted:,} events accepted by the collector, {rejected:,} batches rejected")
    return 0 if rejected == 0 else 1


def cmd_security_log(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph.web.audit.log import accept_end, verify

    accepting = getattr(args, "action", "verify") == "accept-end"
    report = accept_end() if accepting else verify()
    if accepting and report.ok:
        print(f"the log's end is now its head: {report.head_status or 'none (empty log)'}")
    if report.ok:
        print(f"security log intact: {report.records:,} records, hash chain verified")
        if report.head_status == "none" and report.records:
            print(
                "warning: no head record yet, so records removed from the end would not be "
                "found; the next security event writes one",
                file=sys.stderr,
            )
        elif report.head_status not in ("", "none"):
            print(f"its end matches the head record outside the database: {report.head_status}")
        return 0
    if report.first_bad_seq is None:
        print(
            f"security log BROKEN at its end: {report.head_problem}\n"
            "Once the cause is known (a database restored from a backup, say), "
            "`heliograph security-log accept-end` makes the log's current end its head.",
            file=sys.stderr,
        )
        return 1
    print(
        f"security log BROKEN at record {report.first_bad_seq}: {report.reason} "
        f"({report.records:,} records checked up to it)",
        file=sys.stderr,
    )
    return 1


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph.collector.loader import Loader
    from heliograph.simulate import simulate_into_spool
    from heliograph.store import api as store
    from heliograph.web.sites.models import Site
    from heliograph.web.sites.registry import lookup_site
    from heliograph.web.sites.services import site_create, snippet
    from heliograph.web.tenants.services import tenant_create

    _migrate(settings, quiet=True)
    site_row = Site.objects.filter(name="Demo shop").first()
    if site_row is None:
        tenant = tenant_create(name="Demo Co")
        site_row = site_create(tenant=tenant, name="Demo shop", domains=DEMO_DOMAINS)
        site = lookup_site(site_row.key)
        assert site is not None  # noqa: S101  just created in this transaction
        print("Generating a synthetic week of traffic for the demo site ...")
        codec = _codec(settings)
        simulate_into_spool(site, codec, settings.spool_dir, args.events, days=7, seed=7)
        store.open_store(settings)
        result = Loader(settings.spool_dir, codec).run_once()
        store.close_store()
        print(f"loaded {result.events:,} events into the event store")
    password = _demo_user(site_row.tenant_id)
    print(f"Demo tenant 'Demo Co', site 'Demo shop' (key {site_row.key}).")
    print(f"Snippet: {snippet(site_row, settings.base_url)}")
    print(f"Open {settings.base_url}/ in a browser and sign in as {DEMO_EMAIL}")
    print(f"with the password {password}  (a new one on every start of the demo)")
    return cmd_serve(settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heliograph", description=__doc__)
    parser.add_argument(
        "--data-dir", help="data directory (default: $HELIOGRAPH_DATA_DIR or ./heliograph-data)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web app, collector and loader")
    _listen_arguments(serve)
    commands.add_parser("migrate", help="create or upgrade the metadata database and event store")

    tenant = commands.add_parser("tenant", help="create or list tenants")
    tenant_actions = tenant.add_subparsers(dest="action", required=True)
    create = tenant_actions.add_parser("create")
    create.add_argument("name")
    create.add_argument("--time-zone", default="UTC")
    tenant_actions.add_parser("list")
    delete = tenant_actions.add_parser(
        "delete", help="delete a tenant: destroy its keys, erase its events (server stopped)"
    )
    delete.add_argument("tenant_id", type=int)
    delete.add_argument("--confirm", required=True, metavar="NAME", help="the tenant's name")

    export = commands.add_parser("export", help="encrypted raw-event exports of a tenant")
    export_actions = export.add_subparsers(dest="action", required=True)
    export_create = export_actions.add_parser("create", help="export events (server stopped)")
    export_create.add_argument("--tenant", type=int, required=True)
    export_create.add_argument("--site", type=int)
    export_actions.add_parser("list", help="list a tenant's exports").add_argument(
        "--tenant", type=int, required=True
    )
    export_read = export_actions.add_parser("read", help="decrypt an export to stdout (NDJSON)")
    export_read.add_argument("--tenant", type=int, required=True)
    export_read.add_argument("export_id")

    keys_command.add_parser(commands)

    site = commands.add_parser("site", help="create or list sites (prints the snippet)")
    site_actions = site.add_subparsers(dest="action", required=True)
    create = site_actions.add_parser("create")
    create.add_argument("--tenant", type=int, required=True)
    create.add_argument("--name", required=True)
    create.add_argument(
        "--domain",
        action="append",
        required=True,
        help="allowed domain (repeat; *.example.com covers subdomains)",
    )
    listing = site_actions.add_parser("list")
    listing.add_argument("--tenant", type=int)

    user = commands.add_parser("user", help="create users and give them roles in tenants")
    user_actions = user.add_subparsers(dest="action", required=True)
    create = user_actions.add_parser("create", help="create a user (the e-mail signs in)")
    grant = user_actions.add_parser("grant", help="give an existing user a role in a tenant")
    for action in (create, grant):
        action.add_argument("--email", required=True)
        action.add_argument("--tenant", type=int, required=True)
        action.add_argument("--role", choices=ROLES, required=True)
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    simulate = commands.add_parser("simulate", help="generate realistic synthetic traffic")
    simulate.add_argument("--site", required=True, help="site key")
    simulate.add_argument("--events", type=_events, default=10_000)
    simulate.add_argument("--days", type=float, default=7.0)
    simulate.add_argument("--via", choices=("collector", "spool"), default="collector")
    simulate.add_argument("--url", help="collector base URL (default: this instance)")
    simulate.add_argument("--concurrency", type=int, default=8)
    simulate.add_argument("--seed", type=int)

    security_log = commands.add_parser("security-log", help="check the security event log")
    log_actions = security_log.add_subparsers(dest="action", required=True)
    log_actions.add_parser(
        "verify", help="recompute the hash chain and name the first record that breaks it"
    )
    log_actions.add_parser(
        "accept-end",
        help="after looking into a head problem (a restored database, a damaged head file): "
        "make the log's current end its head, recorded as a security event",
    )

    mail_command.add_parser(commands)
    operator_command.add_parser(commands)

    check = commands.add_parser("check", help="deployment checks with stable ids (HG-...)")
    check_command.add_arguments(check)

    demo = commands.add_parser("demo", help="a demo tenant, site and week of traffic, then serve")
    demo.add_argument("--events", type=_events, default=200_000)
    _listen_arguments(demo)
    return parser


def _events(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 10_000_000:
        raise argparse.ArgumentTypeError("between 1 and 10,000,000 events")
    return value


def _listen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default 8000)")


COMMANDS = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "tenant": cmd_tenant,
    "site": cmd_site,
    "user": cmd_user,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
    "security-log": cmd_security_log,
    "mail": mail_command.run,
    "operator": operator_command.run,
    "keys": keys_command.run,
    "export": cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.data_dir:
        os.environ["HELIOGRAPH_DATA_DIR"] = str(Path(args.data_dir).resolve())
    for name in ("host", "port"):
        # Only serve/demo have listen options (mail set --host names the SMTP server).
        if args.command in ("serve", "demo") and getattr(args, name, None) is not None:
            os.environ[f"HELIOGRAPH_{name.upper()}"] = str(getattr(args, name))
    if args.command == "check":  # judges a configuration: must not load (or create) one first
        return check_command.run(args)
    if args.command == "keys" and args.action == "init":  # before there is a configuration
        try:
            return keys_command.init_kek_file(args.file.resolve())
        except InputError as error:
            print(f"heliograph: {error.message}", file=sys.stderr)
            return 2
    try:
        settings = load_settings()
        if args.command in ("serve", "demo"):
            # TLS: replace this process with one whose OpenSSL limits the key-exchange groups.
            restart_with_tls_groups(settings)
        _django(settings)
        if args.command in NEEDS_METADATA:
            _migrate_metadata()
        return COMMANDS[args.command](settings, args)
    except KeyboardInterrupt:
        return 130 if args.command not in ("serve", "demo") else 0  # serve: a clean stop
    except ConfigError as error:
        print(f"heliograph: configuration error: {error}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"heliograph: {error.message}", file=sys.stderr)
        return 2
    except HeliographError as error:  # e.g. the store is held by a running server
        print(f"heliograph: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
