"""The demo loader and the ``studiobook`` console script (run as a real subprocess)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core.management import call_command

from studiobook.accounts.models import User
from studiobook.bookings.models import Booking
from studiobook.bookings.services import place_hold
from studiobook.studios.demo import load_demo, next_offset_change
from studiobook.studios.models import AuditLog, Membership, Service, Studio

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 in Toronto
TORONTO = ZoneInfo("America/Toronto")
STUDIOBOOK = Path(sys.executable).parent / "studiobook"
LOGINS = [
    ("admin@studiobook.test", "studiobook-admin"),
    ("artist@studiobook.test", "studiobook-artist"),
    ("maya.chen@studiobook.test", "studiobook-staff"),
    ("theo.okafor@studiobook.test", "studiobook-staff"),
    ("priya.nair@studiobook.test", "studiobook-staff"),
    ("sam.leblanc@studiobook.test", "studiobook-staff"),
    ("operator@studiobook.test", "studiobook-operator"),
]


def booking_rows() -> list[tuple]:
    return [
        (b.service.name, b.start_at, b.room.name if b.room else None,
         [s.user.email for s in b.staff.all()], b.status, b.source)
        for b in Booking.objects.order_by("start_at")
    ]


def test_next_offset_change_reads_the_zone_rules():
    assert next_offset_change(TORONTO, NOW) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)
    spring = datetime(2027, 3, 14, 7, 0, tzinfo=UTC)
    assert next_offset_change(TORONTO, spring) == datetime(2027, 11, 7, 6, 0, tzinfo=UTC)
    assert next_offset_change(ZoneInfo("UTC"), NOW) is None


def test_load_demo_creates_studio_users_and_bookings_once(db):
    first = load_demo(now=NOW)

    assert (first.studio.slug, first.studio_created, first.problems) == ("northside", True, [])
    assert first.users_created == [email for email, _ in LOGINS]
    assert [(login.email, login.password) for login in first.logins] == LOGINS
    for email, password in LOGINS:
        assert User.objects.get(email=email).check_password(password), email
    # Verified with allauth, so the demo logins can sign in on the web pages at once.
    assert sorted(EmailAddress.objects.filter(verified=True, primary=True)
                  .values_list("email", flat=True)) == sorted(email for email, _ in LOGINS)
    admin = User.objects.get(email="admin@studiobook.test")
    # The studio admin is not a platform operator; the operator is a login of its own,
    # with no studio role.
    assert (admin.is_staff, admin.is_superuser) == (False, False)
    assert Membership.objects.get(user=admin).role == "admin"
    operator = User.objects.get(email="operator@studiobook.test")
    assert (operator.is_staff, operator.is_superuser) == (True, True)
    assert not Membership.objects.filter(user=operator).exists()
    assert list(User.objects.filter(is_superuser=True)) == [operator]
    assert User.objects.get(email="artist@studiobook.test").phone == "+14165550100"
    assert first.next_dst_change == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)
    assert booking_rows() == [
        ("Recording session", datetime(2026, 11, 25, 15, 0, tzinfo=UTC), "Studio A",
         ["maya.chen@studiobook.test"], "confirmed", "admin"),
        ("Mixing session", datetime(2026, 11, 26, 23, 0, tzinfo=UTC), "Studio B",
         ["theo.okafor@studiobook.test"], "confirmed", "admin"),
        ("Vocal session", datetime(2026, 11, 28, 18, 0, tzinfo=UTC), "Vocal Booth",
         ["priya.nair@studiobook.test"], "confirmed", "admin"),
        ("Remote mastering", datetime(2026, 12, 2, 18, 0, tzinfo=UTC), None,
         ["sam.leblanc@studiobook.test"], "confirmed", "admin"),
        ("Recording session", datetime(2026, 12, 2, 18, 30, tzinfo=UTC), "Studio A",
         ["maya.chen@studiobook.test"], "confirmed", "admin"),
        # 14:00 EDT on the Monday after the clocks went forward on 2027-03-14.
        ("Recording session", datetime(2027, 3, 15, 18, 0, tzinfo=UTC), "Studio A",
         ["maya.chen@studiobook.test"], "confirmed", "admin"),
    ]
    assert first.dst_booking.start_at > first.next_dst_change
    assert first.dst_booking.start_at.astimezone(TORONTO).utcoffset() == timedelta(hours=-4)
    counts = {model.__name__: model.objects.count()
              for model in (Studio, User, Membership, Service, Booking, AuditLog)}

    second = load_demo(now=NOW + timedelta(days=1))

    assert (second.studio_created, second.users_created, second.bookings, second.problems) == (
        False, [], [], [])
    assert second.studio.pk == first.studio.pk
    assert {model.__name__: model.objects.count()
            for model in (Studio, User, Membership, Service, Booking, AuditLog)} == counts


def test_load_demo_takes_platform_powers_from_an_older_demo_admin(db):
    load_demo(now=NOW)
    User.objects.filter(email="admin@studiobook.test").update(is_staff=True, is_superuser=True)

    load_demo(now=NOW)

    assert list(User.objects.filter(is_superuser=True).values_list("email", flat=True)) == [
        "operator@studiobook.test"]
    assert list(User.objects.filter(is_staff=True).values_list("email", flat=True)) == [
        "operator@studiobook.test"]


def test_load_demo_reaches_the_next_dst_change_all_year(db):
    # In April the next change (2027-11-07) is 220 days away: inside the demo's 365-day horizon.
    summary = load_demo(now=datetime(2027, 4, 1, 14, 0, tzinfo=UTC))

    assert summary.next_dst_change == datetime(2027, 11, 7, 6, 0, tzinfo=UTC)
    assert summary.dst_booking is not None
    assert summary.next_dst_change < summary.dst_booking.start_at < (
        summary.next_dst_change + timedelta(days=8))
    assert (len(summary.bookings), summary.problems) == (6, [])


def test_sweep_holds_command_prints_the_count(db):
    load_demo(now=NOW)
    studio = Studio.objects.get()
    artist = User.objects.get(email="artist@studiobook.test")
    place_hold(actor=artist, studio=studio, service=Service.objects.get(name="Vocal session"),
               start_at=datetime(2026, 11, 29, 17, 0, tzinfo=UTC), duration_minutes=60,
               now=NOW)
    out = io.StringIO()

    with time_machine.travel(NOW + timedelta(minutes=11), tick=False):
        call_command("sweep_holds", stdout=out)
        call_command("sweep_holds", stdout=out)

    assert out.getvalue() == "1 expired hold swept\n0 expired holds swept\n"


# --- the console script -------------------------------------------------------------------------

def running_on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.fixture
def cli_env(tmp_path):
    """Environment for a ``studiobook`` subprocess with its own empty database: SQLite in
    ``tmp_path``, or during the PostgreSQL pass a throwaway PostgreSQL database (never the
    database that DATABASE_URL names)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env["STUDIOBOOK_DATA_DIR"] = str(tmp_path / "data")
    if not running_on_postgres():
        yield env
        return
    import psycopg

    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"studiobook_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server + "/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = f"{server}/{name}"
    try:
        yield env
    finally:
        with psycopg.connect(server + "/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SECRETS = ("SECRET_KEY", "STUDIOBOOK_FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS")


def without_secrets(env: dict) -> dict:
    """``env`` as an operator who set none of the required secrets would have it."""
    return {key: value for key, value in env.items() if key not in (*SECRETS, "DEBUG")}


def studiobook(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(STUDIOBOOK), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_help_lists_the_commands(tmp_path):
    result = studiobook("--help", env=dict(os.environ), cwd=tmp_path)

    assert result.returncode == 0
    commands = [line.split()[0] for line in result.stdout.splitlines()
                if line.startswith("  ") and not line.startswith("   ")]
    assert commands == ["serve", "migrate", "demo", "import", "sweep-holds", "worker",
                        "rotate-encryption-keys", "help"]


def test_demo_no_serve_loads_once_and_prints_the_logins(cli_env, tmp_path):
    # The demo needs no secrets from the operator: it makes them and keeps them.
    cli_env = without_secrets(cli_env)
    data = Path(cli_env["STUDIOBOOK_DATA_DIR"])
    first = studiobook("demo", "--no-serve", "--port", "8123", env=cli_env, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "Loaded the demo studio 'northside' (Northside Sound, America/Toronto)." in lines
    assert "API docs:      http://127.0.0.1:8123/api/docs" in lines
    assert "Dashboard:     http://127.0.0.1:8123/dashboard/northside/ (sign in as the admin)" \
        in lines
    assert "OpenAPI:       http://127.0.0.1:8123/api/openapi.json" in lines
    assert "Django admin:  http://127.0.0.1:8123/admin/ (sign in as the platform operator)" \
        in lines
    for email, password in LOGINS:
        assert any(line.split()[:2] == [email, password] for line in lines), email

    # Its secrets are made once, readable by the owner only, and kept in the data folder.
    kept = {name: (data / name).read_text() for name in ("secret_key", "field_encryption_key")}
    assert {name: (data / name).stat().st_mode & 0o777 for name in kept} == {
        "secret_key": 0o600, "field_encryption_key": 0o600}
    assert len(kept["secret_key"].strip()) >= 50

    second = studiobook("demo", "--no-serve", env=cli_env, cwd=tmp_path)

    assert second.returncode == 0, second.stderr
    assert "The demo studio 'northside' (Northside Sound) is already loaded." in (
        second.stdout.splitlines())
    assert "Created" not in second.stdout
    # The second run reused them (the encrypted rows of the first run still read).
    assert {name: (data / name).read_text() for name in kept} == kept


@pytest.mark.parametrize("missing", SECRETS)
@pytest.mark.parametrize("command", [("serve", "--port", "0", "--no-stream"), ("worker",),
                                     ("migrate",), ("createsuperuser", "--noinput")])
def test_commands_refuse_to_start_without_a_secret(cli_env, tmp_path, missing, command):
    env = {key: value for key, value in cli_env.items() if key not in (missing, "DEBUG")}

    result = studiobook(*command, env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"studiobook: {missing} is not set: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    # Nothing was created: not even the data folder's database.
    assert not (Path(cli_env["STUDIOBOOK_DATA_DIR"]) / "studiobook.sqlite3").exists()


def test_import_bad_file_exits_non_zero_with_every_problem(cli_env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[studio]\nslug = "bad"\nname = "Bad"\ntime_zone = "Mars/Olympus"\ncurrency = "cad"\n'
        '[[studio.hours]]\nweekdays = ["mon"]\nstart = "18:00"\nend = "09:00"\n',
        encoding="utf-8")

    result = studiobook("import", str(bad), env=cli_env, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr == (
        f"CommandError: {bad}: 3 problems\n"
        "  studio.time_zone: unknown IANA time zone 'Mars/Olympus'\n"
        "  studio.currency: must be 3 uppercase letters (ISO 4217), e.g. 'CAD'\n"
        "  studio.hours[0].end: must be after start (set overnight = true for a window that "
        "runs past midnight)\n")
    assert result.stdout == ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.live
def test_serve_answers_openapi(cli_env, tmp_path):
    port = free_port()
    # The stream server on a free port of its own (not --port + 1, which may be taken).
    server = subprocess.Popen(
        [str(STUDIOBOOK), "serve", "--port", str(port), "--stream-port", "0", "--workers", "1"],
        env=cli_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # About 6 s on an idle 2-core machine (imports, the migration check, gunicorn's
        # preload, the first OpenAPI build); a loaded CI machine takes several times that.
        status, deadline = None, time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/openapi.json"
                with urllib.request.urlopen(url, timeout=10) as response:
                    status = response.status
                    break
            except urllib.error.HTTPError as error:
                status = error.code
                break
            except OSError:
                time.sleep(0.1)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert status == 200, output
    assert server.returncode == 0, output
    assert "Using worker: gthread" in output
