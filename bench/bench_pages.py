"""Time to render the main pages, against the JSON search they are built on.

Run:  uv run python bench/bench_pages.py          (about 1 minute; --rounds N)

In one process (Django's test client: no HTTP server, no network), on a throw-away SQLite
database holding the demo studio (``studiobook demo``'s data: 3 rooms, 4 engineers, 5
services, its bookings) plus 60 more confirmed bookings over the next weeks made through
``bookings.services.create_booking``. Each page is requested ``--rounds`` times after two
warm-up requests; the median and p90 wall time per request and the number of SQL queries are
printed, with each page's median as a multiple of the API's availability search for the same
day (``POST /api/studios/northside/availability/search``), the cheapest page-sized answer.
Compare the ratios: the machine is shared and its absolute speed varies from run to run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))


def setup_django(data_dir: str) -> None:
    # A throw-away database: the demo's self-made secrets (kept in data_dir) are enough.
    os.environ.update(DJANGO_SETTINGS_MODULE="studiobook.conf.settings",
                      STUDIOBOOK_DATA_DIR=data_dir, DATABASE_URL="", PYTHONWARNINGS="ignore",
                      STUDIOBOOK_DEMO="1")
    os.environ.pop("DATABASE_URL")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed() -> dict:
    """The demo studio plus 60 bookings in the coming weeks; returns names the pages need."""
    from django.contrib.auth import get_user_model

    from studiobook.bookings.services import create_booking
    from studiobook.studios.demo import ADMIN_EMAIL, ARTIST_EMAIL, load_demo
    from studiobook.studios.errors import DomainError
    from studiobook.studios.models import Room, Service

    now = datetime.now(UTC)
    summary = load_demo(now=now)
    studio = summary.studio
    admin = get_user_model().objects.get(email=ADMIN_EMAIL)
    zone = ZoneInfo(studio.time_zone)
    mixing = Service.objects.get(studio=studio, name="Mixing session")
    room = Room.objects.get(studio=studio, name="Studio B")
    made = 0
    day = now.astimezone(zone).date() + timedelta(days=2)
    while made < 60:
        for hour in (18, 20):
            start = datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)
            try:
                create_booking(actor=admin, studio=studio, service=mixing, start_at=start,
                               duration_minutes=120, room_id=room.id, source="admin")
                made += 1
            except DomainError:
                pass
        day += timedelta(days=1)
    target_day = now.astimezone(zone).date() + timedelta(days=3)
    while target_day.isoweekday() > 5:
        target_day += timedelta(days=1)
    recording = Service.objects.get(studio=studio, name="Recording session")
    return {"slug": studio.slug, "day": target_day, "service": recording.id,
            "admin": admin, "artist": get_user_model().objects.get(email=ARTIST_EMAIL)}


def measure(client, method: str, path: str, rounds: int, **kwargs) -> tuple[list[float], int]:
    from django.db import connection

    call = getattr(client, method)
    for _ in range(2):
        response = call(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code)
    # Counted with a wrapper: Django empties connection.queries at every request start.
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        call(path, **kwargs)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call(path, **kwargs)
        times.append(time.perf_counter() - started)
    return times, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        setup_django(data_dir)
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()
        world = seed()
        slug, day = world["slug"], world["day"].isoformat()
        search = {"service_id": world["service"], "duration_min": 120, "date": day}
        strip = (f"/studios/{slug}/availability?date={day}&service={world['service']}"
                 f"&duration=120")
        artist, admin = Client(), Client()
        artist.force_login(world["artist"])
        admin.force_login(world["admin"])
        rows = [
            ("API search, one day", artist, "post", f"/api/studios/{slug}/availability/search",
             {"data": search, "content_type": "application/json"}),
            ("studio home", artist, "get", f"/studios/{slug}/", {}),
            ("availability page", artist, "get", strip, {}),
            ("tape strip (htmx)", artist, "get", strip, {"headers": {"HX-Request": "true"}}),
            ("my bookings", artist, "get", "/me/bookings", {}),
            ("calendar board, day", admin, "get", f"/dashboard/{slug}/?date={day}", {}),
            ("calendar board, week", admin, "get",
             f"/dashboard/{slug}/?view=week&date={day}", {}),
            ("approval queue", admin, "get", f"/dashboard/{slug}/approvals", {}),
            ("reports, this month", admin, "get", f"/dashboard/{slug}/reports", {}),
        ]
        print(f"cores: {os.cpu_count()}, rounds: {args.rounds}, day: {day}")
        print(f"{'page':28} {'median ms':>10} {'p90 ms':>8} {'queries':>8} {'x search':>9}")
        base = None
        for name, client, method, path, kwargs in rows:
            times, queries = measure(client, method, path, args.rounds, **kwargs)
            median = statistics.median(times) * 1000
            p90 = statistics.quantiles(times, n=10)[-1] * 1000
            base = base or median
            print(f"{name:28} {median:10.1f} {p90:8.1f} {queries:8d} {median / base:9.1f}")


if __name__ == "__main__":
    main()
