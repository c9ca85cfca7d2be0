from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "heliograph.web.audit"
    label = "audit"

    def ready(self) -> None:
        # Every process that loads the web app writes security events to its database.
        from heliograph.web.audit.log import install

        install()
