"""The write side: one outbox row per ``availability.changed`` event (and one NOTIFY per row
on PostgreSQL), pruning, and the Redis wake-up. Each runs the booking services in a
subprocess on a fresh database with the live settings (the app may not be in the project's
INSTALLED_APPS yet; see settings.py here)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from tests.live_availability.support import SSEClient, stream_server
from tests.support.live import fresh_database_url, migrate, seed

pytestmark = pytest.mark.live

WORLD = """
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from studiobook.accounts.models import User
from studiobook.studios.models import (
    Membership, Room, ScheduleRule, Service, StaffMember, Studio)

ZONE = ZoneInfo("America/Toronto")
studio = Studio.objects.create(
    slug=SLUG, name="Outbox", time_zone="America/Toronto", currency="CAD",
    lead_time_minutes=0, horizon_days=365, max_active_holds=5, hold_minutes=10)
ScheduleRule.objects.create(studio=studio, target_type="studio", weekdays=[1, 2, 3, 4, 5, 6, 7],
                            start_time=time(0), end_time=time(23, 59))
room = Room.objects.create(studio=studio, name="Room A", tags=["tracking"])
artist = User.objects.create_user(email=f"artist@{SLUG}.test", password=None, name="Ari")
eve = User.objects.create_user(email=f"eve@{SLUG}.test", password=None, name="Eve")
Membership.objects.create(studio=studio, user=eve, role="staff")
engineer = StaffMember.objects.create(studio=studio, user=eve, display_name="Eve",
                                      skills=["recording"])
common = dict(default_duration_minutes=120, min_duration_minutes=60, max_duration_minutes=480,
              duration_step_minutes=60, price_unit="hour", base_price_minor=6000,
              requires_room=True, room_tags=["tracking"])
tracking = Service.objects.create(studio=studio, name="Tracking", **common)
recording = Service.objects.create(studio=studio, name="Recording", requires_engineer=True,
                                   staff_skill_required="recording", **common)


def at(days, hour):
    day = datetime.now(ZONE).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)
"""

ONE_ROW_PER_EVENT = WORLD + """
import json
import os

from django.db import connection

from studiobook.bookings import events, services
from studiobook.bookings.models import Booking
from studiobook.live.models import AvailabilityChange

listener = None
if connection.vendor == "postgresql":
    import psycopg

    listener = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    listener.execute("LISTEN studiobook_availability")

seen = []
events.subscribe("availability.changed", seen.append)

hold = services.place_hold(actor=artist, studio=studio, service=tracking, start_at=at(3, 10),
                           duration_minutes=120, room_id=room.id)
services.release_hold(actor=artist, hold=hold)
hold = services.place_hold(actor=artist, studio=studio, service=tracking, start_at=at(3, 13),
                           duration_minutes=120, room_id=room.id)
from_hold = services.create_booking(actor=artist, studio=studio, hold=hold)
direct = services.create_booking(actor=artist, studio=studio, service=recording,
                                 start_at=at(4, 10), duration_minutes=120, room_id=room.id,
                                 staff_ids=[engineer.id])
services.reschedule_booking(actor=artist, booking=Booking.objects.get(pk=direct.pk),
                            start_at=at(4, 15))
services.cancel_booking(actor=artist, booking=Booking.objects.get(pk=from_hold.pk),
                        reason="testing")

rows = list(AvailabilityChange.objects.filter(studio=studio).order_by("id").values(
    "id", "room_ids", "staff_ids", "start_at", "end_at"))
notified = []
if listener is not None:
    for notify in listener.notifies(timeout=2, stop_after=len(rows)):
        notified.append(int(notify.payload))
print(json.dumps({
    "events": [dict(studio=e.studio_id, room_ids=e.data["room_ids"],
                    staff_ids=e.data["staff_ids"], start=e.data["start"], end=e.data["end"])
               for e in seen],
    "rows": [dict(id=r["id"], room_ids=r["room_ids"], staff_ids=r["staff_ids"],
                  start=r["start_at"].isoformat(), end=r["end_at"].isoformat()) for r in rows],
    "studio": studio.id, "notified": notified, "postgres": listener is not None,
}))
"""

PRUNE = WORLD + """
import json
from datetime import timedelta

from django.utils import timezone

from studiobook.live.models import AvailabilityChange
from studiobook.live.publish import prune

now = timezone.now()
AvailabilityChange.objects.all().delete()
made = [AvailabilityChange.objects.create(studio=studio, room_ids=[room.id], start_at=at(1, 10),
                                          end_at=at(1, 12), created_at=now - timedelta(hours=h))
        for h in (5, 3, 2, 0.5)]
first = prune(now=now)
left = list(AvailabilityChange.objects.order_by("id").values_list("id", flat=True))
# Everything is old now: the newest row stays all the same.
AvailabilityChange.objects.update(created_at=now - timedelta(days=1))
second = prune(now=now)
kept = list(AvailabilityChange.objects.values_list("id", flat=True))
print(json.dumps(dict(made=[m.id for m in made], first=first, left=left, second=second,
                      kept=kept)))
"""

REDIS_DOWN = WORLD + """
import json
from time import monotonic

from studiobook.bookings.events import Event
from studiobook.live.models import AvailabilityChange
from studiobook.live import publish
from studiobook.live.publish import record_change

event = Event("availability.changed", studio.id, None, dict(
    room_ids=[room.id], staff_ids=[], start=at(2, 10).isoformat(), end=at(2, 12).isoformat()))
timings, backoff = [], []
for _ in range(3):
    started = monotonic()
    record_change(event)
    timings.append(monotonic() - started)
    backoff.append(publish._redis_down_until - monotonic())
print(json.dumps(dict(timings=timings, backoff=backoff,
                      rows=AvailabilityChange.objects.filter(studio=studio).count())))
"""

RECORD_ONE = """
import json
import time
from datetime import UTC, datetime, timedelta

from studiobook.bookings.events import Event
from studiobook.live.publish import record_change
from studiobook.studios.models import Room, Studio

studio = Studio.objects.get(slug=SLUG)
room = Room.objects.get(studio=studio)
start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
sent = time.time()
change_id = record_change(Event("availability.changed", studio.id, None, dict(
    room_ids=[room.id], staff_ids=[], start=start.isoformat(),
    end=(start + timedelta(hours=2)).isoformat())))
print(json.dumps(dict(sent=sent, returned=time.time(), id=change_id)))
"""


def world(slug: str) -> str:
    return f"SLUG = {slug!r}\n"


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    with fresh_database_url(tmp_path_factory.mktemp("live-outbox")) as url:
        migrate(url)
        yield url


def test_one_outbox_row_per_availability_event(database):
    result = seed(database, world("outbox-rows") + ONE_ROW_PER_EVENT)
    events, rows = result["events"], result["rows"]
    # hold, release, hold, its conversion, a direct booking, its reschedule (old time freed
    # and new time taken), a cancellation: each publishes availability.changed at least once.
    assert len(events) >= 7, events
    assert len(rows) == len(events)
    for event, row in zip(events, rows, strict=True):
        assert event["studio"] == result["studio"]
        assert (row["room_ids"], row["staff_ids"]) == (event["room_ids"], event["staff_ids"])
        assert (row["start"], row["end"]) == (event["start"], event["end"])
    ids = [row["id"] for row in rows]
    assert ids == sorted(set(ids))
    if result["postgres"]:
        assert result["notified"] == ids  # one NOTIFY per row, in order, carrying its id
    else:
        assert result["notified"] == []


def test_pruning_keeps_the_last_hour_and_always_the_newest_row(database):
    result = seed(database, world("outbox-prune") + PRUNE)
    made = result["made"]
    assert result["first"] == 3 and result["left"] == made[3:]
    assert result["second"] == 0 and result["kept"] == made[3:]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_redis_that_is_down_costs_one_short_timeout_and_loses_no_row(database):
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    result = seed(database, world("outbox-redis-down") + REDIS_DOWN,
                      env={"REDIS_URL": url})
    assert result["rows"] == 3
    # The first publish finds Redis down and backs off for 30 s, so the next two do not try
    # again (the backoff deadline does not move); no row is lost meanwhile.
    first, second, third = result["backoff"]
    assert first > 25 and first - 1 < third <= second <= first, result["backoff"]
    assert max(result["timings"]) < 5.0, result["timings"]


def _redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def test_redis_pub_sub_wakes_the_stream_server(database):
    if not _redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable at 127.0.0.1:6379")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    redis_url = "redis://127.0.0.1:6379/0"
    seed(database, world("outbox-redis") + WORLD + "print('{}')\n")
    # Only Redis can wake it within the second: no LISTEN, and the poll is 30 s.
    with stream_server(database, REDIS_URL=redis_url, STUDIOBOOK_LIVE_PG_NOTIFY="0",
                       STUDIOBOOK_LIVE_SAFETY_POLL_SECONDS="30",
                       STUDIOBOOK_LIVE_HEARTBEAT_SECONDS="1") as stream:
        deadline = time.monotonic() + 10
        while stream.health()["push_channels"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stream.health()["push_channels"] == 1
        with SSEClient(f"{stream.url}/api/studios/outbox-redis/availability/stream") as client:
            client.wait_connected()
            result = seed(database, world("outbox-redis") + RECORD_ONE,
                              env={"REDIS_URL": redis_url, "STUDIOBOOK_LIVE_PG_NOTIFY": "0"})
            event = client.wait_for(lambda e: e.event == "availability", timeout=5)
    assert event is not None and event.json()["id"] == result["id"]
    latency = event.wall - result["sent"]
    print(f"\nRedis wake-up: delivered {latency * 1000:.0f} ms after the insert began, "
          f"{(event.wall - result['returned']) * 1000:.0f} ms after it returned")
    assert latency < 1.0
