from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    """Calendars: .ics invites and feeds, CalDAV push, external busy calendars.

    ``ready()`` wires the app to the rest of Studiobook through its documented extension
    points only: booking events (``bookings.events.subscribe``), busy time for availability
    (``bookings.availability.register_busy_source``) and periodic jobs
    (``jobs.register_periodic``)."""

    name = "studiobook.calendars"
    label = "calendars"
    verbose_name = "Calendars"

    def ready(self) -> None:
        from studiobook.bookings import events
        from studiobook.bookings.availability import register_busy_source
        from studiobook.calendars import external, handlers
        from studiobook.jobs import register_periodic

        for name in handlers.EVENTS:
            events.subscribe_in_transaction(name, handlers.on_booking_event)
        register_busy_source(external.busy_source)
        register_periodic("calendars.refresh_external", external.REFRESH_EVERY_SECONDS,
                          external.refresh_due)

        from django.conf import settings

        from studiobook.calendars.caldav_sync import recover_calendar_syncs

        register_periodic("calendars.recover", settings.STUDIOBOOK_RECOVERY_SWEEP_SECONDS,
                          recover_calendar_syncs)
