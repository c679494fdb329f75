"""Calendar objects keep the real instant of every session around every offset change of a
zone matrix: through the icalendar parser, and through a real Radicale server (PUT, read
back, and a CalDAV time-range REPORT that must find each session exactly in its range).

The matrix: America/Toronto and Europe/London (one-hour DST, fall-back at 02:00 and 01:00
local), Australia/Lord_Howe (30-minute DST), America/Havana (transitions at midnight),
Pacific/Apia (DST until 2021 and the skipped 2011-12-30), Asia/Kolkata (no transitions: a
fixed +05:30 reference).
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from studiobook.bookings import services
from studiobook.calendars import ics
from tests.support.factories import NOW, utc

MATRIX = {
    "America/Toronto": (2026, 2029),
    "Europe/London": (2026, 2029),
    "Australia/Lord_Howe": (2026, 2029),
    "America/Havana": (2026, 2029),
    "Pacific/Apia": (2010, 2013),
    "Asia/Kolkata": (2026, 2029),
}


def transitions(zone_name: str, first_year: int, last_year: int) -> list[datetime]:
    """Every UTC instant in [first_year, last_year] at which the zone's offset changes,
    to the minute (offsets in the tz database change on whole minutes)."""
    zone = ZoneInfo(zone_name)
    found = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    stop = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    while moment < stop:
        following = moment + step
        if moment.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = moment, following  # offset(low) != offset(high): bisect to a minute
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
        moment = following
    return found


ZONE_TRANSITIONS = {name: transitions(name, *years) for name, years in MATRIX.items()}
# A zone without transitions still gets sessions: at 00:00 UTC on the first of some months.
FIXED_POINTS = [utc(2027, month, 1, 0, 0) for month in (1, 4, 7, 10)]


def points(zone_name: str) -> list[datetime]:
    return ZONE_TRANSITIONS[zone_name] or FIXED_POINTS


def test_the_matrix_has_the_transitions_it_is_meant_to_cover():
    # Four years of two changes a year; Apia: DST in 2010-2013 and the day it skipped.
    assert {name: len(found) for name, found in ZONE_TRANSITIONS.items()} == {
        "America/Toronto": 8, "Europe/London": 8, "Australia/Lord_Howe": 8,
        "America/Havana": 8, "Pacific/Apia": 8, "Asia/Kolkata": 0}
    toronto = ZONE_TRANSITIONS["America/Toronto"]
    assert utc(2027, 11, 7, 6, 0) in toronto and utc(2027, 3, 14, 7, 0) in toronto
    assert utc(2011, 12, 30, 10, 0) in ZONE_TRANSITIONS["Pacific/Apia"]  # 24 h skipped
    lord_howe = ZONE_TRANSITIONS["Australia/Lord_Howe"]
    assert utc(2026, 10, 3, 15, 30) in lord_howe  # 02:00 +10:30 -> 02:30 +11:00


# Sessions (offset from the transition, length) that start before, at and after it, end in
# it, and span it; in Toronto 2027-11-07 (-60 min, 60 min) is 01:00 EDT to 01:00 EST, and
# (-30, 60) is 01:30 EDT to 01:30 EST: the case that used to be written as 0 minutes.
SHAPES = [(-120, 60), (-90, 120), (-60, 60), (-30, 60), (-30, 90), (0, 30), (0, 60),
          (30, 60), (-15, 15), (-5, 10)]


def sessions(zone_name: str) -> list[tuple[datetime, datetime]]:
    return [(point + timedelta(minutes=offset), point + timedelta(minutes=offset + length))
            for point in points(zone_name) for offset, length in SHAPES]


@pytest.fixture
def template(world):
    """A real booking of the world (Northside Sound, Eve, Studio A) to copy and re-time."""
    return services.create_booking(
        actor=world.artist, studio=world.studio, service=world.recording,
        start_at=utc(2026, 11, 24, 15, 0), duration_minutes=120, room_id=world.room_a.id,
        staff_ids=[world.eve.id], now=NOW)


def retimed(template, zone_name: str, start: datetime, end: datetime):
    """A copy of ``template`` in a studio of ``zone_name`` at [start, end), not saved."""
    booking = copy.copy(template)
    booking.studio = copy.copy(template.studio)
    booking.studio.time_zone = zone_name
    booking.start_at, booking.end_at = start, end
    return booking


def parsed_times(body: bytes) -> list[tuple[datetime, datetime]]:
    cal = Calendar.from_ical(body)
    return [(event.start, event.end) for event in cal.walk("VEVENT")]


@pytest.mark.parametrize("zone_name", sorted(MATRIX))
def test_invites_downloads_feeds_and_caldav_objects_keep_the_instant(template, zone_name):
    for start, end in sessions(zone_name):
        booking = retimed(template, zone_name, start, end)
        bodies = {
            "invite": ics.invite(booking, now=NOW),
            "download": ics.download(booking, now=NOW),
            "feed": ics.feed([booking], "Sessions"),
            "caldav": ics.caldav_object(booking, sequence=0, uid="x@studiobook"),
        }
        for kind, body in bodies.items():
            times = parsed_times(body)
            assert times == [(start, end)], (zone_name, kind, start, end, body)
            assert all(t.utcoffset() == timedelta(0) for pair in times for t in pair)
            assert b"TZID" not in body and b"VTIMEZONE" not in body


def test_the_repeated_hour_of_a_fall_back_day_is_written_as_two_different_instants(template):
    # Toronto 2027-11-07: 01:30 EDT (05:30Z) to 01:30 EST (06:30Z), one hour.
    booking = retimed(template, "America/Toronto", utc(2027, 11, 7, 5, 30),
                      utc(2027, 11, 7, 6, 30))
    body = ics.invite(booking, now=NOW)
    assert b"DTSTART:20271107T053000Z\r\n" in body
    assert b"DTEND:20271107T063000Z\r\n" in body
    assert parsed_times(body) == [(utc(2027, 11, 7, 5, 30), utc(2027, 11, 7, 6, 30))]


ALL_POINTS = sorted({p for name in MATRIX for p in points(name)})


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone_name=st.sampled_from(sorted(MATRIX)), point=st.sampled_from(ALL_POINTS),
       offset_seconds=st.integers(-4 * 3600, 4 * 3600),
       length_minutes=st.integers(1, 12 * 60))
def test_any_start_near_any_transition_round_trips(template, zone_name, point,
                                                     offset_seconds, length_minutes):
    start = (point + timedelta(seconds=offset_seconds)).replace(microsecond=0)
    end = start + timedelta(minutes=length_minutes)
    booking = retimed(template, zone_name, start, end)
    assert parsed_times(ics.caldav_object(booking, sequence=0, uid="x@studiobook")) == [
        (start, end)]
    assert parsed_times(ics.invite(booking, now=NOW)) == [(start, end)]


# --- through Radicale ------------------------------------------------------------------------

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start}" end="{end}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# Mid-winter and mid-summer sessions too: with a wrong VTIMEZONE a server files a whole
# season an hour off, not only the hours next to a change.
MIDSEASON = [utc(2027, 1, 15, 15, 0), utc(2027, 7, 15, 15, 0)]


def time_range_hrefs(client, calendar_url: str, start: datetime, end: datetime) -> set[str]:
    """The object names the server itself selects for a time-range REPORT over
    [start, end) (RFC 4791 section 9.9), sent as raw XML so no client-side filter helps."""
    import xml.etree.ElementTree as ET  # noqa: N817, S405 - parsing our own test server

    response = client.request(calendar_url, "REPORT",
                              REPORT.format(start=_stamp(start), end=_stamp(end)),
                              {"Depth": "1", "Content-Type": "application/xml"})
    assert response.status == 207, response.status
    tree = ET.fromstring(response.raw)  # noqa: S314
    return {_name(href.text) for href in tree.iter("{DAV:}href") if href.text.endswith(".ics")}


def _name(url) -> str:
    """The object's name: the last segment of its URL, percent-decoded."""
    return unquote(str(url).rstrip("/").rsplit("/", 1)[-1])


@pytest.mark.parametrize("zone_name", sorted(MATRIX))
def test_radicale_stores_and_finds_every_session_in_exactly_its_range(
        template, radicale, zone_name):
    shapes = [(-30, 60), (-60, 120), (0, 30)]
    with radicale.client("eve") as client:
        calendar = client.principal().make_calendar(name="Sessions", cal_id="sessions")
        url = str(calendar.url)
        placed: dict[str, tuple[datetime, datetime]] = {}
        for point in points(zone_name) + MIDSEASON:
            for offset, length in shapes:
                start = point + timedelta(minutes=offset)
                end = start + timedelta(minutes=length)
                uid = uuid.uuid4().hex
                body = ics.caldav_object(retimed(template, zone_name, start, end),
                                         sequence=0, uid=f"{uid}@studiobook")
                event = calendar.add_event(body.decode(), increase_seqno=False)
                placed[_name(event.url)] = (start, end)
        # Read back: the stored objects hold the same instants.
        stored = {_name(e.url): e for e in calendar.events()}
        assert set(stored) == set(placed)
        for name, event in stored.items():
            assert parsed_times(event.data.encode()) == [placed[name]], (zone_name, name)
        # The server's own time-range filter: every query around each session's edges
        # selects exactly the sessions that overlap it.
        for start, end in placed.values():
            for query in ((start, start + timedelta(minutes=1)),
                          (start - timedelta(minutes=1), start),
                          (end - timedelta(minutes=1), end),
                          (end, end + timedelta(minutes=1))):
                expected = {name for name, (s, e) in placed.items()
                            if s < query[1] and e > query[0]}
                assert time_range_hrefs(client, url, *query) == expected, (
                    zone_name, start, end, query)
