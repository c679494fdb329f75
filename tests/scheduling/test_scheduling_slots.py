"""find_slots: the five rules, service shapes, ordering, pricing and validation."""

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine

from studiobook.scheduling import (
    Interval,
    InvalidDuration,
    InvalidQuery,
    PriceRule,
    ResourceInput,
    Slot,
    SlotQuery,
    WeeklyRule,
    allocation_span,
    effective_buffers,
    find_slots,
)

UTC = UTC
MON, TUE, WED, THU, FRI, SAT, SUN = range(1, 8)  # ISO weekdays
DAY = date(2026, 3, 2)  # a Monday


def utc(h, mi=0, *, d=DAY):
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=h, minutes=mi)


def rule(days, start, end, **kw):
    return WeeklyRule(frozenset(days), start, end, **kw)


def query(**kw):
    """A UTC studio open Monday 08:00-14:00; 60-minute sessions on a 60-minute grid."""
    base = dict(
        zone="UTC",
        range_start=utc(0),
        range_end=utc(24),
        now=utc(0) - timedelta(days=1),
        duration_minutes=60,
        studio_rules=(rule({MON}, time(8), time(14)),),
        grid_minutes=60,
    )
    base.update(kw)
    return SlotQuery(**base)


def starts(slots):
    return [s.start for s in slots]


def rows(slots):
    return [(s.start, s.end, s.room_id, s.staff_ids) for s in slots]


def room(rid, rules=None, **kw):
    return ResourceInput(rid, rules, **kw)


# -- service shapes -------------------------------------------------------------------


def test_neither_room_nor_engineer_is_studio_hours_minus_studio_blackouts():
    q = query(studio_blackouts=(Interval(utc(10), utc(11), "blackout: Holiday"),))
    assert find_slots(q) == [
        Slot(utc(8), utc(9), None, (), 0),
        Slot(utc(9), utc(10), None, (), 0),
        Slot(utc(11), utc(12), None, (), 0),
        Slot(utc(12), utc(13), None, (), 0),
        Slot(utc(13), utc(14), None, (), 0),
    ]
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in find_slots(q))


def test_room_only_service():
    q = query(
        rooms=(
            room(2, (rule({MON}, time(10), time(12)),)),
            room(1, busy=(Interval(utc(10), utc(11), "booking SB-AAAAA"),)),
        )
    )
    assert rows(find_slots(q)) == [
        (utc(8), utc(9), 1, ()),
        (utc(9), utc(10), 1, ()),
        (utc(10), utc(11), 2, ()),
        (utc(11), utc(12), 1, ()),
        (utc(11), utc(12), 2, ()),
        (utc(12), utc(13), 1, ()),
        (utc(13), utc(14), 1, ()),
    ]


def test_engineer_only_service_lists_all_free_engineers_ascending():
    q = query(
        engineers=(
            ResourceInput(5, (rule({MON}, time(9), time(11)),)),
            ResourceInput(3, None, busy=(Interval(utc(11), utc(12), "booking SB-BBBBB"),)),
            ResourceInput(4, (rule({TUE}, time(8), time(14)),)),
        )
    )
    assert rows(find_slots(q)) == [
        (utc(8), utc(9), None, (3,)),
        (utc(9), utc(10), None, (3, 5)),
        (utc(10), utc(11), None, (3, 5)),
        (utc(12), utc(13), None, (3,)),
        (utc(13), utc(14), None, (3,)),
    ]


def test_room_and_engineer_service():
    q = query(
        rooms=(room(1, busy=(Interval(utc(9), utc(10), "booking SB-CCCCC"),)), room(2)),
        engineers=(
            ResourceInput(7, (rule({MON}, time(8), time(11)),)),
            ResourceInput(
                8, (rule({MON}, time(10), time(14)),), busy=(Interval(utc(12), utc(13)),)
            ),
        ),
    )
    assert rows(find_slots(q)) == [
        (utc(8), utc(9), 1, (7,)),
        (utc(8), utc(9), 2, (7,)),
        (utc(9), utc(10), 2, (7,)),
        (utc(10), utc(11), 1, (7, 8)),
        (utc(10), utc(11), 2, (7, 8)),
        (utc(11), utc(12), 1, (8,)),
        (utc(11), utc(12), 2, (8,)),
        (utc(13), utc(14), 1, (8,)),
        (utc(13), utc(14), 2, (8,)),
    ]


def test_empty_rooms_or_engineers_mean_no_slots():
    assert find_slots(query(rooms=())) == []
    assert find_slots(query(engineers=())) == []
    assert find_slots(query(rooms=(room(1),), engineers=())) == []


def test_resource_with_empty_rules_is_never_available():
    assert find_slots(query(rooms=(room(1, ()),))) == []
    assert find_slots(query(engineers=(ResourceInput(1, ()),))) == []


def test_studio_rules_none_is_always_open_and_empty_is_never():
    q = query(studio_rules=None, range_start=utc(22), range_end=utc(26))
    assert starts(find_slots(q)) == [utc(22), utc(23), utc(24), utc(25)]
    assert find_slots(query(studio_rules=())) == []


def test_resource_windows_intersect_studio_windows():
    q = query(rooms=(room(1, (rule({MON}, time(6), time(10)), rule({MON}, time(13), time(20)))),))
    assert starts(find_slots(q)) == [utc(8), utc(9), utc(13)]


# -- buffers ----------------------------------------------------------------------------


def test_buffers_take_the_max_of_service_and_resource():
    r = room(1, buffer_before_minutes=30, busy=(Interval(utc(10), utc(11), "booking SB-DDDDD"),))
    q = query(rooms=(r,), grid_minutes=15, buffer_before_minutes=15, buffer_after_minutes=15)
    assert effective_buffers(q, r) == (30, 15)
    # starts in (10:00 - 60 - 15, 11:00 + 30) = (08:45, 11:30) are forbidden; endpoints touch only
    assert starts(find_slots(q)) == [
        utc(8), utc(8, 15), utc(8, 30), utc(8, 45),
        utc(11, 30), utc(11, 45), utc(12), utc(12, 15), utc(12, 30), utc(12, 45), utc(13),
    ]  # fmt: skip


def test_engineer_buffers_are_per_engineer():
    busy = (Interval(utc(11), utc(12)),)
    engineers = (
        ResourceInput(1, None, busy=busy, buffer_after_minutes=60),
        ResourceInput(2, None, busy=busy),
    )
    q = query(engineers=engineers, grid_minutes=30)
    assert [(s.start, s.staff_ids) for s in find_slots(q)] == [
        (utc(8), (1, 2)),
        (utc(8, 30), (1, 2)),
        (utc(9), (1, 2)),  # 09:00-10:00 plus 60 min after just touches 11:00
        (utc(9, 30), (2,)),  # engineer 1's 60 min after-buffer overlaps 11:00
        (utc(10), (2,)),
        (utc(12), (1, 2)),
        (utc(12, 30), (1, 2)),
        (utc(13), (1, 2)),
    ]
    assert effective_buffers(q, engineers[0]) == (0, 60)
    assert effective_buffers(q, None) == (0, 0)


def test_buffers_do_not_apply_to_blackouts_or_working_hours():
    q = query(
        grid_minutes=30,
        buffer_before_minutes=30,
        buffer_after_minutes=30,
        rooms=(room(1, blackouts=(Interval(utc(10, 30), utc(11), "blackout: Cleaning"),)),),
    )
    assert starts(find_slots(q)) == [
        utc(8),
        utc(8, 30),
        utc(9),
        utc(9, 30),
        utc(11),
        utc(11, 30),
        utc(12),
        utc(12, 30),
        utc(13),
    ]


def test_allocation_span_widens_by_buffers():
    span = allocation_span(utc(10), utc(12), 15, 30)
    assert (span.start, span.end, span.label) == (utc(9, 45), utc(12, 30), "")
    assert allocation_span(utc(10), utc(12), 0, 0, label="booking X").label == "booking X"
    with pytest.raises(InvalidQuery):
        allocation_span(utc(10), utc(12), -5, 0)


def test_busy_from_allocation_span_blocks_with_new_buffers_too():
    existing = allocation_span(utc(10), utc(11), 15, 15, label="booking SB-EEEEE")
    q = query(rooms=(room(1, busy=(existing,)),), grid_minutes=15, buffer_after_minutes=15)
    got = starts(find_slots(q))
    assert utc(8, 30) in got and utc(8, 45) not in got  # 08:45+60+15 = 10:00 > 09:45
    assert utc(11, 15) in got and utc(11) not in got


# -- blackouts -------------------------------------------------------------------------


def test_studio_and_room_blackouts():
    q = query(
        grid_minutes=30,
        studio_blackouts=(Interval(utc(10, 30), utc(11), "blackout: Holiday"),),
        rooms=(room(1), room(2, blackouts=(Interval(utc(12), utc(12, 1), "blackout: Tuning"),))),
    )
    assert [(s.start, s.room_id) for s in find_slots(q)] == [
        (utc(8), 1), (utc(8), 2), (utc(8, 30), 1), (utc(8, 30), 2),
        (utc(9), 1), (utc(9), 2), (utc(9, 30), 1), (utc(9, 30), 2),
        (utc(11), 1), (utc(11), 2), (utc(11, 30), 1),
        (utc(12), 1), (utc(12, 30), 1), (utc(12, 30), 2), (utc(13), 1), (utc(13), 2),
    ]  # fmt: skip


# -- lead time, horizon, range ---------------------------------------------------------------


def test_lead_time_is_inclusive_and_exact_to_the_microsecond():
    now = utc(7, 7) + timedelta(seconds=30, microseconds=5)
    q = query(now=now, lead_time_minutes=60, grid_minutes=15)
    assert starts(find_slots(q))[0] == utc(8, 15)
    q = query(now=utc(7), lead_time_minutes=60, grid_minutes=15)
    assert starts(find_slots(q))[0] == utc(8)


def test_horizon_is_inclusive():
    q = query(
        studio_rules=None,
        now=utc(9) - timedelta(days=1),
        horizon_days=1,
        range_start=utc(7),
        range_end=utc(12),
    )
    assert starts(find_slots(q)) == [utc(7), utc(8), utc(9)]
    assert find_slots(replace(q, horizon_days=0)) == []


def test_range_bounds_starts_only():
    q = query(range_start=utc(9), range_end=utc(11, 1))
    got = find_slots(q)
    assert starts(got) == [utc(9), utc(10), utc(11)]
    assert got[-1].end == utc(12)


def test_past_starts_are_not_offered():
    assert starts(find_slots(query(now=utc(10, 30)))) == [utc(11), utc(12), utc(13)]


# -- grid ------------------------------------------------------------------------------


def test_grid_follows_local_time_in_half_hour_zone():
    q = query(
        zone="Asia/Kolkata",
        studio_rules=None,
        range_start=utc(0),
        range_end=utc(3, 1),
        grid_minutes=60,
    )
    assert starts(find_slots(q)) == [utc(0, 30), utc(1, 30), utc(2, 30)]


def test_grid_restarts_at_local_midnight_when_it_does_not_divide_the_day():
    q = query(
        studio_rules=None,
        range_start=utc(22, 30),
        range_end=utc(24, 30),
        grid_minutes=25,
        duration_minutes=10,
    )
    # minute-of-day 1350, 1375, 1400, 1425, then 0 (not 1450 - 1440 = 10), 25
    assert starts(find_slots(q)) == [
        utc(22, 30),
        utc(22, 55),
        utc(23, 20),
        utc(23, 45),
        utc(24),
        utc(24, 25),
    ]


def test_range_start_off_grid_rounds_up():
    q = query(range_start=utc(8, 0) + timedelta(seconds=1), grid_minutes=30)
    assert starts(find_slots(q))[:2] == [utc(8, 30), utc(9)]


# -- windows shapes --------------------------------------------------------------------


def test_overnight_window_spans_midnight():
    fri = date(2026, 3, 6)
    q = query(
        studio_rules=(rule({FRI}, time(22), time(2), effective_to=fri),),
        range_start=utc(0, d=fri),
        range_end=utc(48, d=fri),
        duration_minutes=180,
    )
    assert rows(find_slots(q)) == [
        (utc(22, d=fri), utc(25, d=fri), None, ()),
        (utc(23, d=fri), utc(26, d=fri), None, ()),
    ]


def test_adjacent_rules_merge_so_a_session_can_straddle_them():
    q = query(
        studio_rules=(rule({MON}, time(9), time(12)), rule({MON}, time(12), time(15))),
        duration_minutes=360,
    )
    assert rows(find_slots(q)) == [(utc(9), utc(15), None, ())]


def test_effective_dates():
    q = query(
        studio_rules=(
            rule(
                range(1, 8),
                time(9),
                time(10),
                effective_from=date(2026, 3, 3),
                effective_to=date(2026, 3, 4),
            ),
        ),
        range_start=utc(0),
        range_end=utc(0, d=date(2026, 3, 9)),
    )
    assert starts(find_slots(q)) == [utc(9, d=date(2026, 3, 3)), utc(9, d=date(2026, 3, 4))]


# -- output contract -------------------------------------------------------------------


def test_price_is_carried_on_every_slot():
    got = find_slots(query(duration_minutes=90, price=PriceRule("hour", 4500)))
    assert {s.price_minor for s in got} == {6750}
    got = find_slots(query(price=PriceRule("session", 12345)))
    assert {s.price_minor for s in got} == {12345}


def test_output_is_deterministic_and_independent_of_input_order():
    rng = random.Random(7)
    rooms = [
        room(
            i,
            busy=tuple(
                Interval(utc(h), utc(h + 1), f"b{i}{h}") for h in rng.sample(range(8, 14), 2)
            ),
        )
        for i in (3, 1, 2)
    ]
    engineers = [
        ResourceInput(i, None, busy=(Interval(utc(8 + i), utc(9 + i)),)) for i in (4, 2, 9)
    ]
    q = query(rooms=tuple(rooms), engineers=tuple(engineers), grid_minutes=15)
    first = find_slots(q)
    assert first == find_slots(q)
    shuffled = replace(
        q,
        rooms=tuple(replace(r, busy=tuple(reversed(r.busy))) for r in reversed(rooms)),
        engineers=tuple(reversed(engineers)),
    )
    assert find_slots(shuffled) == first
    keys = [(s.start, s.room_id) for s in first]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(list(s.staff_ids) == sorted(s.staff_ids) for s in first)


def test_never_reads_the_clock():
    q = query()
    with time_machine.travel(datetime(2001, 1, 1, tzinfo=UTC), tick=False):
        past = find_slots(q)
    with time_machine.travel(datetime(2099, 1, 1, tzinfo=UTC), tick=False):
        future = find_slots(q)
    assert past == future == find_slots(q)


def test_non_utc_aware_inputs_are_treated_as_instants():
    from zoneinfo import ZoneInfo

    tor = ZoneInfo("America/Toronto")
    q = query(range_start=utc(9).astimezone(tor), range_end=utc(11).astimezone(tor))
    assert find_slots(q) == find_slots(query(range_start=utc(9), range_end=utc(11)))
    assert all(s.start.tzinfo is UTC for s in find_slots(q))


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"zone": "Nowhere/Atlantis"},
        {"zone": ""},
        {"range_start": datetime(2026, 3, 2)},  # noqa: DTZ001 - naive on purpose
        {"now": datetime(2026, 3, 2)},  # noqa: DTZ001 - naive on purpose
        {"range_end": utc(0)},
        {"grid_minutes": 0},
        {"lead_time_minutes": -1},
        {"horizon_days": -1},
        {"buffer_after_minutes": -5},
        {"rooms": (ResourceInput(1, None), ResourceInput(1, None))},
        {"engineers": (ResourceInput(2, None), ResourceInput(2, None))},
    ],
)
def test_invalid_queries_raise_invalid_query(changes):
    with pytest.raises(InvalidQuery) as info:
        find_slots(query(**changes))
    assert info.value.code == "invalid_query"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("duration", [0, -60])
def test_non_positive_duration_raises_invalid_duration(duration):
    with pytest.raises(InvalidDuration) as info:
        find_slots(query(duration_minutes=duration))
    assert info.value.code == "invalid_duration"


def test_resource_input_validation_and_coercion():
    with pytest.raises(InvalidQuery):
        ResourceInput(1, None, buffer_before_minutes=-1)
    r = ResourceInput(1, [rule({MON}, time(9), time(10))], busy=[Interval(utc(9), utc(10))])
    assert isinstance(r.rules, tuple) and isinstance(r.busy, tuple)
    with pytest.raises(InvalidQuery):
        PriceRule("day", 100)
