"""Real servers for the calendar tests, on 127.0.0.1 and a free port, stopped (and their
threads joined) when the ``with`` block ends, even when the test fails.

- ``radicale_server(tmp_path, users)``: Radicale's WSGI application in-process with
  htpasswd authentication (plain passwords, one per test user) and ``owner_only`` rights,
  storage under ``tmp_path``. Radicale 3.5+ denies everyone by default, so the test config
  names its authentication explicitly; its delay after a failed login (clients first ask
  without credentials) is switched off.
- ``ics_server()``: serves ``routes[path] = Route(body, status, delay, headers=...)`` to
  GET and to the WebDAV methods (a key ending in ``*`` matches every path it prefixes); a
  delay holds the response back (to test timeouts) until the delay passes or the server
  stops.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

# A busy calendar with one event: Tue 2026-11-24 15:00-17:00 UTC (10:00-12:00 in Toronto).
BUSY_TUESDAY = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//busy//EN\r
BEGIN:VEVENT\r
UID:dentist@example.test\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261124T150000Z\r
DTEND:20261124T170000Z\r
SUMMARY:Dentist\r
END:VEVENT\r
END:VCALENDAR\r
"""


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request, client_address):
        pass  # a client that hung up early is not the test's concern


@dataclass
class Radicale:
    url: str
    users: dict[str, str]

    def client(self, username: str):
        import caldav

        return caldav.DAVClient(url=self.url, username=username,
                                password=self.users[username], timeout=10)


@contextlib.contextmanager
def radicale_server(tmp_path: Path, users: dict[str, str]) -> Iterator[Radicale]:
    import radicale
    from radicale import config

    htpasswd = tmp_path / "radicale-users"
    htpasswd.write_text("".join(f"{name}:{password}\n" for name, password in users.items()))
    configuration = config.load()
    configuration.update({
        "auth": {"type": "htpasswd", "htpasswd_filename": str(htpasswd),
                 "htpasswd_encryption": "plain", "delay": "0"},
        "rights": {"type": "owner_only"},
        "storage": {"filesystem_folder": str(tmp_path / "radicale-collections")},
    }, "studiobook tests", privileged=True)
    application = radicale.Application(configuration)
    server = make_server("127.0.0.1", 0, application, server_class=_ThreadingWSGIServer,
                         handler_class=_QuietWSGIHandler)
    thread = threading.Thread(target=server.serve_forever, name="radicale",
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Radicale(url=f"http://127.0.0.1:{server.server_address[1]}/", users=users)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    content_type: str = "text/calendar; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Location": ...}


@dataclass
class IcsServer:
    base: str
    routes: dict[str, Route]
    hits: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path


@contextlib.contextmanager
def ics_server() -> Iterator[IcsServer]:
    routes: dict[str, Route] = {}
    hits: dict[str, int] = {}
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002
            pass

        def do_GET(self):  # noqa: N802 - the base class's name
            path = self.path.split("?", 1)[0]
            hits[path] = hits.get(path, 0) + 1
            route = routes.get(path) or next(
                (r for key, r in sorted(routes.items(), key=lambda kv: -len(kv[0]))
                 if key.endswith("*") and path.startswith(key[:-1])),
                Route(b"not found", status=404, content_type="text/plain"))
            if route.delay:
                stopping.wait(route.delay)
            try:
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except OSError:
                pass  # the client gave up (a timeout test)

        def _any_method(self):
            # WebDAV methods (PROPFIND, REPORT, PUT, DELETE) answer from the same routes,
            # after reading the request body, so redirects of CalDAV requests can be tested.
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.do_GET()

        do_PUT = do_PROPFIND = do_REPORT = do_DELETE = do_OPTIONS = _any_method  # noqa: N815

    class Server(ThreadingHTTPServer):
        daemon_threads = False
        block_on_close = True

        def handle_error(self, request, client_address):
            pass

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="ics",
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield IcsServer(base=f"http://127.0.0.1:{server.server_address[1]}", routes=routes,
                        hits=hits)
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
        time.sleep(0)  # let joined handler threads finish their bookkeeping
