from django.apps import AppConfig


class StudiosConfig(AppConfig):
    name = "studiobook.studios"
    label = "studios"

    def ready(self) -> None:
        from studiobook.studios import database

        database.connect()
