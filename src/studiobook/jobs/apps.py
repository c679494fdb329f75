from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "studiobook.jobs"
    label = "jobs"

    def ready(self) -> None:
        from studiobook.bookings.services import sweep_expired_holds
        from studiobook.jobs import register_periodic

        register_periodic("bookings.sweep_expired_holds", 60, sweep_expired_holds)
