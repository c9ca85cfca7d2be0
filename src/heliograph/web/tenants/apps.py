from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "heliograph.web.tenants"
    label = "tenants"
