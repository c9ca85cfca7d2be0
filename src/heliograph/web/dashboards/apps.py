from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "heliograph.web.dashboards"
    label = "dashboards"
