from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "studiobook.api"
    label = "api"
