from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "studiobook.live"
    label = "live"
    verbose_name = "Live availability"

    def ready(self) -> None:
        from studiobook.bookings import events
        from studiobook.jobs import register_periodic
        from studiobook.live import publish

        events.subscribe_in_transaction("availability.changed", publish.record_change)
        register_periodic("live.prune_outbox", 300, publish.prune)
