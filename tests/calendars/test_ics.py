"""Invites (RFC 5545, RFC 5546, RFC 6047): METHOD, UID, SEQUENCE, STATUS, times, zones."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from icalendar import Calendar

from studiobook.bookings import services
from studiobook.calendars import ics
from studiobook.calendars.models import CalendarState
from tests.support.factories import NOW, utc

# Tuesday 2026-11-24 10:00 in Toronto (UTC-5).
START = utc(2026, 11, 24, 15, 0)


def book(world, *, start=START, minutes=120, staff=None, service=None, **kwargs):
    return services.create_booking(
        actor=world.artist, studio=world.studio, service=service or world.recording,
        start_at=start, duration_minutes=minutes, room_id=world.room_a.id,
        staff_ids=[(staff or world.eve).id], now=NOW, **kwargs)


def only_event(body: bytes):
    cal = Calendar.from_ical(body)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 1
    return cal, events[0]


def assert_valid_calendar(body: bytes) -> None:
    """What the lenient parser would let pass: PRODID and VERSION on the calendar; UID,
    DTSTAMP (UTC) and DTSTART on every event; a VTIMEZONE for every TZID used."""
    cal = Calendar.from_ical(body)
    assert cal.get("PRODID") == ics.PRODID
    assert cal.get("VERSION") == "2.0"
    for event in cal.walk("VEVENT"):
        for name in ("UID", "DTSTAMP", "DTSTART"):
            assert name in event, name
        assert event.decoded("DTSTAMP").utcoffset() == timedelta(0)
    used = set(re.findall(rb";TZID=([^:;]+)[:;]", body))
    defined = set(re.findall(rb"\r\nTZID:([^\r\n]+)\r\n", body))
    assert used <= defined, (used, defined)
    assert b"\r\n" in body and not re.search(rb"[^\r]\n", body)  # CRLF line endings


def test_a_request_invite_carries_every_required_property_and_the_booking_times(world):
    booking = book(world)

    body = ics.invite(booking, now=NOW)

    assert_valid_calendar(body)
    cal, event = only_event(body)
    assert (cal["METHOD"], cal["CALSCALE"]) == ("REQUEST", "GREGORIAN")
    assert event["UID"] == f"{booking.code}@studiobook"
    assert event["SEQUENCE"] == 0
    assert b"DTSTAMP:20261123T120000Z\r\n" in body
    assert b"DTSTART:20261124T150000Z\r\n" in body  # 10:00 in Toronto, written in UTC
    assert b"DTEND:20261124T170000Z\r\n" in body
    assert (event.start, event.end) == (booking.start_at, booking.end_at)
    assert list(cal.walk("VTIMEZONE")) == [] and b"TZID" not in body
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Recording at Northside Sound"
    assert event["LOCATION"] == "Studio A, Northside Sound, 12 King St W, Toronto"
    assert event["DESCRIPTION"] == (
        f"Booking {booking.code}: Recording\nRoom: Studio A\nEngineer: Eve Engineer\n"
        "Studio: Studio A, Northside Sound, 12 King St W, Toronto")
    organizer = event["ORGANIZER"]
    assert (str(organizer), organizer.params["CN"]) == ("mailto:bookings@northside.example",
                                                        "Northside Sound")
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:artist@example.test"
    assert {k: attendee.params[k] for k in ("CN", "ROLE", "PARTSTAT", "RSVP")} == {
        "CN": "Ari Artist", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED",
        "RSVP": "FALSE"}


def test_the_mime_part_names_the_same_method_as_the_calendar(world):
    booking = book(world)
    body, content_type = ics.invite_mime_part(booking, now=NOW)
    assert content_type == "text/calendar; method=REQUEST; charset=UTF-8"
    assert Calendar.from_ical(body)["METHOD"] == "REQUEST"

    services.cancel_booking(actor=world.artist, booking=booking, now=NOW)
    booking.refresh_from_db()
    body, content_type = ics.invite_mime_part(booking, now=NOW)
    assert content_type == "text/calendar; method=CANCEL; charset=UTF-8"
    assert Calendar.from_ical(body)["METHOD"] == "CANCEL"


def test_sequence_rises_once_per_significant_change_and_the_uid_never_changes(
        world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(world)
    uid = f"{booking.code}@studiobook"
    assert CalendarState.objects.get(booking=booking).sequence == 0

    later = START + timedelta(days=1, hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        booking, _ = services.reschedule_booking(actor=world.admin, booking=booking,
                                                 start_at=later, now=NOW)
    _, event = only_event(ics.invite(booking, now=NOW))
    assert (event["UID"], event["SEQUENCE"], cal_method(booking)) == (uid, 1, "REQUEST")
    assert (event.start, event.end) == (later, later + timedelta(hours=2))
    # building the invite again (or the handler running late) does not raise it again
    _, event = only_event(ics.invite(booking, now=NOW))
    assert event["SEQUENCE"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.assign_staff(actor=world.admin, booking=booking, staff_ids=[world.sam.id],
                              now=NOW)
    booking.refresh_from_db()
    _, event = only_event(ics.invite(booking, now=NOW))
    assert (event["UID"], event["SEQUENCE"]) == (uid, 2)
    assert "Engineer: Sam Sound" in event["DESCRIPTION"]

    with django_capture_on_commit_callbacks(execute=True):
        booking, _ = services.cancel_booking(actor=world.artist, booking=booking, now=NOW)
    cal, event = only_event(ics.invite(booking, now=NOW))
    assert (cal["METHOD"], event["STATUS"], event["UID"], event["SEQUENCE"]) == (
        "CANCEL", "CANCELLED", uid, 3)
    assert (event.start, event.end) == (later, later + timedelta(hours=2))
    assert str(event["ATTENDEE"]) == "mailto:artist@example.test"
    assert_valid_calendar(ics.invite(booking, now=NOW))
    assert CalendarState.objects.get(booking=booking).sequence == 3


def cal_method(booking) -> str:
    return Calendar.from_ical(ics.invite(booking, now=NOW))["METHOD"]


def test_the_invite_is_current_even_when_no_handler_ran(world):
    """Another app's handler may build the invite before ours raised SEQUENCE; the
    invite brings the state up to date itself, once."""
    booking = book(world)  # no on-commit callbacks run here: no handler ever sees it
    assert only_event(ics.invite(booking, now=NOW))[1]["SEQUENCE"] == 0
    booking, _ = services.reschedule_booking(actor=world.admin, booking=booking,
                                             start_at=START + timedelta(hours=3), now=NOW)
    assert only_event(ics.invite(booking, now=NOW))[1]["SEQUENCE"] == 1
    assert only_event(ics.invite(booking, now=NOW))[1]["SEQUENCE"] == 1
    booking, _ = services.cancel_booking(actor=world.artist, booking=booking, now=NOW)
    cal, event = only_event(ics.invite(booking, now=NOW))
    assert (cal["METHOD"], event["SEQUENCE"], event["STATUS"]) == ("CANCEL", 2, "CANCELLED")


def test_a_cancellation_is_never_sent_as_request_nor_a_live_booking_as_cancel(world):
    booking = book(world)
    with pytest.raises(ValueError, match="nothing to cancel"):
        ics.invite(booking, "CANCEL", now=NOW)
    booking, _ = services.cancel_booking(actor=world.artist, booking=booking, now=NOW)
    with pytest.raises(ValueError, match="never REQUEST"):
        ics.invite(booking, "REQUEST", now=NOW)
    with pytest.raises(ValueError, match="REQUEST or CANCEL"):
        ics.invite(booking, "PUBLISH", now=NOW)


def test_approval_sends_the_current_sequence_and_rejection_cancels_with_a_raised_one(
        world, django_capture_on_commit_callbacks):
    world.recording.requires_approval = True
    world.recording.save()
    with django_capture_on_commit_callbacks(execute=True):
        first = book(world)
        second = book(world, start=START + timedelta(hours=4))
    assert (first.status, second.status) == ("awaiting_approval", "awaiting_approval")

    with django_capture_on_commit_callbacks(execute=True):
        first = services.approve_booking(actor=world.admin, booking=first, now=NOW)
    cal, event = only_event(ics.invite(first, now=NOW))
    assert (cal["METHOD"], event["SEQUENCE"], event["STATUS"]) == ("REQUEST", 0, "CONFIRMED")

    with django_capture_on_commit_callbacks(execute=True):
        second = services.reject_booking(actor=world.admin, booking=second, reason="full",
                                         now=NOW)
    cal, event = only_event(ics.invite(second, now=NOW))
    assert (cal["METHOD"], event["SEQUENCE"], event["STATUS"]) == ("CANCEL", 1, "CANCELLED")


def test_times_across_the_spring_dst_change_keep_the_instant(world):
    # 2027-03-14: Toronto moves to UTC-4 at 02:00; 10:00 EDT is 14:00 UTC.
    start = utc(2027, 3, 14, 14, 0)
    booking = book(world, start=start)
    body = ics.invite(booking, now=NOW)
    assert_valid_calendar(body)
    assert b"DTSTART:20270314T140000Z\r\n" in body
    _, event = only_event(body)
    assert (event.start, event.end) == (start, start + timedelta(hours=2))


def test_a_studio_with_an_unknown_zone_is_written_in_utc(world):
    booking = book(world)
    booking.studio.time_zone = "Nowhere/Atlantis"
    body = ics.invite(booking, now=NOW)
    assert b"DTSTART:20261124T150000Z\r\n" in body
    assert b"VTIMEZONE" not in body
    assert_valid_calendar(body)


def test_add_to_google_and_outlook_links(world):
    booking = book(world)

    google = urlsplit(ics.google_calendar_link(booking))
    assert (google.scheme, google.netloc, google.path) == (
        "https", "calendar.google.com", "/calendar/render")
    query = {k: v[0] for k, v in parse_qs(google.query).items()}
    assert query == {
        "action": "TEMPLATE", "text": "Recording at Northside Sound",
        "dates": "20261124T150000Z/20261124T170000Z",
        "details": ics.description(booking),
        "location": "Studio A, Northside Sound, 12 King St W, Toronto",
        "ctz": "America/Toronto"}

    outlook = urlsplit(ics.outlook_link(booking))
    assert (outlook.netloc, outlook.path) == ("outlook.live.com",
                                              "/calendar/0/deeplink/compose")
    query = {k: v[0] for k, v in parse_qs(outlook.query).items()}
    assert query == {
        "path": "/calendar/action/compose", "rru": "addevent",
        "subject": "Recording at Northside Sound",
        "startdt": "2026-11-24T15:00:00Z", "enddt": "2026-11-24T17:00:00Z",
        "body": ics.description(booking),
        "location": "Studio A, Northside Sound, 12 King St W, Toronto"}
    assert urlsplit(ics.outlook_link(booking, office365=True)).netloc == "outlook.office.com"
