from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "heliograph.web.accounts"
    label = "accounts"
