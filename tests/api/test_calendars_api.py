"""The calendar endpoints: feed URLs and their rotation, external busy calendars, sync status."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from studiobook.calendars.models import ExternalCalendar
from tests.calendars.servers import BUSY_TUESDAY, Route, ics_server

ADMIN = "/studios/northside/admin"


@pytest.fixture
def world(studio, make_room, make_staff, make_service, artist, admin_user, settings):
    settings.STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS = True  # the test server is loopback
    engineer = make_staff(display_name="Eve Engineer")
    return {"room": make_room(name="Studio A"), "engineer": engineer, "artist": artist,
            "admin": admin_user,
            "service": make_service(name="Recording", requires_engineer=True,
                                    staff_skill_required="recording")}


def test_feed_urls_rotate_and_revoke(api, world, client):
    status, body = api.post(f"{ADMIN}/staff/{world['engineer'].id}/feed-token",
                            user=world["admin"])
    assert status == 200
    first = urlsplit(body["url"])
    assert first.path == f"/calendar/staff/{world['engineer'].id}.ics"
    feed = client.get(f"{first.path}?{first.query}")
    assert (feed.status_code, feed["Content-Type"]) == (200, "text/calendar; charset=utf-8")
    assert feed.content.startswith(b"BEGIN:VCALENDAR")

    second = urlsplit(api.post(f"{ADMIN}/staff/{world['engineer'].id}/feed-token",
                               user=world["admin"])[1]["url"])
    assert client.get(f"{first.path}?{first.query}").status_code == 404
    assert client.get(f"{second.path}?{second.query}").status_code == 200
    assert api.post(f"{ADMIN}/staff/{world['engineer'].id}/feed-token",
                    user=world["artist"])[0] == 403
    mine = urlsplit(api.post("/me/feed-token", user=world["artist"])[1]["url"])
    assert client.get(f"{mine.path}?{mine.query}").status_code == 200


def test_an_external_calendar_blocks_the_engineer(api, world):
    search = {"date": "2026-11-24", "duration_min": 120, "service_id": world["service"].id}
    before = api.post("/studios/northside/availability/search", search)[1]["slots"]
    assert "2026-11-24T15:00:00Z" in [s["start_at"] for s in before]
    with ics_server() as server:
        server.routes["/eve.ics"] = Route(body=BUSY_TUESDAY)
        status, calendar = api.post(f"{ADMIN}/external-calendars",
                                    {"url": server.url("/eve.ics"),
                                     "staff_id": world["engineer"].id, "name": "Eve's own"},
                                    user=world["admin"])
        assert status == 201
        status, calendar = api.post(f"{ADMIN}/external-calendars/{calendar['id']}/refresh",
                                    user=world["admin"])
    assert (status, calendar["status"], calendar["last_error"]) == (200, "ok", "")
    after = api.post("/studios/northside/availability/search", search)[1]["slots"]
    starts = {s["start_at"] for s in after}
    # 15:00-17:00 UTC is busy: no 2-hour session may overlap it (the day opens at 14:00).
    assert not {"2026-11-24T14:00:00Z", "2026-11-24T15:00:00Z", "2026-11-24T16:45:00Z"} & starts
    assert "2026-11-24T17:00:00Z" in starts
    assert [c["name"] for c in api.get(f"{ADMIN}/external-calendars",
                                       user=world["admin"])[1]] == ["Eve's own"]
    assert api.post(f"{ADMIN}/external-calendars", {"url": "https://example.test/x.ics",
                                                    "room_id": world["room"].id},
                    user=world["artist"])[0] == 403
    assert ExternalCalendar.objects.count() == 1


def test_calendar_sync_status_of_a_booking(api, world):
    code = api.post("/bookings", {"studio": "northside", "service_id": world["service"].id,
                                  "start_at": "2026-11-24T15:00:00Z", "duration_min": 120},
                    user=world["artist"])[1]["code"]
    status, body = api.get(f"{ADMIN}/bookings/{code}/calendar-sync", user=world["admin"])
    assert (status, body) == (200, [])  # the engineer has no CalDAV account
    assert api.get(f"{ADMIN}/bookings/{code}/calendar-sync", user=world["artist"])[0] == 403
