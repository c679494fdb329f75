"""Subscription feeds: what they hold, that they parse, and that rotating a token revokes
the old URL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import recurring_ical_events
from django.test import Client
from icalendar import Calendar

from studiobook.bookings import services
from studiobook.calendars import ics
from studiobook.calendars.models import FeedToken
from studiobook.calendars.services import rotate_feed_token
from studiobook.studios.errors import Forbidden, InvalidInput
from studiobook.studios.models import AuditLog, Room
from tests.calendars.test_ics import assert_valid_calendar
from tests.support.factories import NOW, utc

START = utc(2026, 11, 24, 15, 0)  # Tuesday 10:00 in Toronto
WINDOW = timedelta(days=180)


@pytest.fixture(autouse=True)
def clock(frozen_clock):
    return frozen_clock


def book(world, start, *, staff=None, room=None, now=NOW, actor=None, service=None):
    return services.create_booking(
        actor=actor or world.artist, studio=world.studio, service=service or world.recording,
        start_at=start, duration_minutes=120, room_id=(room or world.room_a).id,
        staff_ids=[(staff or world.eve).id], now=now)


@pytest.fixture
def bookings(world, django_capture_on_commit_callbacks):
    """Eve's sessions in and around the window, and some that must not show; created with
    the event handlers running, as in production."""
    with django_capture_on_commit_callbacks(execute=True):
        return _bookings(world)


def _bookings(world):
    inside = book(world, START)
    late = book(world, START + timedelta(days=170), room=world.room_b)
    beyond = book(world, START + timedelta(days=200))
    past = book(world, START - timedelta(days=170), now=NOW - timedelta(days=171))
    services.complete_booking(actor=world.admin, booking=past, now=NOW)
    too_old = book(world, START - timedelta(days=200), now=NOW - timedelta(days=201))
    canceled = book(world, START + timedelta(days=2))
    services.cancel_booking(actor=world.artist, booking=canceled, now=NOW)
    world.recording.requires_approval = True
    world.recording.save()
    unapproved = book(world, START + timedelta(days=3))
    world.recording.requires_approval = False
    world.recording.save()
    assert unapproved.status == "awaiting_approval"
    sams = book(world, START + timedelta(days=1), staff=world.sam, room=world.room_b)
    return {"inside": inside, "late": late, "beyond": beyond, "past": past,
            "too_old": too_old, "canceled": canceled, "unapproved": unapproved,
            "sams": sams}


def fetch(url: str, **headers):
    return Client().get(url, **headers)


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")}


def uid(booking) -> str:
    return f"{booking.code}@studiobook"


def test_an_engineers_feed_holds_their_confirmed_sessions_in_the_window(world, bookings):
    url = rotate_feed_token(actor=world.eve.user, staff=world.eve)
    assert url.startswith(f"/calendar/staff/{world.eve.id}.ics?token=")

    response = fetch(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response["Cache-Control"]
    body = response.content
    assert_valid_calendar(body)
    assert uids(body) == {uid(bookings[k]) for k in ("past", "inside", "late")}
    cal = Calendar.from_ical(body)
    assert (cal["METHOD"], cal["X-WR-CALNAME"]) == ("PUBLISH", "Eve Engineer · Northside Sound")
    assert list(cal.walk("VTIMEZONE")) == [] and b"TZID" not in body  # UTC instants only
    event = next(e for e in cal.walk("VEVENT") if e["UID"] == uid(bookings["inside"]))
    assert event["SUMMARY"] == "Recording: Ari Artist"
    assert "ATTENDEE" not in event and "ORGANIZER" in event
    assert (event.start, event.end) == (START, START + timedelta(hours=2))


def test_the_feed_round_trips_through_recurring_ical_events(world, bookings):
    body = fetch(rotate_feed_token(actor=world.admin, staff=world.eve)).content

    occurrences = recurring_ical_events.of(Calendar.from_ical(body)).between(
        NOW - WINDOW, NOW + WINDOW)

    assert sorted((str(e["UID"]), e.start, e.end) for e in occurrences) == sorted(
        (uid(b), b.start_at, b.end_at)
        for b in (bookings["past"], bookings["inside"], bookings["late"]))


def test_rotating_the_token_revokes_the_old_url(world, bookings):
    old = rotate_feed_token(actor=world.eve.user, staff=world.eve)
    assert fetch(old).status_code == 200

    new = rotate_feed_token(actor=world.eve.user, staff=world.eve)

    assert fetch(old).status_code == 404
    assert fetch(new).status_code == 200
    assert FeedToken.objects.filter(staff=world.eve, is_active=True).count() == 1
    assert list(AuditLog.objects.filter(action="calendar.feed_rotate")
                .values_list("diff__revoked", flat=True)) == [0, 1]


def test_every_wrong_token_is_the_same_404(world, bookings):
    eve_url = rotate_feed_token(actor=world.eve.user, staff=world.eve)
    sam_url = rotate_feed_token(actor=world.sam.user, staff=world.sam)
    sam_token = sam_url.split("token=")[1]
    path = f"/calendar/staff/{world.eve.id}.ics"

    responses = [fetch(path), fetch(path + "?token="), fetch(path + "?token=guess"),
                 fetch(f"{path}?token={sam_token}"),
                 fetch(f"/calendar/staff/999999.ics?token={sam_token}"),
                 fetch(f"/calendar/rooms/{world.room_a.id}.ics?token={sam_token}")]

    assert [r.status_code for r in responses] == [404] * 6
    assert len({r.content for r in responses}) == 1
    assert fetch(eve_url).status_code == 200
    assert Client().post(eve_url).status_code == 405


def test_only_the_engineer_or_an_admin_may_rotate_and_only_admins_for_rooms(world):
    with pytest.raises(Forbidden):
        rotate_feed_token(actor=world.sam.user, staff=world.eve)
    with pytest.raises(Forbidden):
        rotate_feed_token(actor=world.eve.user, room=world.room_a)
    with pytest.raises(Forbidden):
        rotate_feed_token(actor=world.eve.user, artist=world.artist)
    with pytest.raises(InvalidInput):
        rotate_feed_token(actor=world.admin, staff=world.eve, room=world.room_a)
    assert not FeedToken.objects.exists()
    assert not AuditLog.objects.filter(action="calendar.feed_rotate").exists()

    rotate_feed_token(actor=world.admin, staff=world.eve)
    rotate_feed_token(actor=world.admin, room=world.room_a)
    assert FeedToken.objects.filter(is_active=True).count() == 2


def test_a_room_feed_holds_that_rooms_sessions(world, bookings):
    body = fetch(rotate_feed_token(actor=world.admin, room=world.room_b)).content
    assert_valid_calendar(body)
    assert uids(body) == {uid(bookings["late"]), uid(bookings["sams"])}
    assert Calendar.from_ical(body)["X-WR-CALNAME"] == "Studio B · Northside Sound"


def test_the_artists_feed_spans_studios_in_several_zones_written_in_utc(
        world, make_studio, make_service):
    berlin = make_studio(slug="kreuzberg", name="Kreuzberg Tonstudio", time_zone="Europe/Berlin")
    raum = Room.objects.create(studio=berlin, name="Raum 1", tags=["tracking"])
    mixing = make_service(studio=berlin, name="Mixdown")
    here = book(world, START)
    there = services.create_booking(actor=world.artist, studio=berlin, service=mixing,
                                     start_at=utc(2026, 11, 25, 10, 0), duration_minutes=120,
                                     room_id=raum.id, now=NOW)
    someone_else = book(world, START + timedelta(days=1), actor=world.sam.user,
                        staff=world.sam)

    url = rotate_feed_token(actor=world.artist, artist=world.artist)
    assert url.startswith(f"/calendar/me/{world.artist.id}.ics?token=")
    body = fetch(url).content

    assert_valid_calendar(body)
    cal = Calendar.from_ical(body)
    assert list(cal.walk("VTIMEZONE")) == [] and b"TZID" not in body
    assert uids(body) == {uid(here), uid(there)}
    assert uid(someone_else) not in uids(body)
    assert b"DTSTART:20261125T100000Z\r\n" in body  # 11:00 in Berlin
    assert {str(e["SUMMARY"]) for e in cal.walk("VEVENT")} == {
        "Recording at Northside Sound", "Mixdown at Kreuzberg Tonstudio"}
    assert not AuditLog.objects.filter(action="calendar.feed_rotate").exists()


def test_a_canceled_booking_leaves_the_feed_and_the_etag_changes(world, bookings):
    url = rotate_feed_token(actor=world.eve.user, staff=world.eve)
    first = fetch(url)
    assert fetch(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    services.cancel_booking(actor=world.artist, booking=bookings["inside"], now=NOW)

    second = fetch(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200
    assert second["ETag"] != first["ETag"]
    assert uids(second.content) == {uid(bookings["past"]), uid(bookings["late"])}
    assert b"CANCELLED" not in second.content


def test_a_moved_booking_shows_its_raised_sequence_in_the_feed(
        world, bookings, django_capture_on_commit_callbacks):
    url = rotate_feed_token(actor=world.eve.user, staff=world.eve)
    with django_capture_on_commit_callbacks(execute=True):
        services.reschedule_booking(actor=world.admin, booking=bookings["inside"],
                                    start_at=START + timedelta(hours=2), now=NOW)
    event = next(e for e in Calendar.from_ical(fetch(url).content).walk("VEVENT")
                 if e["UID"] == uid(bookings["inside"]))
    assert event["SEQUENCE"] == 1
    assert event.start == START + timedelta(hours=2)


def test_feed_builds_valid_calendars_from_any_bookings(world, bookings):
    body = ics.feed([bookings["inside"]], "One")
    assert_valid_calendar(body)
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    assert b"X-PUBLISHED-TTL:PT1H\r\n" in body
