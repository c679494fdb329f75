from django.apps import AppConfig


class StudiosConfig(AppConfig):
    name = "studiobook.studios"
    label = "studios"
