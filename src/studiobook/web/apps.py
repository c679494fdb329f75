from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "studiobook.web"
    label = "web"
