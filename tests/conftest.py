"""Suite-wide set-up.

``uv run pytest`` runs the suite on SQLite (in-process) and then, when a PostgreSQL server is
reachable (``STUDIOBOOK_TEST_POSTGRES_URL``, else ``postgres://postgres@127.0.0.1:5432/studiobook``),
the same selection again on PostgreSQL in a child pytest with ``DATABASE_URL`` set. With
``CI=true`` an unreachable PostgreSQL is a failure, never a skip. ``--sqlite-only`` skips the
second pass on a developer's machine.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest_plugins = ["tests.support.factories", "tests.support.api_client"]

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/studiobook"
CHILD_FLAG = "STUDIOBOOK_POSTGRES_PASS"


def postgres_url() -> str:
    return os.environ.get("STUDIOBOOK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_reachable(url: str) -> bool:
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def pytest_addoption(parser):
    parser.addoption("--sqlite-only", action="store_true",
                     help="do not repeat the suite on PostgreSQL")


def running_on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_report_header(config):
    return f"database: {'PostgreSQL' if running_on_postgres() else 'SQLite'}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    # Outermost wrapper: this runs after the terminal summary, so the PostgreSQL pass's own
    # closing line is the last line printed, and its result decides the exit status.
    result = yield
    config = session.config
    if (os.environ.get(CHILD_FLAG) or os.environ.get("DATABASE_URL")
            or config.getoption("--sqlite-only") or hasattr(config, "workerinput")):
        return result
    if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        sys.stdout.write("\nThe PostgreSQL pass was not run: the SQLite pass did not succeed.\n")
        return result
    url = postgres_url()
    if not postgres_reachable(url):
        message = f"PostgreSQL is not reachable at {url}"
        if os.environ.get("CI"):
            sys.stdout.write(f"\nERROR: {message}; CI requires the PostgreSQL pass.\n")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            sys.stdout.write(f"\nSKIPPED the PostgreSQL pass: {message}.\n")
        return result
    sys.stdout.write("\n" + "=" * 30 + " PostgreSQL pass " + "=" * 30 + "\n")
    sys.stdout.flush()
    env = {**os.environ, "DATABASE_URL": url, CHILD_FLAG: "1",
           "STUDIOBOOK_TEST_DATABASE_NAME": f"test_studiobook_{os.getpid()}"}
    child = subprocess.run([sys.executable, "-m", "pytest", *config.invocation_params.args],
                           env=env, cwd=config.invocation_params.dir)
    if child.returncode not in (0, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = child.returncode
    return result


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 at Django's cost dominates tests that create users; its strength is not what
    these tests check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache, so that rate-limit counters never leak from one
    test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
