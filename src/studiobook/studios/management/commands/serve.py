"""``studiobook serve``: the production web server (gunicorn, not runserver)."""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_THREADS = 4
MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """gunicorn's rule of thumb, 2 x cores + 1, capped: each worker is a process holding its
    own database connection, and with ``DEFAULT_THREADS`` threads each, 8 workers already
    serve 32 requests at once."""
    return min(2 * (os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS)


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_server(*, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
               workers: int | None = None, threads: int = DEFAULT_THREADS,
               access_log: bool = False, timeout: int = 60,
               stream_port: int | None = None) -> None:
    """Serve ``studiobook.conf.wsgi.application`` with gunicorn until SIGTERM/SIGINT.

    gthread workers; SIGTERM stops gracefully (requests in flight get ``graceful_timeout``
    seconds to finish). Errors and startup lines go to stderr; the access log is off unless
    ``access_log``. With ``stream_port`` (0: a free port), the live-availability stream
    server (``studiobook.live.server``, uvicorn) runs beside gunicorn on that port and stops
    with it; the WSGI app redirects ``/api/studios/{slug}/availability/stream`` to it.
    """
    from gunicorn.app.base import BaseApplication

    options = {
        "bind": [bind_address(host, port)],
        "workers": workers or default_workers(),
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "timeout": timeout,
        "graceful_timeout": 30,
        "keepalive": 5,
        "proc_name": "studiobook",
        # Load the app once in the master: a broken import fails at start, not in a boot loop.
        "preload_app": True,
        # gunicorn >= 24 opens a control socket at one path per user (~/.gunicorn), which a
        # second server on the same machine would fight over; we do not use it.
        "control_socket_disable": True,
    }

    class StudiobookServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # settings newer than gunicorn 23 are optional
                    self.cfg.set(key, value)

        def load(self):
            from studiobook.conf.wsgi import application

            return application

    # Workers are forked from this process: no database connection may be shared with them.
    connections.close_all()
    if stream_port is None:
        StudiobookServer().run()
        return
    from studiobook.live.server import stream_server_alongside

    with stream_server_alongside(host, stream_port):
        StudiobookServer().run()


def warn_unapplied_migrations(stream) -> None:
    """Say so when the database is behind the code (as runserver does), without failing."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:  # the server reports database trouble per request
        stream.write(f"warning: cannot read the migration state: {error}\n")
        return
    finally:
        connection.close()
    if plan:
        stream.write(f"warning: {len(plan)} unapplied migration(s); run `studiobook migrate`\n")


def add_server_arguments(parser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"worker processes (default 2 x CPU cores + 1, at most "
                             f"{MAX_DEFAULT_WORKERS}; now {default_workers()})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"threads per worker (default {DEFAULT_THREADS})")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request to stderr (off by default)")
    parser.add_argument("--stream-port", type=int, default=None,
                        help="port of the live-availability stream server (default: --port + 1)")
    parser.add_argument("--no-stream", action="store_true",
                        help="do not start the stream server (e.g. it runs elsewhere)")


def server_options(options: dict) -> dict:
    if options["workers"] is not None and options["workers"] < 1:
        raise CommandError("--workers must be at least 1")
    if options["threads"] < 1:
        raise CommandError("--threads must be at least 1")
    if not 0 <= options["port"] <= 65535:
        raise CommandError("--port must be between 0 and 65535")
    stream_port = options.get("stream_port")
    if options.get("no_stream"):
        stream_port = None
    elif stream_port is None:
        stream_port = options["port"] + 1 if options["port"] else 0
    if stream_port is not None and not 0 <= stream_port <= 65535:
        raise CommandError("--stream-port must be between 0 and 65535")
    if stream_port and stream_port == options["port"]:
        raise CommandError("--stream-port must differ from --port")
    return {"host": options["host"], "port": options["port"], "workers": options["workers"],
            "threads": options["threads"], "access_log": options["access_log"],
            "stream_port": stream_port}


class Command(BaseCommand):
    help = "Run the production web server (gunicorn with gthread workers)."

    def add_arguments(self, parser) -> None:
        add_server_arguments(parser)

    def handle(self, *args, **options) -> None:
        server = server_options(options)
        warn_unapplied_migrations(sys.stderr)
        run_server(**server)
