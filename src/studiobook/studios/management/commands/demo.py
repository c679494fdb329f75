"""``studiobook demo``: migrate, load the Northside Sound demo studio with logins and a few
bookings, print where to look, and serve it."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from studiobook.studios.demo import load_demo
from studiobook.studios.importer import StudioFileError
from studiobook.studios.management.commands.serve import (
    add_server_arguments,
    run_server,
    server_options,
)

WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def _database_label() -> str:
    config = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"SQLite {config['NAME']}"
    host = config.get("HOST") or "localhost"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"{connection.vendor} {config['NAME']} on {host}{port}"


def start_worker() -> subprocess.Popen:
    """``studiobook worker`` in its own process, with this process's environment (so the
    same DATABASE_URL and data folder)."""
    return subprocess.Popen([sys.executable, "-m", "studiobook.conf.cli", "worker"])


class Command(BaseCommand):
    help = ("Migrate the database, load the demo studio (once), demo users and bookings, "
            "then serve it like `studiobook serve`.")

    def add_arguments(self, parser) -> None:
        add_server_arguments(parser)
        parser.add_argument("--no-serve", action="store_true",
                            help="load the demo data and exit")

    def handle(self, *args, **options) -> None:
        server = server_options(options)
        call_command("migrate", interactive=False, verbosity=max(options["verbosity"] - 1, 0))
        try:
            summary = load_demo()
        except StudioFileError as error:  # only if the shipped file is broken
            raise CommandError(str(error)) from error

        write = self.stdout.write
        studio = summary.studio
        write(f"Database: {_database_label()}")
        if summary.studio_created:
            write(f"Loaded the demo studio '{studio.slug}' ({studio.name}, {studio.time_zone}).")
        else:
            write(f"The demo studio '{studio.slug}' ({studio.name}) is already loaded.")
        if summary.bookings:
            write(f"Created {len(summary.bookings)} demo bookings:")
            for booking in sorted(summary.bookings, key=lambda b: b.start_at):
                write(f"  {booking.code}  {booking.service.name:<18} "
                      f"{_local(booking.start_at, studio.time_zone)}  "
                      f"{booking.duration_minutes} min")
        for problem in summary.problems:
            self.stderr.write(f"Skipped demo booking {problem}")

        host = "127.0.0.1" if server["host"] in WILDCARD_HOSTS else server["host"]
        base = f"http://{host if ':' not in host else f'[{host}]'}:{server['port']}"
        write("")
        write(f"Book:          {base}/studios/{studio.slug}/ (sign in as the artist)")
        write(f"Dashboard:     {base}/dashboard/{studio.slug}/ (sign in as the admin)")
        write(f"API docs:      {base}/api/docs")
        write(f"OpenAPI:       {base}/api/openapi.json")
        write(f"Django admin:  {base}/admin/ (sign in as the platform operator)")
        if server["stream_port"] is not None:
            write(f"Live stream:   {base}/api/studios/{studio.slug}/availability/stream "
                  "(Server-Sent Events, docs/live-availability.md)")
        write("")
        write("Demo logins (email / password):")
        for login in summary.logins:
            write(f"  {login.email:<30} {login.password:<20} {login.role}")
        write("")
        if options["no_serve"]:
            return
        sys.stdout.flush()
        worker = start_worker()
        self.stdout.write(f"Background worker: pid {worker.pid} (emails, calendar sync, "
                          "balance charges, hold sweeps)")
        try:
            run_server(**server)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _local(instant: datetime, zone_name: str) -> str:
    return instant.astimezone(ZoneInfo(zone_name)).strftime("%a %Y-%m-%d %H:%M %Z")
