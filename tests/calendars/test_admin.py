"""Sync failures and failing external calendars are visible in the admin."""

from __future__ import annotations

from django.test import Client

from studiobook.bookings import services
from studiobook.calendars.models import CalendarSync, ExternalCalendar
from tests.support.factories import NOW, utc


def test_failures_show_in_the_admin_lists(world, make_user):
    booking = services.create_booking(
        actor=world.artist, studio=world.studio, service=world.recording,
        start_at=utc(2026, 11, 24, 15, 0), duration_minutes=120, room_id=world.room_a.id,
        staff_ids=[world.eve.id], now=NOW)
    CalendarSync.objects.create(booking=booking, staff=world.eve, status="failed", attempts=3,
                                error="AuthorizationError: Unauthorized")
    ExternalCalendar.objects.create(studio=world.studio, room=world.room_a, name="Upkeep",
                                    url="https://calendar.example/a.ics", status="failing",
                                    last_error="HTTP 500 Internal Server Error")
    client = Client()
    client.force_login(make_user(email="root@example.test", is_staff=True, is_superuser=True))

    syncs = client.get("/admin/calendars/calendarsync/?status__exact=failed")
    calendars = client.get("/admin/calendars/externalcalendar/?status__exact=failing")

    assert syncs.status_code == calendars.status_code == 200
    assert b"AuthorizationError: Unauthorized" in syncs.content
    assert b"HTTP 500 Internal Server Error" in calendars.content
    for model in ("caldavaccount", "feedtoken", "externalbusy", "calendarstate"):
        assert client.get(f"/admin/calendars/{model}/").status_code == 200
