"""Create a webhook for a tenant of a data directory and print its signing secret (shown once).

make_webhook.py DATA_DIR TENANT_ID URL
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ["HELIOGRAPH_DATA_DIR"] = sys.argv[1]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.web.settings")
    import django

    django.setup()
    from heliograph.web.audit.trail import SYSTEM
    from heliograph.web.tenants.models import Tenant
    from heliograph.web.webhooks.models import WebhookEvent
    from heliograph.web.webhooks.services import webhook_create

    tenant = Tenant.objects.get(pk=int(sys.argv[2]))
    created = webhook_create(
        tenant=tenant,
        url=sys.argv[3],
        events=list(WebhookEvent.values),
        created_by=None,
        actor=SYSTEM,
    )
    print(created.secret)


if __name__ == "__main__":
    main()
