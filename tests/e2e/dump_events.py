"""Print every stored event of one tenant as JSON lines: dump_events.py DATA_DIR TENANT_ID."""

from __future__ import annotations

import sys

import msgspec

from heliograph.core.config import load_settings
from heliograph.core.tenancy import TenantScope
from heliograph.store import api as store


def main() -> None:
    settings = load_settings({"HELIOGRAPH_DATA_DIR": sys.argv[1]})
    store.open_store(settings)
    try:
        for row in store.export_events(TenantScope(int(sys.argv[2]))):
            sys.stdout.write(msgspec.json.encode(row).decode() + "\n")
    finally:
        store.close_store()


if __name__ == "__main__":
    main()
