"""Run the real application (gunicorn, the production WSGI stack) on a database of its own.

Used by the live tests (``tests/live``) and the benchmarks (``bench/``)::

    with fresh_database_url(tmp_path) as url:
        migrate(url)
        world = seed(url, SEED_SCRIPT)          # the script prints JSON on its last line
        with LiveServer(url, workers=4, threads=8) as server:
            httpx.get(server.url + "/api/studios")

``fresh_database_url`` follows ``DATABASE_URL`` of the calling process: on PostgreSQL it
creates a throw-away database ``sb_live_<random>`` on the same server and drops it (with
FORCE, so lingering connections cannot keep it alive) afterwards; otherwise it is a new SQLite
file under ``tmp_path``. Everything here binds to loopback only, and every subprocess is
waited for, so nothing outlives the ``with`` blocks even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "studiobook.conf.settings"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/studiobook"


# --- databases --------------------------------------------------------------------------------

def is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def postgres_reachable(url: str, timeout: int = 3) -> bool:
    """True when the server of ``url`` accepts a connection to its ``postgres`` database."""
    import psycopg

    try:
        with psycopg.connect(_with_database(url, "postgres"), connect_timeout=timeout):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str = "sb_live_") -> Iterator[str]:
    """CREATE a database ``<prefix><random>`` on the server of ``server_url``, yield its URL,
    and DROP it (terminating its connections) afterwards."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}{secrets.token_hex(6)}"
    admin_url = _with_database(server_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@contextlib.contextmanager
def fresh_database_url(tmp_path: Path | str) -> Iterator[str]:
    """A new, empty database like the one this process is configured for: PostgreSQL when
    ``DATABASE_URL`` says so (a throw-away database on that server), else a SQLite file
    ``tmp_path/live.sqlite3``."""
    env_url = os.environ.get("DATABASE_URL", "")
    if is_postgres(env_url):
        with postgres_database(env_url) as url:
            yield url
    else:
        yield f"sqlite:///{Path(tmp_path) / 'live.sqlite3'}"


# --- subprocesses -----------------------------------------------------------------------------

# The secrets of the servers and scripts the tests start. Settings refuse to start without
# them (outside the demo), so every subprocess is given them explicitly: the suite's own
# (pyproject.toml [tool.pytest_env]) when set, else these, which are for tests only.
TEST_SECRETS = {
    "SECRET_KEY": "studiobook-tests-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "STUDIOBOOK_FIELD_ENCRYPTION_KEYS": "ILvAf2S-h8R73pWrESBrb4Qi_wR3AZVnvPlvBbYyimA=",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
}


def secrets_for_subprocess() -> dict[str, str]:
    """``SECRET_KEY``, ``STUDIOBOOK_FIELD_ENCRYPTION_KEYS`` and ``ALLOWED_HOSTS`` for a
    subprocess: this process's values, else ``TEST_SECRETS``."""
    return {name: os.environ.get(name) or value for name, value in TEST_SECRETS.items()}



def subprocess_env(url: str, **extra: str) -> dict[str, str]:
    """The environment for a Django subprocess on database ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    data_dir = Path(tempfile.gettempdir()) / "studiobook-live-data"
    env.update(
        **secrets_for_subprocess(),
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        DATABASE_URL=url,
        STUDIOBOOK_DATA_DIR=env.get("STUDIOBOOK_DATA_DIR", str(data_dir)),
        PYTHONUNBUFFERED="1",
        # The pytest run turns warnings into errors; the server must not inherit that.
        PYTHONWARNINGS="ignore",
    )
    env.pop("DEBUG", None)
    # The live tests and benchmarks fire hundreds of requests from one address: the rate
    # limits (tested in tests/api/test_abuse.py and tests/accounts) would answer them 429.
    env["STUDIOBOOK_RATE_LIMITS_ENABLED"] = "0"
    env.update(extra)
    return env


def _run(args: list[str], url: str, timeout: float, what: str,
         stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=subprocess_env(url, **(env or {})), cwd=REPO_ROOT,
                            input=stdin,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n"
                           f"--- stdout\n{result.stdout[-4000:]}\n"
                           f"--- stderr\n{result.stderr[-8000:]}")
    return result


def migrate(url: str, timeout: float = 180) -> None:
    """``manage.py migrate`` on ``url``, in a subprocess (this process keeps its own DB)."""
    _run([sys.executable, "-m", "django", "migrate", "--noinput", "-v0"], url, timeout,
         "migrate")


SEED_PRELUDE = """\
import django
django.setup()
"""


def seed(url: str, script: str, timeout: float = 300, env: dict | None = None) -> dict:
    """Run the Python ``script`` (after ``django.setup()``) against ``url`` in a subprocess and
    return the JSON object it prints on its last non-empty stdout line.

    The script builds its world with the ORM; create users with ``password=None`` (no slow
    password hashing) and bearer tokens with ``ApiToken.issue(user)``. ``env`` adds
    environment variables.
    """
    result = _run([sys.executable, "-"], url, timeout, "seed script",
                  stdin=SEED_PRELUDE + script, env=env)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"the seed script printed nothing; stderr:\n{result.stderr[-4000:]}")
    return json.loads(lines[-1])


# --- the server -------------------------------------------------------------------------------

class LiveServer:
    """gunicorn (``-k gthread``) serving ``studiobook.conf.wsgi`` on 127.0.0.1, a free port.

    A context manager: entering starts it and waits until ``GET /api/studios`` answers 200
    (else raises with the server's log); leaving terminates it and waits for it. ``url`` is
    ``http://127.0.0.1:<port>``; ``log()`` is what the server wrote to stderr so far (errors
    and tracebacks: the settings log WARNING and above to the console).
    """

    def __init__(self, database_url: str, workers: int = 4, threads: int = 8, *,
                 startup_timeout: float = 90.0, preload: bool = True,
                 extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None):
        self.database_url = database_url
        self.workers = workers
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.preload = preload
        self.extra_args = tuple(extra_args)
        self.extra_env = dict(env or {})
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log_file = None
        self._final_log = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "studiobook.conf.wsgi:application",
                "-b", f"127.0.0.1:{self.port}", "-w", str(self.workers),
                "-k", "gthread", "--threads", str(self.threads),
                "--graceful-timeout", "5", "--backlog", "2048",
                *(["--preload"] if self.preload else []), *self.extra_args]

    def log(self) -> str:
        if self._log_file is None:
            return self._final_log
        self._log_file.flush()
        self._log_file.seek(0)
        return self._log_file.read().decode(errors="replace")

    def start(self) -> LiveServer:
        for attempt in range(3):
            self.port = self.free_port()
            self._log_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
            self.process = subprocess.Popen(
                self.command(), cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                stdout=self._log_file, stderr=subprocess.STDOUT,
                env=subprocess_env(self.database_url, **self.extra_env),
                start_new_session=True)
            try:
                self._wait_until_ready()
                self.warm_up()
                return self
            except _PortTaken:
                self.stop()
                if attempt == 2:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _wait_until_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log()
                if "Address already in use" in log:
                    raise _PortTaken(log)
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n"
                                   f"{log[-8000:]}")
            try:
                response = httpx.get(self.url + "/api/studios", timeout=2.0)
                if response.status_code == 200:
                    return
                last_error = RuntimeError(f"GET /api/studios -> {response.status_code}")
            except httpx.HTTPError as error:
                last_error = error
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {self.startup_timeout:.0f} s "
                           f"({last_error!r}); its log:\n{self.log()[-8000:]}")

    def warm_up(self, rounds: int = 3) -> None:
        """Send a few bursts of concurrent requests, each on a new connection, so that every
        worker has loaded the URLconf and the API (Django does that on a worker's first
        request) before the caller measures anything."""
        import httpx

        def hit(_):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url + "/api/studios", timeout=10.0)

        from concurrent.futures import ThreadPoolExecutor

        burst = max(4, 2 * self.workers)
        with ThreadPoolExecutor(burst) as pool:
            for _ in range(rounds):
                list(pool.map(hit, range(burst)))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            # SIGTERM to the arbiter: graceful shutdown of its workers; then the whole group.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        elif process is not None:
            process.wait()
        if self._log_file is not None:
            # Keep the log readable after the server is gone (tests read it afterwards).
            self._final_log = self.log()
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _PortTaken(RuntimeError):
    pass


def server_errors(log: str) -> list[str]:
    """Lines of a server log that show a failure: tracebacks, 'unhandled API error', worker
    timeouts and crashes."""
    markers = ("Traceback", "unhandled API error", "WORKER TIMEOUT", "Worker failed",
               "Internal Server Error", "Error handling request")
    return [line for line in log.splitlines() if any(m in line for m in markers)]
