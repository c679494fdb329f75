"""The tape strip's layout (``bookings.strip.layout``): rows, segments, starts and hour marks
from a core query and its slots. Pure: no database, the clock is the query's ``now``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from studiobook import scheduling as core
from studiobook.bookings.strip import iso_utc, layout, session_label
from studiobook.scheduling import local_day_bounds

TORONTO = "America/Toronto"
ALL_DAYS = frozenset(range(1, 8))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rule(start: int, end: int, weekdays=ALL_DAYS) -> core.WeeklyRule:
    return core.WeeklyRule(weekdays=weekdays, start_time=time(start), end_time=time(end))


NINE_TO_NINE = (rule(9, 21),)
MONDAY_NOON = utc(2026, 11, 23, 12)


def query(*, rooms=None, engineers=None, studio=NINE_TO_NINE, now=MONDAY_NOON, duration=60,
          grid=60, lead=0, day=date(2026, 11, 24), blackouts=()):
    """The core query for local ``day`` in Toronto, as ``availability.build_query`` makes it."""
    start, end = local_day_bounds(TORONTO, day)
    return core.SlotQuery(zone=TORONTO, range_start=start, range_end=end, now=now,
                          duration_minutes=duration, studio_rules=studio,
                          studio_blackouts=blackouts, rooms=rooms, engineers=engineers,
                          grid_minutes=grid, lead_time_minutes=lead, horizon_days=365)


def spans(row):
    return [(s.kind, s.start.astimezone(UTC).strftime("%H:%M"),
             s.end.astimezone(UTC).strftime("%H:%M"), s.left, s.width) for s in row.segments]


def test_a_room_open_10_to_14_with_a_booking_11_to_12():
    # Tuesday 24 Nov 2026, Toronto is UTC-5: 09:00 local = 14:00Z, 21:00 local = 02:00Z.
    room = core.ResourceInput(id=7, rules=(rule(10, 14),), name="Studio A",
                              busy=(core.Interval(utc(2026, 11, 24, 16), utc(2026, 11, 24, 17),
                                                  "booking SB-1"),))
    q = query(rooms=(room,))
    strip = layout(q, core.find_slots(q), day=date(2026, 11, 24))

    assert (strip.window_start, strip.window_end, strip.is_open) == (
        utc(2026, 11, 24, 14), utc(2026, 11, 25, 2), True)
    assert [t.label for t in strip.ticks] == [f"{h:02d}:00" for h in range(9, 22)]
    assert [t.left for t in strip.ticks][:3] == [0.0, 8.3333, 16.6667]
    (row,) = strip.rows
    assert (row.kind, row.id, row.name) == ("room", 7, "Studio A")
    assert spans(row) == [
        ("closed", "14:00", "15:00", 0.0, 8.3333),
        ("free", "15:00", "16:00", 8.3333, 8.3333),
        ("taken", "16:00", "17:00", 16.6667, 8.3333),
        ("free", "17:00", "19:00", 25.0, 16.6667),
        ("closed", "19:00", "02:00", 41.6667, 58.3333),
    ]
    assert [(iso_utc(s.start), s.time_label, s.label, s.room_id, s.left, s.width)
            for s in row.starts] == [
        ("2026-11-24T15:00:00Z", "10:00", "Studio A, Tue 24 Nov 10:00–11:00", 7, 8.3333, 8.3333),
        ("2026-11-24T17:00:00Z", "12:00", "Studio A, Tue 24 Nov 12:00–13:00", 7, 25.0, 8.3333),
        ("2026-11-24T18:00:00Z", "13:00", "Studio A, Tue 24 Nov 13:00–14:00", 7, 33.3333, 8.3333),
    ]
    assert (strip.free_count, strip.watched_room_ids, strip.watched_staff_ids) == (3, (7,), ())


def test_a_gap_too_short_is_unavailable_and_lead_time_is_past():
    # Now is 10:30 local with 60 minutes' lead: nothing before 11:30 local (16:30Z).
    room = core.ResourceInput(id=1, rules=None, name="A",
                              busy=(core.Interval(utc(2026, 11, 24, 18), utc(2026, 11, 24, 19)),
                                    core.Interval(utc(2026, 11, 24, 19, 30),
                                                  utc(2026, 11, 24, 23))))
    q = query(rooms=(room,), studio=(rule(10, 18),), now=utc(2026, 11, 24, 15, 30), lead=60,
              grid=30, duration=60)
    strip = layout(q, core.find_slots(q), day=date(2026, 11, 24))
    assert [(kind, a, b) for kind, a, b, *_ in spans(strip.rows[0])] == [
        ("past", "15:00", "16:30"),
        ("free", "16:30", "18:00"),
        ("taken", "18:00", "19:00"),
        ("unavailable", "19:00", "19:30"),   # 30 free minutes: a 60-minute session does not fit
        ("taken", "19:30", "23:00"),
    ]
    assert [s.time_label for s in strip.rows[0].starts] == ["11:30", "12:00"]


def test_blackouts_are_closed_and_rooms_come_in_id_order():
    b = core.ResourceInput(id=2, rules=None, name="B",
                           blackouts=(core.Interval(utc(2026, 11, 24, 15), utc(2026, 11, 24, 16),
                                                    "blackout: Repairs"),))
    a = core.ResourceInput(id=1, rules=None, name="A")
    q = query(rooms=(b, a), studio=(rule(9, 12),))
    strip = layout(q, core.find_slots(q), day=date(2026, 11, 24))
    assert [row.name for row in strip.rows] == ["A", "B"]
    assert [(kind, x, y) for kind, x, y, *_ in spans(strip.rows[1])] == [
        ("free", "14:00", "15:00"), ("closed", "15:00", "16:00"), ("free", "16:00", "17:00")]
    assert [s.time_label for s in strip.rows[1].starts] == ["09:00", "11:00"]


def test_a_closed_day_is_one_closed_segment_over_the_whole_day():
    weekdays_only = (rule(9, 17, weekdays=frozenset({1, 2, 3, 4, 5})),)
    room = core.ResourceInput(id=1, rules=None, name="A")
    q = query(rooms=(room,), studio=weekdays_only, day=date(2026, 11, 29))  # a Sunday
    strip = layout(q, core.find_slots(q), day=date(2026, 11, 29))
    assert (strip.is_open, strip.window_start, strip.window_end) == (
        False, utc(2026, 11, 29, 5), utc(2026, 11, 30, 5))
    assert spans(strip.rows[0]) == [("closed", "05:00", "05:00", 0.0, 100.0)]
    assert strip.free_count == 0


def test_a_service_without_a_room_has_one_row_per_engineer():
    maya = core.ResourceInput(id=4, rules=(rule(9, 11),), name="Maya")
    theo = core.ResourceInput(id=3, rules=(rule(10, 12),), name="Theo")
    q = query(engineers=(maya, theo), studio=(rule(9, 12),))
    strip = layout(q, core.find_slots(q), day=date(2026, 11, 24))
    assert [(row.kind, row.name) for row in strip.rows] == [("staff", "Theo"), ("staff", "Maya")]
    assert [(s.time_label, s.staff_ids, s.room_id, s.label) for s in strip.rows[0].starts] == [
        ("10:00", (3,), None, "Theo, Tue 24 Nov 10:00–11:00"),
        ("11:00", (3,), None, "Theo, Tue 24 Nov 11:00–12:00")]
    assert [s.time_label for s in strip.rows[1].starts] == ["09:00", "10:00"]
    assert (strip.watched_room_ids, strip.watched_staff_ids) == ((), (3, 4))


def test_the_day_the_clocks_fall_back_is_25_hours_wide_with_the_hour_twice():
    # Sunday 1 Nov 2026: 02:00 EDT becomes 01:00 EST. Open 00:00-04:00 local = 5 real hours.
    room = core.ResourceInput(id=1, rules=None, name="Studio A")
    q = query(rooms=(room,), studio=(rule(0, 4),), day=date(2026, 11, 1),
              now=utc(2026, 10, 30, 12))
    strip = layout(q, core.find_slots(q), day=date(2026, 11, 1))
    assert (strip.window_start, strip.window_end) == (utc(2026, 11, 1, 4), utc(2026, 11, 1, 9))
    assert [(t.label, t.left) for t in strip.ticks] == [
        ("00:00", 0.0), ("01:00 EDT", 20.0), ("01:00 EST", 40.0), ("02:00", 60.0),
        ("03:00", 80.0), ("04:00", 100.0)]
    assert [(iso_utc(s.start), s.time_label, s.label) for s in strip.rows[0].starts] == [
        ("2026-11-01T04:00:00Z", "00:00", "Studio A, Sun 1 Nov 00:00 EDT–01:00 EDT"),
        ("2026-11-01T05:00:00Z", "01:00 EDT", "Studio A, Sun 1 Nov 01:00 EDT–01:00 EST"),
        ("2026-11-01T06:00:00Z", "01:00 EST", "Studio A, Sun 1 Nov 01:00 EST–02:00 EST"),
        ("2026-11-01T07:00:00Z", "02:00", "Studio A, Sun 1 Nov 02:00–03:00"),
        ("2026-11-01T08:00:00Z", "03:00", "Studio A, Sun 1 Nov 03:00–04:00"),
    ]


def test_the_day_the_clocks_spring_forward_has_no_2_am():
    room = core.ResourceInput(id=1, rules=None, name="Studio A")
    q = query(rooms=(room,), studio=(rule(0, 4),), day=date(2027, 3, 14),
              now=utc(2027, 3, 1, 12))
    strip = layout(q, core.find_slots(q), day=date(2027, 3, 14))
    assert [t.label for t in strip.ticks] == ["00:00", "01:00", "03:00", "04:00"]
    assert [s.label for s in strip.rows[0].starts] == [
        "Studio A, Sun 14 Mar 00:00–01:00",
        "Studio A, Sun 14 Mar 01:00 EST–03:00 EDT",
        "Studio A, Sun 14 Mar 03:00–04:00",
    ]


def test_an_overnight_window_reaches_past_midnight():
    room = core.ResourceInput(id=1, rules=None, name="Night room")
    q = query(rooms=(room,), studio=(rule(22, 2),), duration=120, grid=60)
    strip = layout(q, core.find_slots(q), day=date(2026, 11, 24))
    # Starts belong to the day they fall on: yesterday's window still offers 00:00, and
    # tonight's runs to 02:00 tomorrow.
    assert (strip.window_start, strip.window_end) == (utc(2026, 11, 24, 5), utc(2026, 11, 25, 7))
    assert [s.label for s in strip.rows[0].starts] == [
        "Night room, Tue 24 Nov 00:00–02:00",
        "Night room, Tue 24 Nov 22:00–Wed 25 Nov 00:00",
        "Night room, Tue 24 Nov 23:00–Wed 25 Nov 01:00",
    ]


def test_session_label_in_another_zone():
    assert session_label("Booth", utc(2026, 7, 1, 9), utc(2026, 7, 1, 10, 30),
                         "Europe/Paris") == "Booth, Wed 1 Jul 11:00–12:30"
