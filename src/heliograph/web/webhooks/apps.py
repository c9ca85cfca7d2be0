from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "heliograph.web.webhooks"
    label = "webhooks"
