"""Helpers for the live-availability tests and bench/bench_stream.py: the real stream server
and a small threaded SSE client (httpx streaming). Subprocesses and the web server come from
tests/support/live.py."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

from tests.support.live import REPO_ROOT, subprocess_env


@contextlib.contextmanager
def stream_server(url: str, **env: str) -> Iterator[StreamServerHandle]:
    """The real stream server (``studiobook.live.server``, uvicorn) on a free loopback port,
    on database ``url``; stopped (and waited for) on the way out."""
    from studiobook.live.server import start_stream_process, stop_stream_process

    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    try:
        process = start_stream_process("127.0.0.1", 0, env=subprocess_env(url, **env),
                                       cwd=REPO_ROOT, log_level="warning", stdout=log,
                                       stderr=subprocess.STDOUT)
        handle = StreamServerHandle(process, f"http://127.0.0.1:{process.stream_port}", log)
        try:
            yield handle
        finally:
            stop_stream_process(process)
            handle.final_log = handle.log()
    finally:
        log.close()


@dataclass
class StreamServerHandle:
    process: subprocess.Popen
    url: str
    log_file: object
    final_log: str | None = None

    def log(self) -> str:
        if self.final_log is not None:
            return self.final_log
        self.log_file.flush()
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")

    def health(self) -> dict:
        return httpx.get(self.url + "/healthz", timeout=5).json()


# --- an SSE client ----------------------------------------------------------------------------

@dataclass
class SSEEvent:
    id: str | None
    event: str
    data: str
    at: float  # time.monotonic() when its blank line arrived
    wall: float  # time.time() then

    def json(self) -> dict:
        return json.loads(self.data)


@dataclass
class SSEClient:
    """Reads one stream in a thread: ``events`` (dispatched events), ``comments``,
    ``last_id`` (as a browser's EventSource keeps it). A context manager: stops reading on the
    way out (within one read timeout; the test servers send heartbeats every second)."""

    url: str
    headers: dict = field(default_factory=dict)
    follow_redirects: bool = True
    read_timeout: float = 10.0

    def __post_init__(self) -> None:
        self.events: list[SSEEvent] = []
        self.comments: list[str] = []
        self.last_id: str | None = None
        self.status: int | None = None
        self.response_headers: httpx.Headers | None = None
        self.final_url: str | None = None
        self.error: BaseException | None = None
        self.connected = threading.Event()
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SSEClient:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.read_timeout + 5)

    def _run(self) -> None:
        try:
            timeout = httpx.Timeout(10.0, read=self.read_timeout)
            with httpx.Client(timeout=timeout, follow_redirects=self.follow_redirects) as client, \
                    client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                self.response_headers = response.headers
                self.final_url = str(response.url)
                if response.status_code != 200:
                    response.read()
                    return
                self._read(response)
        except httpx.ReadTimeout as error:
            if not self._stop.is_set():
                self.error = error
        except Exception as error:  # reported by the test that waits
            self.error = error
        finally:
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def _read(self, response: httpx.Response) -> None:
        block: dict[str, list[str]] = {}
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line == "":
                self._dispatch(block)
                block = {}
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
                if line[1:].strip() == "connected":
                    self.connected.set()
            else:
                name, _, value = line.partition(":")
                block.setdefault(name, []).append(value.removeprefix(" "))

    def _dispatch(self, block: dict[str, list[str]]) -> None:
        if "id" in block:
            self.last_id = block["id"][-1]
        if "data" not in block:
            return
        event = SSEEvent(id=self.last_id, event=(block.get("event") or ["message"])[-1],
                         data="\n".join(block["data"]), at=time.monotonic(), wall=time.time())
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_connected(self, timeout: float = 10.0) -> None:
        if not self.connected.wait(timeout):
            raise AssertionError(f"{self.url}: not connected after {timeout} s (status "
                                 f"{self.status}, error {self.error!r})")

    def wait_for(self, predicate: Callable[[SSEEvent], bool], timeout: float,
                 after: int = 0) -> SSEEvent | None:
        """The first event from index ``after`` on that satisfies ``predicate``, waiting up to
        ``timeout`` seconds; None when none came."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended.is_set():
                    return None
                self._changed.wait(remaining)

    def availability(self) -> list[dict]:
        with self._changed:
            return [e.json() for e in self.events if e.event == "availability"]
