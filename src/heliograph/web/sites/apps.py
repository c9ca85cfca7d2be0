from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "heliograph.web.sites"
    label = "hg_sites"
