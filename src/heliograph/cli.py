"""The ``heliograph`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from heliograph.collector.sites import SiteInfo
from heliograph.core.config import Settings, load_settings
from heliograph.core.errors import ConfigError, InputError

DEMO_DOMAINS = ["shop.example", "localhost", "127.0.0.1"]


def _django(settings: Settings) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.web.settings")
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    import django

    django.setup()


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
    else:
        for tenant in Tenant.objects.order_by("pk"):
            print(f"{tenant.pk}\t{tenant.name}\t{tenant.time_zone}")
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


def _site_by_key(key: str) -> SiteInfo:
    from heliograph.web.sites.registry import lookup_site

    site = lookup_site(key)
    if site is None:
        raise InputError("unknown_site", f"no site has the key {key!r}")
    return site


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from heliograph.simulate import simulate_into_spool, simulate_via_collector

    site = _site_by_key(args.site)
    if args.via == "spool":
        written = simulate_into_spool(
            site, settings.spool_dir, args.events, days=args.days, seed=args.seed
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
        simulate_into_spool(site, settings.spool_dir, args.events, days=7, seed=7)
        store.open_store(settings)
        result = Loader(settings.spool_dir).run_once()
        store.close_store()
        print(f"loaded {result.events:,} events into the event store")
    print(f"Demo tenant 'Demo Co', site 'Demo shop' (key {site_row.key}).")
    print(f"Snippet: {snippet(site_row, settings.base_url)}")
    print(f"Open {settings.base_url}/ in a browser.")
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

    simulate = commands.add_parser("simulate", help="generate realistic synthetic traffic")
    simulate.add_argument("--site", required=True, help="site key")
    simulate.add_argument("--events", type=_events, default=10_000)
    simulate.add_argument("--days", type=float, default=7.0)
    simulate.add_argument("--via", choices=("collector", "spool"), default="collector")
    simulate.add_argument("--url", help="collector base URL (default: this instance)")
    simulate.add_argument("--concurrency", type=int, default=8)
    simulate.add_argument("--seed", type=int)

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
    "simulate": cmd_simulate,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.data_dir:
        os.environ["HELIOGRAPH_DATA_DIR"] = str(Path(args.data_dir).resolve())
    for name in ("host", "port"):
        if getattr(args, name, None) is not None:
            os.environ[f"HELIOGRAPH_{name.upper()}"] = str(getattr(args, name))
    try:
        settings = load_settings()
        _django(settings)
        return COMMANDS[args.command](settings, args)
    except ConfigError as error:
        print(f"heliograph: configuration error: {error}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"heliograph: {error.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
