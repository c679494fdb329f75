"""The ``studiobook`` console script.

``studiobook COMMAND [options]`` sets up Django with ``studiobook.conf.settings`` (always:
everything that varies comes from the environment, see that module) and runs the management
command COMMAND. Studiobook's own commands are ``serve``, ``demo``, ``import`` and
``sweep-holds`` (management commands in ``studiobook.studios.management.commands``); every
other command (``migrate``, ``check``, ``createsuperuser``, ``shell``...) is Django's, as
with ``manage.py``.

Every command needs ``SECRET_KEY``, ``STUDIOBOOK_FIELD_ENCRYPTION_KEYS`` and
``ALLOWED_HOSTS`` in the environment and stops at once, saying which is missing, without
them (docs/security.md). ``demo`` is the exception: it runs as the demo
(``STUDIOBOOK_DEMO=1``), which makes its own secrets once, keeps them in the data folder and
reuses them on the next run, and answers on the loopback names only.
"""

from __future__ import annotations

import os
import sys

SETTINGS_MODULE = "studiobook.conf.settings"

# CLI name -> management command name, where they differ.
ALIASES = {"import": "import_studio", "sweep-holds": "sweep_holds",
           "rotate-encryption-keys": "rotate_encryption_keys"}

USAGE = """\
usage: studiobook COMMAND [options]

Studiobook: bookings for recording studios.

Commands:
  serve         run the production web server (gunicorn)
                  [--host 127.0.0.1] [--port 8000] [--workers N] [--threads 4] [--access-log]
                  [--stream-port PORT+1] [--no-stream]
  migrate       create or update the database tables
  demo          migrate, load the demo studio, users and bookings, then serve
                  [--host] [--port] [--workers N] [--no-serve]
  import FILE   import a studio from a TOML file (docs/studio-file.md)
                  [--replace] [--check]
  sweep-holds   mark expired holds as expired and print how many
  worker        run background tasks (emails, calendar sync, balance charges) and
                  scheduled jobs (hold sweeps, reminders, feed refreshes)
  rotate-encryption-keys
                re-encrypt stored phone numbers and calendar secrets with the first
                  key of STUDIOBOOK_FIELD_ENCRYPTION_KEYS [--check] (docs/security.md)
  help          list every command, Django's included (check, createsuperuser, shell, ...)

`studiobook COMMAND --help` shows a command's options; any other COMMAND runs the Django
management command of that name.

Environment: DATABASE_URL (default SQLite in $STUDIOBOOK_DATA_DIR, default ./data),
SECRET_KEY, STUDIOBOOK_FIELD_ENCRYPTION_KEYS and ALLOWED_HOSTS (required, except for
`demo`, which makes and keeps its own in the data folder; docs/security.md), DEBUG,
LOG_LEVEL.
"""

# Commands that run as the demo: secrets of their own in the data folder, loopback hosts.
DEMO_COMMANDS = {"demo"}


def main(argv: list[str] | None = None) -> int:
    """Run ``studiobook`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status
    (Django's commands exit through SystemExit on errors)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    if args[0] in DEMO_COMMANDS:
        # Inherited by the worker the demo starts, so it reads the same kept secrets.
        os.environ["STUDIOBOOK_DEMO"] = "1"

    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        django.setup()
    except ImproperlyConfigured as error:
        # A missing secret or host list: say what to set, without a traceback.
        sys.stderr.write(f"studiobook: {error}\n")
        return 2
    command = ALIASES.get(args[0], args[0])
    execute_from_command_line(["studiobook", command, *args[1:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
