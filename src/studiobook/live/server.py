"""Run the stream server (``stream.StreamApp``) under uvicorn, on its own port.

- ``run_stream_server(host, port)``: serve in this process until SIGTERM/SIGINT (what
  ``python -m studiobook.live.server`` does).
- ``start_stream_process(host, port)`` / ``stop_stream_process(process)``: the same in a child
  process; ``start`` returns once it answers ``/healthz``.
- ``stream_server_alongside(host, port)``: a context manager for ``studiobook serve``: starts
  the child, tells this process's WSGI redirect where it is (``STUDIOBOOK_STREAM_PORT``, which
  gunicorn's workers inherit), and stops it on the way out. The child also exits by itself
  when its parent dies, so the two stop together however ``serve`` ends.

One stream process holds thousands of idle streams (an open stream is a few KiB and no
thread); ``--workers N`` runs N of them on one port (uvicorn's supervisor), each with its own
outbox tail.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.error import URLError
from urllib.request import urlopen

from django.core.management.base import CommandError

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
SHUTDOWN_GRACE_SECONDS = 3


def _raise_open_file_limit() -> None:
    """Each stream is a socket: lift the soft limit on open files to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def _watch_parent(parent_pid: int, on_orphaned) -> None:
    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                on_orphaned()
                return

    threading.Thread(target=watch, name="live-parent-watch", daemon=True).start()


def run_stream_server(host: str = DEFAULT_HOST, port: int = 8001, *, workers: int = 1,
                      log_level: str = "warning", access_log: bool = False,
                      parent_pid: int | None = None) -> None:
    """Serve the stream on ``host:port`` until SIGTERM/SIGINT (or, with ``parent_pid``, until
    that process is gone). On a signal, open streams are ended at once (clients reconnect
    after ``retry``) rather than waited for."""
    import uvicorn

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiobook.conf.settings")
    _raise_open_file_limit()
    if workers > 1:
        # uvicorn's own supervisor; each worker imports the app and runs its own hub.
        uvicorn.run("studiobook.live.asgi:application", host=host, port=port, workers=workers,
                    lifespan="on", log_level=log_level, access_log=access_log,
                    timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS, backlog=4096)
        return

    from studiobook.live.asgi import application

    class StreamServer(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            application.hub.close_streams_threadsafe()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(application, host=host, port=port, lifespan="on",
                            log_level=log_level, access_log=access_log,
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS, backlog=4096,
                            server_header=False)
    server = StreamServer(config)
    if parent_pid:
        def orphaned() -> None:
            application.hub.close_streams_threadsafe()
            server.should_exit = True

        _watch_parent(parent_pid, orphaned)
    server.run()


class StreamServerError(CommandError):
    """The stream server could not start (a CommandError: ``serve`` exits with the message)."""


def free_port(host: str = DEFAULT_HOST) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as error:
            raise StreamServerError(
                f"the live-availability stream server cannot listen on {host}:{port} "
                f"({error.strerror}); choose another port with --stream-port, or --no-stream"
            ) from error


def _local_address(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def start_stream_process(host: str = DEFAULT_HOST, port: int = 8001, *,
                         env: dict[str, str] | None = None, cwd=None, workers: int = 1,
                         log_level: str = "warning", startup_timeout: float = 60.0,
                         stdout=None, stderr=None) -> subprocess.Popen:
    """Start ``python -m studiobook.live.server`` on ``host:port`` (``port`` 0: a free one;
    the chosen port is ``process.stream_port``) and wait until it answers ``/healthz``.
    Its environment is ``env``, by default this process's (settings, DATABASE_URL...)."""
    if port == 0:
        port = free_port(host if host not in ("", "0.0.0.0", "::") else DEFAULT_HOST)
    else:
        _check_port_free(host, port)
    command = [sys.executable, "-m", "studiobook.live.server", "--host", host,
               "--port", str(port), "--workers", str(workers), "--log-level", log_level,
               "--parent-pid", str(os.getpid())]
    process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=stdout, stderr=stderr)
    process.stream_port = port  # type: ignore[attr-defined]
    health = f"http://{_local_address(host)}:{port}/healthz"
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise StreamServerError(f"the live-availability stream server exited with "
                                    f"{process.returncode} (its error is above)")
        try:
            with urlopen(health, timeout=2) as response:  # noqa: S310 (loopback, ours)
                if response.status == 200:
                    return process
        except (URLError, OSError):
            pass
        if time.monotonic() > deadline:
            stop_stream_process(process)
            raise StreamServerError(f"the live-availability stream server did not answer "
                                    f"{health} within {startup_timeout:.0f} s")
        time.sleep(0.1)


def stop_stream_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM (streams end at once, the server exits), then SIGKILL after ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@contextlib.contextmanager
def stream_server_alongside(host: str, port: int, **options) -> Iterator[subprocess.Popen]:
    """Run the stream server on ``host:port`` for the duration of the ``with`` block and point
    this process's (and its future children's) stream redirect at it."""
    process = start_stream_process(host, port, **options)
    previous = os.environ.get("STUDIOBOOK_STREAM_PORT")
    os.environ["STUDIOBOOK_STREAM_PORT"] = str(process.stream_port)  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if previous is None:
            os.environ.pop("STUDIOBOOK_STREAM_PORT", None)
        else:
            os.environ["STUDIOBOOK_STREAM_PORT"] = previous
        stop_stream_process(process)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studiobook.live.server",
                                     description="Serve the live-availability stream (SSE).")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process is gone (set by start_stream_process)")
    args = parser.parse_args(argv)
    run_stream_server(args.host, args.port, workers=args.workers, log_level=args.log_level,
                      access_log=args.access_log, parent_pid=args.parent_pid)


if __name__ == "__main__":
    main()
