"""``studiobook worker``: runs queued tasks (django-tasks' database worker) and, in a thread,
enqueues periodic jobs when they fall due."""

from __future__ import annotations

import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = "Run background tasks and scheduled jobs until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0,
                            help="seconds between polls for new tasks")
        parser.add_argument("--schedule-every", type=float, default=15.0,
                            help="seconds between checks for due periodic jobs")

    def handle(self, *args, interval: float, schedule_every: float, **options):
        from studiobook.jobs.tasks import enqueue_due

        stop = threading.Event()

        def schedule():
            while True:
                try:
                    enqueue_due()
                except Exception as error:  # the scheduler keeps going; tasks are unaffected
                    self.stderr.write(f"scheduler: {error!r}")
                finally:
                    connection.close()
                if stop.wait(schedule_every):
                    return

        thread = threading.Thread(target=schedule, name="studiobook-scheduler", daemon=True)
        thread.start()
        try:
            call_command("db_worker", interval=interval)
        finally:
            stop.set()
