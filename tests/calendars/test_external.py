"""External busy calendars served by real local servers (http.server for ICS files, Radicale
for CalDAV) block exactly the right slots; a failing source keeps its last good copy."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from studiobook.bookings import services as booking_services
from studiobook.bookings.availability import search_slots
from studiobook.bookings.errors import SlotUnavailable
from studiobook.bookings.models import Booking
from studiobook.calendars import external
from studiobook.calendars.models import ExternalBusy, ExternalCalendar
from studiobook.calendars.services import (
    add_external_calendar,
    refresh_now,
    remove_external_calendar,
)
from studiobook.jobs import PERIODIC
from studiobook.studios.errors import Forbidden, InvalidInput, NotFound
from studiobook.studios.models import AuditLog
from tests.calendars.servers import Route
from tests.support.factories import NOW, utc

TORONTO = ZoneInfo("America/Toronto")


def crlf(text: str) -> bytes:
    return text.strip().replace("\n", "\r\n").encode() + b"\r\n"


# A room's calendar as Google exports it (X-WR-TIMEZONE, VTIMEZONE blocks), with events in
# several zones. Local times below are Toronto's (UTC-5 in November and December).
ROOM_CALENDAR = crlf("""
BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:PUBLISH
X-WR-CALNAME:Studio A upkeep
X-WR-TIMEZONE:America/Toronto
BEGIN:VTIMEZONE
TZID:America/Toronto
X-LIC-LOCATION:America/Toronto
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VTIMEZONE
TZID:Europe/Berlin
X-LIC-LOCATION:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly-upkeep@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/Toronto:20261117T100000
DTEND;TZID=America/Toronto:20261117T110000
RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20261215T150000Z
EXDATE;TZID=America/Toronto:20261201T100000
RDATE;TZID=America/Toronto:20261125T090000
SUMMARY:Weekly upkeep (10:00-11:00 Tuesdays; not Dec 1; also Wed Nov 25 09:00)
END:VEVENT
BEGIN:VEVENT
UID:closed-all-day@example.test
DTSTAMP:20261101T000000Z
DTSTART;VALUE=DATE:20261126
DTEND;VALUE=DATE:20261127
SUMMARY:Closed all day (a local day in Toronto)
END:VEVENT
BEGIN:VEVENT
UID:free-time@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/Toronto:20261124T140000
DTEND;TZID=America/Toronto:20261124T150000
TRANSP:TRANSPARENT
SUMMARY:Marked free: does not block
END:VEVENT
BEGIN:VEVENT
UID:called-off@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/Toronto:20261124T160000
DTEND;TZID=America/Toronto:20261124T170000
STATUS:CANCELLED
SUMMARY:Canceled: does not block
END:VEVENT
BEGIN:VEVENT
UID:berlin-call@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Berlin:20261124T190000
DTEND;TZID=Europe/Berlin:20261124T200000
SUMMARY:Call with Berlin (13:00-14:00 in Toronto)
END:VEVENT
BEGIN:VEVENT
UID:tokyo-call@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=Asia/Tokyo:20261126T060000
DTEND;TZID=Asia/Tokyo:20261126T070000
SUMMARY:Call with Tokyo, no VTIMEZONE given (Wed 16:00-17:00 in Toronto)
END:VEVENT
BEGIN:VEVENT
UID:utc-delivery@example.test
DTSTAMP:20261101T000000Z
DTSTART:20261124T233000Z
DTEND:20261125T003000Z
SUMMARY:Delivery (18:30-19:30 in Toronto)
END:VEVENT
BEGIN:VEVENT
UID:floating@example.test
DTSTAMP:20261101T000000Z
DTSTART:20261124T200000
DTEND:20261124T203000
SUMMARY:Floating time, read in X-WR-TIMEZONE (20:00-20:30)
END:VEVENT
BEGIN:VEVENT
UID:long-ago@example.test
DTSTAMP:20261101T000000Z
DTSTART:20250101T150000Z
DTEND:20250101T160000Z
SUMMARY:Before the window
END:VEVENT
END:VCALENDAR
""")

EXPECTED_BUSY = [
    (utc(2026, 11, 24, 15, 0), utc(2026, 11, 24, 16, 0)),    # weekly upkeep
    (utc(2026, 11, 24, 18, 0), utc(2026, 11, 24, 19, 0)),    # Berlin
    (utc(2026, 11, 24, 23, 30), utc(2026, 11, 25, 0, 30)),   # UTC delivery
    (utc(2026, 11, 25, 1, 0), utc(2026, 11, 25, 1, 30)),     # floating
    (utc(2026, 11, 25, 14, 0), utc(2026, 11, 25, 15, 0)),    # RDATE
    (utc(2026, 11, 25, 21, 0), utc(2026, 11, 25, 22, 0)),    # Tokyo
    (utc(2026, 11, 26, 5, 0), utc(2026, 11, 27, 5, 0)),      # all day in Toronto
    (utc(2026, 12, 8, 15, 0), utc(2026, 12, 8, 16, 0)),      # weekly (Dec 1 excluded)
    (utc(2026, 12, 15, 15, 0), utc(2026, 12, 15, 16, 0)),    # weekly, last (UNTIL)
]

ENGINEER_CALENDAR = crlf("""
BEGIN:VCALENDAR
PRODID:-//Apple Inc.//macOS 15.0//EN
VERSION:2.0
BEGIN:VEVENT
UID:dentist@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/Toronto:20261124T120000
DTEND;TZID=America/Toronto:20261124T130000
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
""")


@pytest.fixture(autouse=True)
def clock(frozen_clock):
    return frozen_clock


@pytest.fixture
def hourly(world):
    world.studio.slot_grid_minutes = 60
    world.studio.save()
    return world


def local_day(day: int, month: int = 11) -> tuple[datetime, datetime]:
    """09:00 to 21:00 in Toronto on that 2026 day, as UTC."""
    start = datetime(2026, month, day, 9, tzinfo=TORONTO)
    return start.astimezone(ZoneInfo("UTC")), (start + timedelta(hours=12)).astimezone(
        ZoneInfo("UTC"))


def free_hours(world, room, day: int, month: int = 11, *, service=None, staff_ids=None):
    """Local start hours of the free two-hour slots of ``room`` on that day."""
    start, end = local_day(day, month)
    slots = search_slots(studio=world.studio, service=service or world.rehearsal,
                         duration_minutes=120, range_start=start, range_end=end, now=NOW,
                         room_id=room.id if room else None, staff_ids=staff_ids)
    return [s.start.astimezone(TORONTO).hour for s in slots]


ALL_HOURS = list(range(9, 20))


def busy_rows(calendar) -> list[tuple[datetime, datetime]]:
    return list(ExternalBusy.objects.filter(external_calendar=calendar)
                .values_list("start_at", "end_at"))


def subscribe_room(world, url: str, **kwargs) -> ExternalCalendar:
    return ExternalCalendar.objects.create(studio=world.studio, room=world.room_a, url=url,
                                           name="Studio A upkeep", **kwargs)


def test_busy_events_block_exactly_the_right_slots(
        hourly, ics_files, immediate_tasks, django_capture_on_commit_callbacks):
    world = hourly
    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR)

    with django_capture_on_commit_callbacks(execute=True):  # the first refresh is a task
        calendar = add_external_calendar(actor=world.admin, studio=world.studio,
                                         room=world.room_a, name="Studio A upkeep",
                                         url=ics_files.url("/room-a.ics"))

    calendar.refresh_from_db()
    assert (calendar.status, calendar.last_error, calendar.last_success_at) == ("ok", "", NOW)
    assert busy_rows(calendar) == EXPECTED_BUSY
    assert free_hours(world, world.room_a, 24) == [11, 14, 15, 16]
    assert free_hours(world, world.room_a, 25) == [10, 11, 12, 13, 14, 17, 18, 19]
    assert free_hours(world, world.room_a, 26) == []
    assert free_hours(world, world.room_a, 1, 12) == ALL_HOURS
    assert free_hours(world, world.room_a, 8, 12) == list(range(11, 20))
    assert free_hours(world, world.room_b, 24) == ALL_HOURS  # the other room is untouched
    with pytest.raises(SlotUnavailable, match="external calendar: busy"):
        booking_services.create_booking(
            actor=world.artist, studio=world.studio, service=world.rehearsal,
            start_at=utc(2026, 11, 24, 15, 0), duration_minutes=120,
            room_id=world.room_a.id, now=NOW)


def test_a_failing_source_keeps_its_last_good_copy_and_reports_the_error(
        hourly, ics_files, settings):
    world = hourly
    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR)
    calendar = external.refresh(subscribe_room(world, ics_files.url("/room-a.ics")), now=NOW)
    assert calendar.status == "ok"

    ics_files.routes["/room-a.ics"] = Route(b"oops", status=500, content_type="text/plain")
    later = NOW + timedelta(minutes=15)
    calendar = external.refresh(calendar, now=later)

    assert (calendar.status, calendar.refreshed_at, calendar.last_success_at) == (
        "failing", later, NOW)
    assert calendar.last_error == f"HTTP 500 Internal Server Error from {ics_files.base}/..."
    assert busy_rows(calendar) == EXPECTED_BUSY
    assert free_hours(world, world.room_a, 24) == [11, 14, 15, 16]

    settings.STUDIOBOOK_CALENDARS_FETCH_TIMEOUT = 0.3
    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR, delay=5)
    calendar = external.refresh(calendar, now=later)
    assert calendar.status == "failing"
    assert "timed out" in calendar.last_error
    assert busy_rows(calendar) == EXPECTED_BUSY

    ics_files.routes["/room-a.ics"] = Route(b"<html>Sign in</html>", content_type="text/html")
    calendar = external.refresh(calendar, now=later)
    assert calendar.status == "failing"
    assert calendar.last_error.startswith("not an iCalendar file")
    assert busy_rows(calendar) == EXPECTED_BUSY

    ics_files.routes["/room-a.ics"] = Route(ENGINEER_CALENDAR)  # the owner changed it
    calendar = external.refresh(calendar, now=later)
    assert (calendar.status, calendar.last_error, calendar.last_success_at) == ("ok", "", later)
    assert busy_rows(calendar) == [(utc(2026, 11, 24, 17, 0), utc(2026, 11, 24, 18, 0))]
    assert free_hours(world, world.room_a, 24) == [9, 10, 13, 14, 15, 16, 17, 18, 19]


def test_an_unreachable_server_is_reported_too(hourly):
    calendar = external.refresh(subscribe_room(hourly, "http://127.0.0.1:9/cal.ics"), now=NOW)
    assert calendar.status == "failing"
    assert calendar.last_error.startswith("cannot fetch http://127.0.0.1:9/...")


def test_an_engineers_calendar_blocks_the_engineer(hourly, ics_files):
    world = hourly
    ics_files.routes["/eve.ics"] = Route(ENGINEER_CALENDAR)
    calendar = ExternalCalendar.objects.create(studio=world.studio, staff=world.eve,
                                               url=ics_files.url("/eve.ics"))
    assert external.refresh(calendar, now=NOW).status == "ok"

    assert free_hours(world, world.room_a, 24, service=world.recording,
                      staff_ids=[world.eve.id]) == [9, 10, 13, 14, 15, 16, 17, 18, 19]
    assert free_hours(world, world.room_a, 24, service=world.recording,
                      staff_ids=[world.sam.id]) == ALL_HOURS


def test_a_caldav_calendar_is_a_source_too(hourly, radicale):
    world = hourly
    with radicale.client("eve") as client:
        personal = client.principal().make_calendar(name="Personal", cal_id="personal")
        personal.add_event(ENGINEER_CALENDAR.decode())
        personal.add_event(crlf("""
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:gym@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/Toronto:20261117T190000
DTEND;TZID=America/Toronto:20261117T200000
RRULE:FREQ=WEEKLY;COUNT=3
EXDATE;TZID=America/Toronto:20261124T190000
SUMMARY:Gym
END:VEVENT
END:VCALENDAR""").decode())
    calendar = ExternalCalendar.objects.create(
        studio=world.studio, staff=world.eve, kind="caldav", url=str(personal.url),
        username="eve", password=radicale.users["eve"])

    calendar = external.refresh(calendar, now=NOW)

    assert (calendar.status, calendar.last_error) == ("ok", "")
    assert busy_rows(calendar) == [(utc(2026, 11, 24, 17, 0), utc(2026, 11, 24, 18, 0)),
                                   (utc(2026, 12, 2, 0, 0), utc(2026, 12, 2, 1, 0))]


def test_private_addresses_are_refused_unless_allowed(hourly, ics_files, settings):
    settings.STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS = False
    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR)
    calendar = external.refresh(subscribe_room(hourly, ics_files.url("/room-a.ics")), now=NOW)
    assert calendar.status == "failing"
    assert "non-public address (127.0.0.1)" in calendar.last_error
    assert ics_files.hits == {}


def test_the_periodic_refresh_enqueues_calendars_that_are_due(hourly, dummy_tasks):
    assert PERIODIC["calendars.refresh_external"].function is external.refresh_due
    assert PERIODIC["calendars.refresh_external"].every_seconds == 900
    fresh = subscribe_room(hourly, "https://calendar.example/fresh.ics")
    fresh.refreshed_at = NOW - timedelta(minutes=5)
    fresh.save()
    stale = subscribe_room(hourly, "https://calendar.example/stale.ics")
    stale.refreshed_at = NOW - timedelta(minutes=20)
    stale.save()
    never = subscribe_room(hourly, "https://calendar.example/new.ics")
    off = subscribe_room(hourly, "https://calendar.example/off.ics", is_active=False)

    assert external.refresh_due() == 2

    refreshes = [r for r in dummy_tasks.results if r.task.name == "refresh_external_calendar"]
    assert sorted(r.args[0] for r in refreshes) == [stale.id, never.id]
    assert off.id not in [r.args[0] for r in refreshes]


def test_refresh_now_is_for_admins_and_the_engineer_and_is_audited(hourly, ics_files):
    world = hourly
    ics_files.routes["/eve.ics"] = Route(ENGINEER_CALENDAR)
    calendar = ExternalCalendar.objects.create(studio=world.studio, staff=world.eve,
                                               url=ics_files.url("/eve.ics"))
    with pytest.raises(Forbidden):
        refresh_now(actor=world.sam.user, external_calendar=calendar)
    assert ics_files.hits == {}

    calendar = refresh_now(actor=world.eve.user, external_calendar=calendar)
    assert calendar.status == "ok"
    assert AuditLog.objects.get(action="calendar.external_refresh").diff == {
        "status": "ok", "error": ""}
    room_calendar = subscribe_room(world, ics_files.url("/eve.ics"))
    with pytest.raises(Forbidden):
        refresh_now(actor=world.eve.user, external_calendar=room_calendar)
    assert refresh_now(actor=world.admin, external_calendar=room_calendar).status == "ok"


def test_adding_checks_its_input_and_removing_frees_the_time(
        hourly, ics_files, make_studio, django_capture_on_commit_callbacks):
    world = hourly
    other = make_studio(slug="elsewhere", name="Elsewhere")
    with pytest.raises(NotFound):
        add_external_calendar(actor=world.admin, studio=other, room=world.room_a,
                              url="https://calendar.example/a.ics")
    with pytest.raises(InvalidInput, match="only http, https and webcal"):
        add_external_calendar(actor=world.admin, studio=world.studio, room=world.room_a,
                              url="file:///etc/passwd")
    with pytest.raises(InvalidInput, match="IANA"):
        add_external_calendar(actor=world.admin, studio=world.studio, room=world.room_a,
                              url="https://calendar.example/a.ics", zone="Mars/Base")
    with pytest.raises(Forbidden):
        add_external_calendar(actor=world.eve.user, studio=world.studio, room=world.room_a,
                              url="https://calendar.example/a.ics")
    assert not ExternalCalendar.objects.exists()

    calendar = add_external_calendar(actor=world.eve.user, studio=world.studio,
                                     staff=world.eve, url="webcal://calendar.example/a.ics")
    assert calendar.url == "https://calendar.example/a.ics"
    audit = AuditLog.objects.get(action="calendar.external_add")
    assert audit.diff["host"] == "calendar.example"

    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR)
    room_calendar = external.refresh(subscribe_room(world, ics_files.url("/room-a.ics")),
                                     now=NOW)
    assert free_hours(world, world.room_a, 26) == []
    with django_capture_on_commit_callbacks() as callbacks:
        remove_external_calendar(actor=world.admin, external_calendar=room_calendar)
    assert len(callbacks) == 1  # availability.changed for the freed time
    assert free_hours(world, world.room_a, 26) == ALL_HOURS
    assert not ExternalBusy.objects.exists()


def test_all_day_events_follow_the_configured_zone_when_the_calendar_names_none(
        hourly, ics_files):
    world = hourly
    ics_files.routes["/holiday.ics"] = Route(crlf("""
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:holiday@example.test
DTSTAMP:20261101T000000Z
DTSTART;VALUE=DATE:20261126
SUMMARY:A day off (no DTEND: one day)
END:VEVENT
END:VCALENDAR"""))
    in_studio_zone = external.refresh(subscribe_room(world, ics_files.url("/holiday.ics")),
                                      now=NOW)
    in_tokyo = external.refresh(subscribe_room(world, ics_files.url("/holiday.ics"),
                                               zone="Asia/Tokyo"), now=NOW)

    assert busy_rows(in_studio_zone) == [(utc(2026, 11, 26, 5, 0), utc(2026, 11, 27, 5, 0))]
    assert busy_rows(in_tokyo) == [(utc(2026, 11, 25, 15, 0), utc(2026, 11, 26, 15, 0))]


# --- bounded work and readable errors (issue 9, section 6) --------------------------------

# 179 bytes that once grew a worker past 1.2 GB in 80 seconds: one event every second.
FLOOD = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//xy//EN\r\nBEGIN:VEVENT\r\n"
         b"UID:flood@ex.test\r\nDTSTART:20261101T000000Z\r\nDTEND:20261101T000001Z\r\n"
         b"RRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def refresh_measured(calendar, *, now=NOW):
    """``external.refresh`` with its wall-clock seconds and tracemalloc peak (bytes)."""
    import time
    import tracemalloc

    tracemalloc.start()
    started = time.monotonic()
    try:
        result = external.refresh(calendar, now=now)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, elapsed, peak


def test_an_unbounded_secondly_rule_is_refused_at_once_and_the_last_good_copy_keeps_blocking(
        hourly, ics_files):
    world = hourly
    assert len(FLOOD) == 179
    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR)
    calendar = external.refresh(subscribe_room(world, ics_files.url("/room-a.ics")), now=NOW)
    assert calendar.status == "ok"

    ics_files.routes["/room-a.ics"] = Route(FLOOD)
    later = NOW + timedelta(minutes=15)
    calendar, elapsed, peak = refresh_measured(calendar, now=later)

    assert elapsed < 2.0, elapsed
    assert peak < 5 * 1024 * 1024, peak
    assert (calendar.status, calendar.last_success_at) == ("failing", NOW)
    assert calendar.last_error == (
        "the event (no title, UID flood@ex.test) repeats too often to be read "
        "(RRULE FREQ=SECONDLY, starting 2026-11-01 00:00 UTC): expanding it would take about "
        "33,653,701 steps, more than the 100,000 allowed for one event. Change its "
        "repetition (for example weekly, or with an end date) or delete it in that "
        "calendar; until then the last good copy keeps blocking time.")
    calendar.refresh_from_db()
    assert calendar.status == "failing"
    assert busy_rows(calendar) == EXPECTED_BUSY
    assert free_hours(world, world.room_a, 24) == [11, 14, 15, 16]


def test_expansion_stops_at_the_row_limit_before_collecting_the_rest(
        hourly, ics_files, monkeypatch):
    # An event every hour of the window (about 4,900 occurrences) against a limit of 100.
    hourly_event = FLOOD.replace(b"FREQ=SECONDLY", b"FREQ=HOURLY").replace(
        b"20261101T", b"20261123T")
    monkeypatch.setattr(external, "MAX_BUSY_ROWS", 100)
    made = []
    real_busy = external._busy
    monkeypatch.setattr(external, "_busy", lambda *args: made.append(1) or real_busy(*args))
    ics_files.routes["/room-a.ics"] = Route(hourly_event)

    calendar = external.refresh(subscribe_room(hourly, ics_files.url("/room-a.ics")), now=NOW)

    assert len(made) == 101  # the 101st occurrence stops it; the other 4,800 are never made
    assert calendar.status == "failing"
    assert calendar.last_error == (
        "more than 100 busy events in the next 368 days; remove old or frequently repeating "
        "events from that calendar; until then the last good copy keeps blocking time.")
    assert busy_rows(calendar) == []


def test_a_refresh_that_runs_out_of_time_fails_and_keeps_the_old_copy(
        hourly, ics_files, settings):
    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR)
    calendar = external.refresh(subscribe_room(hourly, ics_files.url("/room-a.ics")), now=NOW)
    settings.STUDIOBOOK_CALENDARS_REFRESH_SECONDS = 0

    calendar = external.refresh(calendar, now=NOW)

    assert calendar.status == "failing"
    assert calendar.last_error == (
        "reading the calendar took longer than 0 seconds; it has too many events or "
        "repetitions. Remove old or frequently repeating events; until then the last good "
        "copy keeps blocking time.")
    assert busy_rows(calendar) == EXPECTED_BUSY


def event_calendar(lines: bytes) -> bytes:
    return (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            + lines + b"END:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize(("lines", "message"), [
    (b"UID:dentist@example.test\r\nSUMMARY:Dentist\r\nDTEND:20261124T170000Z\r\n",
     'the event "Dentist" (UID dentist@example.test) cannot be read: its start (DTSTART) '
     "is missing. Correct or delete it in that calendar; until then the last good copy "
     "keeps blocking time."),
    (b"UID:bin\x00\x07ary@example.test\r\nSUMMARY:Den\xff\xfetist\x1b[31m\r\n"
     b"DTSTART:garbage\xff\x00\x01\r\nDTEND:20261124T170000Z\r\n",
     'the event "Den??tist?[31m" (UID bin??ary@example.test) cannot be read: its start '
     '(DTSTART) is not valid ("garbage???"). Correct or delete it in that calendar; until '
     "then the last good copy keeps blocking time."),
    (b"UID:month13@example.test\r\nSUMMARY:Session\r\nDTSTART:20261324T100000Z\r\n"
     b"DTEND:20261124T170000Z\r\n",
     'the event "Session" (UID month13@example.test) cannot be read: its start (DTSTART) '
     'is not valid ("20261324T100000Z"). Correct or delete it in that calendar; until '
     "then the last good copy keeps blocking time."),
    (b"UID:rule@example.test\r\nSUMMARY:Weekly\r\nDTSTART:20261124T150000Z\r\n"
     b"DTEND:20261124T160000Z\r\nRRULE:FREQ=FORTNIGHTLY\r\n",
     'the event "Weekly" (UID rule@example.test) cannot be read: its repetition rule '
     '(RRULE) is not valid ("FREQ=FORTNIGHTLY"). Correct or delete it in that calendar; '
     "until then the last good copy keeps blocking time."),
])
def test_an_unreadable_event_is_named_and_never_echoes_binary(
        hourly, ics_files, lines, message):
    ics_files.routes["/room-a.ics"] = Route(ROOM_CALENDAR)
    calendar = external.refresh(subscribe_room(hourly, ics_files.url("/room-a.ics")), now=NOW)
    ics_files.routes["/room-a.ics"] = Route(event_calendar(lines))

    calendar = external.refresh(calendar, now=NOW)

    assert calendar.status == "failing"
    assert calendar.last_error == message
    assert calendar.last_error.isprintable()
    assert busy_rows(calendar) == EXPECTED_BUSY  # the last good copy keeps blocking


# --- buffers around external busy time (issue 9, section 6) -------------------------------

DENTIST_AT_TWO = crlf("""
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:dentist-2pm@example.test
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/Toronto:20261124T140000
DTEND;TZID=America/Toronto:20261124T150000
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
""")


def local_starts(slots) -> list[str]:
    return [s.start.astimezone(TORONTO).strftime("%H:%M") for s in slots]


def test_an_engineers_buffer_keeps_sessions_clear_of_their_outside_appointments(
        world, ics_files, make_buffer):
    world.studio.slot_grid_minutes = 10
    world.studio.save()
    make_buffer(scope="staff", staff=world.eve, before_minutes=15, after_minutes=15)
    ics_files.routes["/eve.ics"] = Route(DENTIST_AT_TWO)
    calendar = ExternalCalendar.objects.create(studio=world.studio, staff=world.eve,
                                               url=ics_files.url("/eve.ics"))
    assert external.refresh(calendar, now=NOW).status == "ok"
    assert busy_rows(calendar) == [(utc(2026, 11, 24, 19, 0), utc(2026, 11, 24, 20, 0))]

    start, end = local_day(24)
    slots = search_slots(studio=world.studio, service=world.recording, duration_minutes=120,
                         range_start=start, range_end=end, now=NOW, room_id=world.room_a.id,
                         staff_ids=[world.eve.id])

    # Two hours plus 15 minutes either side must miss 14:00-15:00: the last start before is
    # 11:40 (ends 13:40, buffer to 13:55), the first after is 15:20 (buffer from 15:05).
    every_ten = [f"{h:02d}:{m:02d}" for h in range(9, 20) for m in range(0, 60, 10)]
    expected = [t for t in every_ten if t <= "11:40" or "15:20" <= t <= "19:00"]
    assert local_starts(slots) == expected
    assert "12:00" not in local_starts(slots)  # would end exactly at 14:00
    assert "11:50" not in local_starts(slots)  # would end at 13:50, inside the buffer

    before = Booking.objects.count()
    for local in ("12:00", "11:50", "15:10"):
        hour, minute = map(int, local.split(":"))
        moment = datetime(2026, 11, 24, hour, minute, tzinfo=TORONTO).astimezone(
            ZoneInfo("UTC"))
        with pytest.raises(SlotUnavailable, match="external calendar: busy"):
            booking_services.create_booking(
                actor=world.artist, studio=world.studio, service=world.recording,
                start_at=moment, duration_minutes=120, room_id=world.room_a.id,
                staff_ids=[world.eve.id], now=NOW)
    assert Booking.objects.count() == before
    booked = booking_services.create_booking(
        actor=world.artist, studio=world.studio, service=world.recording,
        start_at=utc(2026, 11, 24, 16, 40), duration_minutes=120, room_id=world.room_a.id,
        staff_ids=[world.eve.id], now=NOW)  # 11:40 Toronto, the last start offered
    assert booked.status == "confirmed"
