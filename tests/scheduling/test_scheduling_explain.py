"""explain_unavailable: codes, rule order, messages, and agreement with find_slots."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from studiobook.scheduling import (
    Interval,
    InvalidQuery,
    ResourceInput,
    SlotQuery,
    Unavailable,
    WeeklyRule,
    explain_unavailable,
    find_slots,
)

UTC = UTC
MON = 1  # ISO weekday
DAY = date(2026, 3, 2)  # a Monday


def utc(h, mi=0):
    return datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(hours=h, minutes=mi)


def rule(start, end):
    return WeeklyRule(frozenset({MON}), start, end)


ROOM_1 = ResourceInput(
    1,
    None,
    blackouts=(Interval(utc(12), utc(13), "blackout: Re-cabling"),),
    busy=(Interval(utc(15), utc(16), "booking SB-7K2QF"),),
)
ROOM_2 = ResourceInput(2, (rule(time(9), time(12)),))
ENGINEER_5 = ResourceInput(
    5, (rule(time(8), time(14)),), busy=(Interval(utc(10), utc(11), "booking SB-AAAAA"),)
)
ENGINEER_6 = ResourceInput(6, None, blackouts=(Interval(utc(9), utc(10), "blackout: Dentist"),))

QUERY = SlotQuery(
    zone="UTC",
    range_start=utc(0),
    range_end=utc(24),
    now=utc(7),
    duration_minutes=60,
    studio_rules=(rule(time(8), time(20)),),
    studio_blackouts=(Interval(utc(18), utc(19), "blackout: Holiday"),),
    rooms=(ROOM_1, ROOM_2),
    engineers=(ENGINEER_5, ENGINEER_6),
    grid_minutes=30,
    lead_time_minutes=60,
    horizon_days=30,
)


def code(start, room_id=1, staff_id=None, q=QUERY):
    found = explain_unavailable(q, start, room_id, staff_id)
    return None if found is None else found.code


def test_bookable_start_returns_none():
    assert explain_unavailable(QUERY, utc(9), 1, None) is None
    assert explain_unavailable(QUERY, utc(9), 1, 5) is None
    assert explain_unavailable(QUERY, utc(9), 2, None) is None


def test_each_code():
    assert code(utc(7, 30)) == "lead_time"
    assert code(utc(8, 15)) == "off_grid"
    assert code(utc(7)) == "lead_time"
    assert code(utc(19, 30)) == "outside_hours"  # studio closes 20:00; 19:30 + 60 min
    assert code(utc(12), room_id=2) == "outside_hours"  # room 2 closes 12:00
    assert code(utc(18)) == "blackout"  # studio holiday
    assert code(utc(11, 30)) == "blackout"  # room 1 re-cabling from 12:00
    assert code(utc(14, 30)) == "busy"  # room 1 booked 15:00
    assert code(utc(9, 30)) == "no_engineer"  # engineer 5 busy from 10:00, 6 blacked out to 10:00
    far = replace(QUERY, horizon_days=0, lead_time_minutes=0)
    assert code(utc(8), q=far) == "horizon"


def test_no_engineer_message_lists_each_engineers_reason():
    q = replace(
        QUERY,
        engineers=(
            ENGINEER_5,
            replace(ENGINEER_6, busy=(Interval(utc(10), utc(10, 1), "hold 42"),)),
        ),
    )
    found = explain_unavailable(q, utc(10), 1, None)
    assert found == Unavailable(found.code, found.message)
    assert found.code == "no_engineer"
    assert "engineer 5 is busy: booking SB-AAAAA" in found.message
    assert "engineer 6 is busy: hold 42" in found.message
    assert explain_unavailable(QUERY, utc(10), 1, None) is None  # engineer 6 is free then


def test_specific_engineer_reports_its_own_reason():
    assert code(utc(10), staff_id=5) == "busy"
    assert code(utc(9), staff_id=6) == "blackout"
    assert code(utc(14), staff_id=5) == "outside_hours"
    found = explain_unavailable(QUERY, utc(10), 1, 5)
    assert "engineer 5" in found.message and "SB-AAAAA" in found.message
    found = explain_unavailable(QUERY, utc(9), 1, 6)
    assert "engineer 6" in found.message and "Dentist" in found.message


def test_messages_name_resource_and_label():
    found = explain_unavailable(QUERY, utc(14, 30), 1, None)
    assert found.code == "busy"
    assert "room 1" in found.message and "booking SB-7K2QF" in found.message
    found = explain_unavailable(QUERY, utc(18), 1, None)
    assert "studio" in found.message and "blackout: Holiday" in found.message
    found = explain_unavailable(QUERY, utc(11, 30), 1, None)
    assert "room 1" in found.message and "Re-cabling" in found.message
    found = explain_unavailable(QUERY, utc(12), 2, None)
    assert "room 2" in found.message and "working hours" in found.message
    found = explain_unavailable(QUERY, utc(8, 15), 1, None)
    assert "08:15:00" in found.message and "30-minute grid" in found.message


def test_first_failing_rule_wins():
    # off grid AND too soon: lead time first
    assert code(utc(7, 15)) == "lead_time"
    # outside studio hours AND studio blackout AND busy
    q = replace(QUERY, studio_blackouts=(Interval(utc(19), utc(23), "late"),))
    assert code(utc(19, 30), q=q) == "outside_hours"
    # room hours (rule 3) before studio blackout (also rule 3, listed after hours)
    q = replace(QUERY, studio_blackouts=(Interval(utc(12), utc(13), "lunch"),))
    assert code(utc(12), room_id=2, q=q) == "outside_hours"
    # studio blackout before room blackout
    q = replace(QUERY, studio_blackouts=(Interval(utc(12), utc(13), "lunch"),))
    assert explain_unavailable(q, utc(12), 1, None).message.startswith("the studio")
    # room blackout before room busy
    q = replace(QUERY, rooms=(replace(ROOM_1, busy=(Interval(utc(12), utc(13), "booking X"),)),))
    assert code(utc(12), q=q) == "blackout"
    # room busy before engineer
    assert code(utc(14, 30), staff_id=5) == "busy"
    assert "room 1" in explain_unavailable(QUERY, utc(14, 30), 1, 5).message


def test_any_room_when_room_id_is_none():
    assert explain_unavailable(QUERY, utc(9), None, None) is None
    assert explain_unavailable(QUERY, utc(13), None, None) is None  # room 1 only
    # room 1 blacked out, room 2 closed: the lowest-id room's code, every room's reason
    found = explain_unavailable(QUERY, utc(12), None, None)
    assert found.code == "blackout"
    assert found.message.startswith("no room is free: room 1 is blacked out: blackout: Re-cabling")
    assert "outside the working hours of room 2" in found.message
    # a single room's reason is passed through unchanged
    only_room_1 = replace(QUERY, rooms=(ROOM_1,))
    assert explain_unavailable(only_room_1, utc(14, 30), None, None) == explain_unavailable(
        only_room_1, utc(14, 30), 1, None
    )
    # no room suits the service at all
    no_rooms = replace(QUERY, rooms=())
    assert explain_unavailable(no_rooms, utc(9), None, None).code == "outside_hours"


def test_invalid_calls_raise():
    with pytest.raises(InvalidQuery):
        explain_unavailable(QUERY, utc(9), 99, None)  # unknown room
    with pytest.raises(InvalidQuery):
        explain_unavailable(QUERY, utc(9), 1, 99)  # unknown engineer
    with pytest.raises(InvalidQuery):
        explain_unavailable(replace(QUERY, rooms=None), utc(9), 1, None)  # no room needed
    with pytest.raises(InvalidQuery):
        explain_unavailable(replace(QUERY, engineers=None), utc(9), 1, 5)  # no engineer needed
    with pytest.raises(InvalidQuery):
        explain_unavailable(QUERY, datetime(2026, 3, 2, 9), 1, None)  # noqa: DTZ001 - naive on purpose
    with pytest.raises(InvalidQuery):
        explain_unavailable(replace(QUERY, range_end=utc(9)), utc(9), 1, None)  # outside range
    with pytest.raises(InvalidQuery):
        explain_unavailable(replace(QUERY, zone="Nowhere/Atlantis"), utc(9), 1, None)


def test_agrees_with_find_slots_on_every_minute_of_the_day():
    offered = {(s.start, s.room_id): s.staff_ids for s in find_slots(QUERY)}
    assert offered  # the scenario offers something
    for minute in range(0, 24 * 60, 5):
        start = utc(0, minute)
        for room_id in (1, 2):
            found = explain_unavailable(QUERY, start, room_id, None)
            assert (found is None) == ((start, room_id) in offered), (start, room_id, found)
            for staff_id in (5, 6):
                found = explain_unavailable(QUERY, start, room_id, staff_id)
                assert (found is None) == (staff_id in offered.get((start, room_id), ())), (
                    start,
                    room_id,
                    staff_id,
                )
        any_room = explain_unavailable(QUERY, start, None, None)
        assert (any_room is None) == any((start, r) in offered for r in (1, 2))


def test_neither_service():
    q = replace(QUERY, rooms=None, engineers=None)
    assert explain_unavailable(q, utc(12), None, None) is None
    assert explain_unavailable(q, utc(18), None, None).code == "blackout"
