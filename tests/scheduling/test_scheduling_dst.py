"""find_slots across DST changes: exact UTC slot lists, real elapsed durations,
no slot at a nonexistent local time, both instants of an ambiguous one."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from studiobook.scheduling import SlotQuery, WeeklyRule, find_slots, working_windows

UTC = UTC
SUN = 7  # ISO weekday

TORONTO_SPRING = date(2026, 3, 8)  # 02:00 EST -> 03:00 EDT at 07:00Z
TORONTO_FALL = date(2026, 11, 1)  # 02:00 EDT -> 01:00 EST at 06:00Z
LONDON_SPRING = date(2026, 3, 29)  # 01:00 GMT -> 02:00 BST at 01:00Z
LONDON_FALL = date(2026, 10, 25)  # 02:00 BST -> 01:00 GMT at 01:00Z


def z(d, h, mi=0):
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=h, minutes=mi)


def sunday_query(zone, day, start, end, *, duration=60, grid=30):
    return SlotQuery(
        zone=zone,
        range_start=z(day, -24),
        range_end=z(day, 48),
        now=z(day, -30 * 24),
        duration_minutes=duration,
        studio_rules=(WeeklyRule(frozenset({SUN}), start, end),),
        grid_minutes=grid,
    )


def every(first, last, minutes=30):
    out, t = [], first
    while t <= last:
        out.append(t)
        t += timedelta(minutes=minutes)
    return out


TOR, LON = "America/Toronto", "Europe/London"
TS, TF, LS, LF = TORONTO_SPRING, TORONTO_FALL, LONDON_SPRING, LONDON_FALL

# (zone, Sunday, rule start, rule end, expected slot starts) - 60-minute slots, 30-minute grid
# fmt: off
CASES = [
    # Toronto spring: [05:00Z, 08:00Z) - local 00:00, 00:30, 01:00, 01:30 EST then 03:00 EDT
    (TOR, TS, time(0), time(4), every(z(TS, 5), z(TS, 7))),
    (TOR, TS, time(1), time(3), [z(TS, 6)]),
    (TOR, TS, time(2, 30), time(5), every(z(TS, 7), z(TS, 8))),
    # Toronto fall: [04:00Z, 09:00Z) is five real hours
    (TOR, TF, time(0), time(4), every(z(TF, 4), z(TF, 8))),
    (TOR, TF, time(1), time(3), every(z(TF, 5), z(TF, 7))),
    (TOR, TF, time(2, 30), time(5), every(z(TF, 7, 30), z(TF, 9))),
    # London spring: [00:00Z, 03:00Z)
    (LON, LS, time(0), time(4), every(z(LS, 0), z(LS, 2))),
    (LON, LS, time(1), time(3), [z(LS, 1)]),
    (LON, LS, time(2, 30), time(5), every(z(LS, 1, 30), z(LS, 3))),
    # London fall: [23:00Z Saturday, 04:00Z)
    (LON, LF, time(0), time(4), every(z(LF, -1), z(LF, 3))),
    (LON, LF, time(1), time(3), every(z(LF, 0), z(LF, 2))),
    (LON, LF, time(2, 30), time(5), every(z(LF, 2, 30), z(LF, 4))),
]
# fmt: on


@pytest.mark.parametrize(("zone", "day", "start", "end", "expected"), CASES)
def test_dst_day_slots(zone, day, start, end, expected):
    got = find_slots(sunday_query(zone, day, start, end))
    assert [(s.start, s.end) for s in got] == [(t, t + timedelta(hours=1)) for t in expected]


@pytest.mark.parametrize(
    ("zone", "day", "expected_start"),
    [
        ("America/Toronto", TORONTO_SPRING, z(TORONTO_SPRING, 14)),
        ("America/Toronto", TORONTO_FALL, z(TORONTO_FALL, 15)),
        ("Europe/London", LONDON_SPRING, z(LONDON_SPRING, 9)),
        ("Europe/London", LONDON_FALL, z(LONDON_FALL, 10)),
    ],
)
def test_ten_to_six_is_eight_real_hours_on_dst_days(zone, day, expected_start):
    got = find_slots(sunday_query(zone, day, time(10), time(18), duration=8 * 60, grid=60))
    assert [(s.start, s.end) for s in got] == [
        (expected_start, expected_start + timedelta(hours=8))
    ]
    assert (
        find_slots(sunday_query(zone, day, time(10), time(18), duration=8 * 60 + 1, grid=1)) == []
    )


@pytest.mark.parametrize(
    ("zone", "day", "first"),
    [
        ("America/Toronto", TORONTO_SPRING, z(TORONTO_SPRING, 17)),
        ("America/Toronto", TORONTO_FALL, z(TORONTO_FALL, 18)),
        ("Europe/London", LONDON_SPRING, z(LONDON_SPRING, 12)),
        ("Europe/London", LONDON_FALL, z(LONDON_FALL, 13)),
    ],
)
def test_afternoon_rules_on_dst_days(zone, day, first):
    # 13:00-22:00 local, 2-hour sessions hourly: 13:00 .. 20:00 local
    got = find_slots(sunday_query(zone, day, time(13), time(22), duration=120, grid=60))
    assert [s.start for s in got] == every(first, first + timedelta(hours=7), 60)
    assert all(s.end - s.start == timedelta(hours=2) for s in got)


def test_no_slot_at_nonexistent_local_time():
    q = SlotQuery(
        zone="America/Toronto",
        range_start=z(TORONTO_SPRING, 5),
        range_end=z(TORONTO_SPRING, 9),
        now=z(TORONTO_SPRING, -48),
        duration_minutes=30,
        studio_rules=None,
        grid_minutes=30,
    )
    got = find_slots(q)
    assert [s.start for s in got] == every(z(TORONTO_SPRING, 5), z(TORONTO_SPRING, 8, 30))
    local = [s.start.astimezone(ZoneInfo("America/Toronto")).strftime("%H:%M") for s in got]
    assert local == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30", "04:00", "04:30"]


def test_ambiguous_local_time_offers_both_instants():
    q = SlotQuery(
        zone="America/Toronto",
        range_start=z(TORONTO_FALL, 5),
        range_end=z(TORONTO_FALL, 7),
        now=z(TORONTO_FALL, -48),
        duration_minutes=30,
        studio_rules=None,
        grid_minutes=30,
    )
    got = find_slots(q)
    assert [s.start for s in got] == every(z(TORONTO_FALL, 5), z(TORONTO_FALL, 6, 30))
    local = [s.start.astimezone(ZoneInfo("America/Toronto")).strftime("%H:%M %Z") for s in got]
    assert local == ["01:00 EDT", "01:30 EDT", "01:00 EST", "01:30 EST"]


def test_grid_follows_local_time_after_a_half_hour_dst_change():
    # Australia/Lord_Howe 2026-04-05 02:00 (+11) -> 01:30 (+10:30) at 15:00Z on the 4th
    q = SlotQuery(
        zone="Australia/Lord_Howe",
        range_start=datetime(2026, 4, 4, 13, tzinfo=UTC),
        range_end=datetime(2026, 4, 4, 18, tzinfo=UTC),
        now=datetime(2026, 4, 1, tzinfo=UTC),
        duration_minutes=60,
        studio_rules=None,
        grid_minutes=60,
    )
    assert [s.start.strftime("%H:%M") for s in find_slots(q)] == [
        "13:00",
        "14:00",
        "15:30",
        "16:30",
        "17:30",
    ]


def test_overnight_window_across_spring_forward_is_seven_real_hours():
    q = SlotQuery(
        zone="America/Toronto",
        range_start=z(TORONTO_SPRING, -24),
        range_end=z(TORONTO_SPRING, 24),
        now=z(TORONTO_SPRING, -48),
        duration_minutes=7 * 60,
        studio_rules=(WeeklyRule(frozenset({6}), time(22), time(6)),),  # Saturday night
        grid_minutes=60,
    )
    got = find_slots(q)
    assert [(s.start, s.end) for s in got] == [(z(TORONTO_SPRING, 3), z(TORONTO_SPRING, 10))]


@pytest.mark.parametrize(("zone", "day", "end", "expected_end"), [
    # Toronto falls back from 02:00 EDT to 01:00 EST: 01:00 is first read at 05:00 UTC and the
    # clock never reads earlier again, so a day ending at 01:00 ends then, not at 06:00 UTC.
    ("America/Toronto", date(2026, 11, 1), time(1, 0), datetime(2026, 11, 1, 5, 0, tzinfo=UTC)),
    # 01:30 is read twice with 01:00-01:29 EST in between: the window ends at the second.
    ("America/Toronto", date(2026, 11, 1), time(1, 30), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    # Lord Howe falls back 30 minutes, from 02:00 (+11) to 01:30 (+10:30).
    ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 30),
     datetime(2026, 4, 4, 14, 30, tzinfo=UTC)),
    ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45),
     datetime(2026, 4, 4, 15, 15, tzinfo=UTC)),
])
def test_a_window_ends_where_the_wall_clock_passes_its_end_for_good(zone, day, end,
                                                                     expected_end):
    rule = WeeklyRule(weekdays=frozenset(range(1, 8)), start_time=time(0), end_time=end)
    tz = ZoneInfo(zone)
    windows = working_windows((rule,), zone,
                              datetime.combine(day, time(0), tz).astimezone(UTC),
                              datetime.combine(day, time(12), tz).astimezone(UTC))
    assert [w.end for w in windows] == [expected_end]
