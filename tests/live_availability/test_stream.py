"""Live availability through the whole stack: a real gunicorn (the WSGI app, 4 workers) and the
real stream server (uvicorn) on a fresh database, bookings and holds made over HTTP, SSE
clients reading with httpx.

In the SQLite pass the stream server learns of changes by polling the outbox (250 ms); in the
PostgreSQL pass by LISTEN/NOTIFY, with its poll slowed to 30 s here so a delivery within a
second can only have come through NOTIFY. Clients connect through the main server's URL and
follow its 307, as a browser's EventSource does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.live_availability.support import (
    SSEClient,
    stream_server,
)
from tests.support.live import (
    LiveServer,
    fresh_database_url,
    is_postgres,
    migrate,
    seed,
    server_errors,
)

pytestmark = pytest.mark.live

ZONE = ZoneInfo("America/Toronto")
DELIVERY_LIMIT = 1.0  # seconds from sending the booking to the event at every subscriber

SEED_SCRIPT = """
import json
from datetime import time

from studiobook.accounts.models import ApiToken, User
from studiobook.studios.models import (
    Membership, Room, ScheduleRule, Service, StaffMember, Studio)

ALL_DAYS = [1, 2, 3, 4, 5, 6, 7]


def make_studio(slug):
    studio = Studio.objects.create(
        slug=slug, name=slug.replace("-", " ").title(), time_zone="America/Toronto",
        currency="CAD", lead_time_minutes=0, horizon_days=365, max_active_holds=5,
        hold_minutes=10, slot_grid_minutes=15,
        # One artist books many sessions here: lift the per-artist unpaid limits.
        max_unpaid_bookings=100, max_unpaid_hours=744)
    ScheduleRule.objects.create(studio=studio, target_type="studio", weekdays=ALL_DAYS,
                                start_time=time(0), end_time=time(23, 59))
    return studio


def make_service(studio, **fields):
    defaults = dict(default_duration_minutes=120, min_duration_minutes=60,
                    max_duration_minutes=480, duration_step_minutes=60, price_unit="hour",
                    base_price_minor=6000, requires_room=True, room_tags=["tracking"])
    return Service.objects.create(studio=studio, **(defaults | fields))


artist = User.objects.create_user(email="artist@example.test", password=None, name="Ari")
studio = make_studio("live-stream")
room_a = Room.objects.create(studio=studio, name="Room A", tags=["tracking"])
room_b = Room.objects.create(studio=studio, name="Room B", tags=["tracking"])
eve = User.objects.create_user(email="eve@live-stream.test", password=None, name="Eve")
Membership.objects.create(studio=studio, user=eve, role="staff")
engineer = StaffMember.objects.create(studio=studio, user=eve, display_name="Eve Engineer",
                                      skills=["recording"])
recording = make_service(studio, name="Recording", requires_engineer=True,
                         staff_skill_required="recording")
tracking = make_service(studio, name="Tracking")
other = make_studio("other-studio")
other_room = Room.objects.create(studio=other, name="Room X", tags=["tracking"])
other_service = make_service(other, name="Tracking")
print(json.dumps(dict(
    token=ApiToken.issue(artist), slug=studio.slug, room_a=room_a.id, room_b=room_b.id,
    engineer=engineer.id, recording=recording.id, tracking=tracking.id,
    other_slug=other.slug, other_room=other_room.id, other_service=other_service.id)))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One database, one stream server and one gunicorn for the module."""
    with fresh_database_url(tmp_path_factory.mktemp("live-availability")) as url:
        migrate(url)
        world = seed(url, SEED_SCRIPT)
        # On PostgreSQL only NOTIFY can deliver within the test's second: the poll is 30 s.
        poll = {"STUDIOBOOK_LIVE_SAFETY_POLL_SECONDS": "30"} if is_postgres(url) else {}
        with stream_server(url, STUDIOBOOK_LIVE_HEARTBEAT_SECONDS="1", **poll) as stream, \
                LiveServer(url, workers=4, threads=4,
                           env={"STUDIOBOOK_STREAM_URL": stream.url}) as web:
            world.update(database_url=url, postgres=is_postgres(url))
            yield web, stream, world


@pytest.fixture
def logs_are_clean(stack):
    web, stream, _ = stack
    web_before, stream_before = len(web.log()), len(stream.log())
    yield
    web_new, stream_new = web.log()[web_before:], stream.log()[stream_before:]
    assert not server_errors(web_new), f"gunicorn logged errors:\n{web_new[-8000:]}"
    assert "Traceback" not in stream_new and "ERROR" not in stream_new, \
        f"the stream server logged errors:\n{stream_new[-8000:]}"


def slot(days_ahead: int, hour: int = 12) -> str:
    """Local ``hour``:00 in Toronto ``days_ahead`` days from today, as UTC ISO."""
    day = datetime.now(ZONE).date() + timedelta(days=days_ahead)
    return datetime.combine(day, clock_time(hour), ZONE).astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def stream_path(slug: str, query: str = "") -> str:
    return f"/api/studios/{slug}/availability/stream" + (f"?{query}" if query else "")


def api(web, method: str, path: str, token: str, **kwargs) -> httpx.Response:
    return httpx.request(method, web.url + path, headers={"Authorization": f"Bearer {token}"},
                         timeout=30, **kwargs)


def book(web, world, *, start: str, room: int, engineer: bool = False,
         slug: str | None = None, service: int | None = None) -> dict:
    body = {"studio": slug or world["slug"],
            "service_id": service or (world["recording"] if engineer else world["tracking"]),
            "start_at": start, "duration_min": 120, "room_id": room}
    if engineer:
        body["staff_ids"] = [world["engineer"]]
    response = api(web, "POST", "/api/bookings", world["token"], json=body)
    assert response.status_code == 201, response.text
    return response.json()


def hold(web, world, *, start: str, room: int) -> str:
    response = api(web, "POST", f"/api/studios/{world['slug']}/holds", world["token"],
                   json={"service_id": world["tracking"], "start_at": start,
                         "duration_min": 120, "room_id": room})
    assert response.status_code == 201, response.text
    return response.json()["hold_id"]


def naming(room: int, engineer: int | None = None):
    def matches(event) -> bool:
        if event.event != "availability":
            return False
        data = event.json()
        return room in data["room_ids"] and (engineer is None or engineer in data["staff_ids"])
    return matches


def test_two_subscribers_get_a_booking_within_a_second(stack, logs_are_clean):
    web, stream, world = stack
    url = web.url + stream_path(world["slug"])
    with SSEClient(url) as first, SSEClient(url) as second:
        first.wait_connected()
        second.wait_connected()
        assert first.final_url.startswith(stream.url) and second.final_url.startswith(stream.url)

        start = slot(3)
        sent = time.monotonic()
        booking = book(web, world, start=start, room=world["room_a"], engineer=True)
        answered = time.monotonic() - sent
        events = [c.wait_for(naming(world["room_a"], world["engineer"]), timeout=5)
                  for c in (first, second)]

    assert all(events), f"missing events: {events}; errors {first.error!r} {second.error!r}"
    latencies = [event.at - sent for event in events]
    print(f"\nbooking answered in {answered * 1000:.0f} ms; event delivered after "
          f"{', '.join(f'{x * 1000:.0f} ms' for x in latencies)} (from sending the booking; "
          f"{'LISTEN/NOTIFY' if world['postgres'] else 'poll'})")
    assert max(latencies) < DELIVERY_LIMIT, latencies
    data = events[0].json()
    assert events[0].id == str(data["id"]) == events[1].id
    assert data["room_ids"] == [world["room_a"]] and data["staff_ids"] == [world["engineer"]]
    # The span is the booking's, possibly widened by buffers.
    assert data["start"] <= booking["start_at"] and data["end"] >= booking["end_at"]
    assert set(data) == {"id", "room_ids", "staff_ids", "start", "end", "at"}


def test_the_postgres_pass_uses_listen_notify(stack):
    _, stream, world = stack
    health = stream.health()
    assert health["push_channels"] == (1 if world["postgres"] else 0), health


def test_holds_and_releases_are_events_too(stack, logs_are_clean):
    web, _, world = stack
    with SSEClient(web.url + stream_path(world["slug"])) as client:
        client.wait_connected()
        token = hold(web, world, start=slot(4), room=world["room_b"])
        placed = client.wait_for(naming(world["room_b"]), timeout=5)
        response = api(web, "DELETE", f"/api/studios/{world['slug']}/holds/{token}",
                       world["token"])
        assert response.status_code == 200, response.text
        released = client.wait_for(naming(world["room_b"]), timeout=5,
                                   after=client.events.index(placed) + 1)
    assert placed and released
    assert int(released.id) > int(placed.id)
    assert released.json()["start"] == placed.json()["start"]


def test_reconnecting_with_last_event_id_gets_what_it_missed(stack, logs_are_clean):
    web, _, world = stack
    url = web.url + stream_path(world["slug"])
    with SSEClient(url) as client:
        client.wait_connected()
        book(web, world, start=slot(5), room=world["room_a"])
        seen = client.wait_for(naming(world["room_a"]), timeout=5)
        assert seen is not None
        resume_from = client.last_id
    assert resume_from == seen.id

    # While nobody listens: a booking in room B and one in room A with the engineer.
    missed = [book(web, world, start=slot(5, 16), room=world["room_b"]),
              book(web, world, start=slot(6), room=world["room_a"], engineer=True)]

    for headers, reconnect_url in (({"Last-Event-ID": resume_from}, url),
                                   ({}, f"{url}?last_event_id={resume_from}")):
        with SSEClient(reconnect_url, headers=headers) as again:
            again.wait_connected()
            assert again.wait_for(naming(world["room_a"], world["engineer"]), timeout=5)
            got = again.availability()
        assert [e["room_ids"] for e in got] == [[world["room_b"]], [world["room_a"]]], got
        assert all(e["id"] > int(resume_from) for e in got)
        assert all(e["start"] <= b["start_at"] for e, b in zip(got, missed, strict=True))


def test_a_client_filtered_to_another_room_gets_nothing(stack, logs_are_clean):
    web, _, world = stack
    base = web.url + stream_path(world["slug"])
    with SSEClient(base) as everything, \
            SSEClient(f"{base}?room_id={world['room_b']}") as room_b, \
            SSEClient(f"{base}?staff_id={world['engineer']}") as engineer, \
            SSEClient(web.url + stream_path(world["other_slug"])) as other_studio:
        for client in (everything, room_b, engineer, other_studio):
            client.wait_connected()

        book(web, world, start=slot(7), room=world["room_a"])  # room A, no engineer
        assert everything.wait_for(naming(world["room_a"]), timeout=5)
        time.sleep(1.0)  # a wrongly routed event would have arrived by now
        assert room_b.availability() == [] and engineer.availability() == []
        assert other_studio.availability() == []

        # The filters do let their own resources through.
        book(web, world, start=slot(7, 16), room=world["room_b"], engineer=True)
        assert room_b.wait_for(naming(world["room_b"]), timeout=5)
        assert engineer.wait_for(naming(world["room_b"], world["engineer"]), timeout=5)
        book(web, world, start=slot(8), room=world["other_room"], slug=world["other_slug"],
             service=world["other_service"])
        assert other_studio.wait_for(naming(world["other_room"]), timeout=5)
    assert [e["room_ids"] for e in room_b.availability()] == [[world["room_b"]]]


def test_the_wsgi_endpoint_redirects_to_the_stream_server(stack):
    web, stream, world = stack
    path = stream_path(world["slug"], f"room_id={world['room_a']}")
    response = httpx.get(web.url + path, timeout=10, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == stream.url + path
    assert response.headers["cache-control"] == "no-store"


def test_heartbeats_move_the_resume_point_on(stack):
    web, _, world = stack
    with SSEClient(web.url + stream_path(world["slug"], "room_id=999999")) as client:
        client.wait_connected()
        first_id = client.last_id
        book(web, world, start=slot(9), room=world["room_a"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and client.last_id == first_id:
            time.sleep(0.1)
        assert "heartbeat" in client.comments
    assert int(client.last_id) > int(first_id)  # past an event this client did not want
    assert client.availability() == []


def test_the_stream_server_answers_errors_as_problems(stack):
    _, stream, world = stack
    response = httpx.get(stream.url + stream_path("no-such-studio"), timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    response = httpx.get(stream.url + stream_path(world["slug"], "room_id=abc"), timeout=10)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "room_id"
    response = httpx.options(stream.url + stream_path(world["slug"]), timeout=10,
                             headers={"Origin": "null",
                                      "Access-Control-Request-Method": "GET",
                                      "Access-Control-Request-Headers": "last-event-id"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "last-event-id" in response.headers["access-control-allow-headers"]
    response = httpx.post(stream.url + stream_path(world["slug"]), timeout=10)
    assert response.status_code == 405


def test_an_unknown_or_pruned_last_event_id_asks_the_page_to_start_over(stack):
    web, _, world = stack
    url = web.url + stream_path(world["slug"])
    with SSEClient(url, headers={"Last-Event-ID": "999999999"}) as client:
        client.wait_connected()
        reset = client.wait_for(lambda e: e.event == "reset", timeout=5)
    assert reset is not None and reset.json() == {"reason": "unknown"}
    assert int(reset.id) < 999999999  # the client's resume point is the newest id now


def test_stopping_the_stream_server_ends_open_streams_promptly(stack, tmp_path):
    _, _, world = stack
    with stream_server(world["database_url"]) as own:
        client = SSEClient(own.url + stream_path(world["slug"]), read_timeout=30)
        with client:
            client.wait_connected()
            from studiobook.live.server import stop_stream_process

            started = time.monotonic()
            stop_stream_process(own.process)
            assert client.ended.wait(10)
            took = time.monotonic() - started
    # uvicorn exits by re-raising the SIGTERM it handled gracefully.
    assert own.process.returncode in (0, -15), own.log()
    assert "Traceback" not in own.log(), own.log()
    assert took < 5, f"stopping took {took:.1f} s"
    assert client.error is None, repr(client.error)


def test_the_stream_server_waits_for_its_database(tmp_path):
    """Started before the database is migrated (``studiobook serve`` on a new install), it
    serves 503s, then streams once the outbox exists."""
    with fresh_database_url(tmp_path) as url, stream_server(url) as stream:
        assert stream.health()["status"] == "starting"
        response = httpx.get(stream.url + stream_path("anything"), timeout=10)
        assert response.status_code == 503 and response.headers["retry-after"] == "2"
        migrate(url)
        seed(url, "from studiobook.studios.models import Studio\n"
                      "Studio.objects.create(slug='late', name='Late', time_zone='UTC')\n"
                      "print('{}')\n")
        deadline = time.monotonic() + 15
        while stream.health()["status"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
        with SSEClient(stream.url + stream_path("late")) as client:
            client.wait_connected()
        assert "Traceback" not in stream.log(), stream.log()
