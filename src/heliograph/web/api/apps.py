from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "heliograph.web.api"
    label = "api"
