from django.apps import AppConfig


class MailServerConfig(AppConfig):
    name = "heliograph.web.mailserver"
    label = "mailserver"
