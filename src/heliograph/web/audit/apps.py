from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "heliograph.web.audit"
    label = "audit"
