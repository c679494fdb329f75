from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "studiobook.notify"
    label = "notify"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from studiobook import jobs
        from studiobook.notify import handlers
        from studiobook.notify.services import send_due_reminders

        handlers.register()
        jobs.register_periodic("notify.send_due_reminders", 300, send_due_reminders)

        from django.conf import settings

        from studiobook.notify.tasks import recover_notifications

        jobs.register_periodic("notify.recover", settings.STUDIOBOOK_RECOVERY_SWEEP_SECONDS,
                               recover_notifications)
