"""working_windows: weekly rules -> UTC windows, incl. DST, overnight, effective dates."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from studiobook.scheduling import Interval, InvalidQuery, WeeklyRule, working_windows

UTC = UTC
MON, TUE, WED, THU, FRI, SAT, SUN = range(1, 8)  # ISO weekdays


def utc(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def rule(days, start, end, **kw):
    return WeeklyRule(frozenset(days), start, end, **kw)


def spans(windows):
    return [(w.start, w.end) for w in windows]


def test_simple_weekday_rule_in_utc():
    got = working_windows(
        (rule({MON, WED}, time(9), time(17)),), "UTC", utc(2026, 3, 2), utc(2026, 3, 9)
    )
    assert spans(got) == [
        (utc(2026, 3, 2, 9), utc(2026, 3, 2, 17)),
        (utc(2026, 3, 4, 9), utc(2026, 3, 4, 17)),
    ]
    assert all(w.start.tzinfo is UTC and w.label == "" for w in got)


def test_windows_are_clipped_to_range():
    got = working_windows(
        (rule({MON}, time(9), time(17)),), "UTC", utc(2026, 3, 2, 10), utc(2026, 3, 2, 12)
    )
    assert spans(got) == [(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12))]


def test_local_zone_conversion():
    got = working_windows(
        (rule({MON}, time(9), time(17)),), "America/Toronto", utc(2026, 3, 2), utc(2026, 3, 3)
    )
    assert spans(got) == [(utc(2026, 3, 2, 14), utc(2026, 3, 2, 22))]


def test_none_is_unrestricted_and_empty_is_never():
    assert spans(working_windows(None, "UTC", utc(2026, 3, 2), utc(2026, 3, 3))) == [
        (utc(2026, 3, 2), utc(2026, 3, 3))
    ]
    assert working_windows((), "UTC", utc(2026, 3, 2), utc(2026, 3, 3)) == []


def test_overnight_window_from_the_day_before_reaches_into_range():
    # Friday 22:00 -> Saturday 02:00; the range starts on Saturday.
    got = working_windows(
        (rule({FRI}, time(22), time(2)),), "UTC", utc(2026, 3, 7), utc(2026, 3, 8)
    )
    assert spans(got) == [(utc(2026, 3, 7), utc(2026, 3, 7, 2))]
    got = working_windows(
        (rule({FRI}, time(22), time(2)),), "UTC", utc(2026, 3, 6), utc(2026, 3, 8)
    )
    assert spans(got) == [(utc(2026, 3, 6, 22), utc(2026, 3, 7, 2))]


def test_end_midnight_and_equal_times():
    got = working_windows(
        (rule({MON}, time(18), time(0)),), "UTC", utc(2026, 3, 2), utc(2026, 3, 4)
    )
    assert spans(got) == [(utc(2026, 3, 2, 18), utc(2026, 3, 3))]
    # equal start and end: a full 24 hours
    got = working_windows((rule({MON}, time(9), time(9)),), "UTC", utc(2026, 3, 2), utc(2026, 3, 4))
    assert spans(got) == [(utc(2026, 3, 2, 9), utc(2026, 3, 3, 9))]


def test_adjacent_and_overlapping_windows_merge():
    rules = (
        rule({MON}, time(9), time(12)),
        rule({MON}, time(12), time(15)),
        rule({MON}, time(14), time(16)),
        rule({MON}, time(18), time(0)),
        rule({TUE}, time(0), time(1)),
    )
    got = working_windows(rules, "UTC", utc(2026, 3, 2), utc(2026, 3, 4))
    assert spans(got) == [
        (utc(2026, 3, 2, 9), utc(2026, 3, 2, 16)),
        (utc(2026, 3, 2, 18), utc(2026, 3, 3, 1)),
    ]


def test_every_day_all_day_is_one_window():
    got = working_windows(
        (rule(range(1, 8), time(0), time(0)),), "Europe/London", utc(2026, 3, 27), utc(2026, 4, 1)
    )
    assert spans(got) == [(utc(2026, 3, 27), utc(2026, 4, 1))]


def test_effective_dates_are_inclusive_local_start_dates():
    r = rule(
        range(1, 8),
        time(9),
        time(10),
        effective_from=date(2026, 3, 4),
        effective_to=date(2026, 3, 5),
    )
    got = working_windows((r,), "UTC", utc(2026, 3, 2), utc(2026, 3, 9))
    assert spans(got) == [
        (utc(2026, 3, 4, 9), utc(2026, 3, 4, 10)),
        (utc(2026, 3, 5, 9), utc(2026, 3, 5, 10)),
    ]


def test_effective_to_keeps_the_overnight_tail_of_its_last_day():
    r = rule({FRI}, time(22), time(2), effective_to=date(2026, 3, 6))
    got = working_windows((r,), "UTC", utc(2026, 3, 6), utc(2026, 3, 14))
    assert spans(got) == [(utc(2026, 3, 6, 22), utc(2026, 3, 7, 2))]


def test_effective_dates_compare_local_dates_not_utc_dates():
    # 20:00-23:00 in Toronto is 01:00-04:00 UTC on the NEXT UTC date.
    r = rule(
        range(1, 8),
        time(20),
        time(23),
        effective_from=date(2026, 3, 3),
        effective_to=date(2026, 3, 3),
    )
    got = working_windows((r,), "America/Toronto", utc(2026, 3, 1), utc(2026, 3, 6))
    assert spans(got) == [(utc(2026, 3, 4, 1), utc(2026, 3, 4, 4))]


def test_inverted_effective_dates_never_apply():
    r = rule(
        range(1, 8),
        time(9),
        time(10),
        effective_from=date(2026, 3, 5),
        effective_to=date(2026, 3, 4),
    )
    assert working_windows((r,), "UTC", utc(2026, 3, 1), utc(2026, 3, 9)) == []


# -- DST ------------------------------------------------------------------------------

TOR, LON = "America/Toronto", "Europe/London"
TS, TF = date(2026, 3, 8), date(2026, 11, 1)  # Toronto spring forward 07:00Z, fall back 06:00Z
LS, LF = date(2026, 3, 29), date(2026, 10, 25)  # London spring forward 01:00Z, fall back 01:00Z


def at(day, h, mi=0):
    """UTC instant ``h:mi`` hours after UTC midnight of ``day`` (h may be negative)."""
    return utc(day.year, day.month, day.day) + timedelta(hours=h, minutes=mi)


# (zone, local Sunday of the change, rule start, rule end, expected UTC start, expected UTC end)
# fmt: off
DST_CASES = [
    # Toronto spring forward: 02:00 EST -> 03:00 EDT
    (TOR, TS, time(0), time(4), at(TS, 5), at(TS, 8)),
    (TOR, TS, time(1), time(3), at(TS, 6), at(TS, 7)),
    (TOR, TS, time(2, 30), time(5), at(TS, 7), at(TS, 9)),  # nonexistent start -> gap end
    (TOR, TS, time(0), time(2, 30), at(TS, 5), at(TS, 7)),  # nonexistent end -> gap end
    (TOR, TS, time(10), time(18), at(TS, 14), at(TS, 22)),
    (TOR, TS, time(13), time(22), at(TS, 17), at(TS, 26)),
    # Toronto fall back: 02:00 EDT -> 01:00 EST
    (TOR, TF, time(0), time(4), at(TF, 4), at(TF, 9)),
    (TOR, TF, time(1), time(3), at(TF, 5), at(TF, 8)),  # ambiguous start -> earlier (EDT)
    (TOR, TF, time(2, 30), time(5), at(TF, 7, 30), at(TF, 10)),
    (TOR, TF, time(0), time(1, 30), at(TF, 4), at(TF, 6, 30)),  # ambiguous end -> later (EST)
    (TOR, TF, time(1, 30), time(3), at(TF, 5, 30), at(TF, 8)),
    (TOR, TF, time(10), time(18), at(TF, 15), at(TF, 23)),
    (TOR, TF, time(13), time(22), at(TF, 18), at(TF, 27)),
    # London spring forward: 01:00 GMT -> 02:00 BST
    (LON, LS, time(0), time(4), at(LS, 0), at(LS, 3)),
    (LON, LS, time(1), time(3), at(LS, 1), at(LS, 2)),  # nonexistent start -> gap end
    (LON, LS, time(2, 30), time(5), at(LS, 1, 30), at(LS, 4)),
    (LON, LS, time(0), time(1, 30), at(LS, 0), at(LS, 1)),  # nonexistent end -> gap end
    (LON, LS, time(10), time(18), at(LS, 9), at(LS, 17)),
    (LON, LS, time(13), time(22), at(LS, 12), at(LS, 21)),
    # London fall back: 02:00 BST -> 01:00 GMT
    (LON, LF, time(0), time(4), at(LF, -1), at(LF, 4)),
    (LON, LF, time(1), time(3), at(LF, 0), at(LF, 3)),  # ambiguous start -> earlier (BST)
    (LON, LF, time(2, 30), time(5), at(LF, 2, 30), at(LF, 5)),
    (LON, LF, time(0), time(1, 30), at(LF, -1), at(LF, 1, 30)),  # ambiguous end -> later (GMT)
    (LON, LF, time(10), time(18), at(LF, 10), at(LF, 18)),
    (LON, LF, time(13), time(22), at(LF, 13), at(LF, 22)),
]
# fmt: on


@pytest.mark.parametrize(("zone", "day", "start", "end", "want_start", "want_end"), DST_CASES)
def test_dst_windows(zone, day, start, end, want_start, want_end):
    got = working_windows(
        (rule({SUN}, start, end),),
        zone,
        utc(day.year, day.month, day.day) - timedelta(days=1),
        utc(day.year, day.month, day.day) + timedelta(days=2),
    )
    assert spans(got) == [(want_start, want_end)]


def test_dst_real_elapsed_lengths():
    def length(zone, day, start, end):
        (w,) = working_windows(
            (rule({day.isoweekday()}, start, end),),
            zone,
            utc(day.year, day.month, day.day) - timedelta(days=1),
            utc(day.year, day.month, day.day) + timedelta(days=2),
        )
        return w.end - w.start

    hours = timedelta(hours=1)
    assert length("America/Toronto", date(2026, 3, 8), time(0), time(4)) == 3 * hours
    assert length("America/Toronto", date(2026, 11, 1), time(0), time(4)) == 5 * hours
    assert length("America/Toronto", date(2026, 3, 8), time(10), time(18)) == 8 * hours
    assert length("America/Toronto", date(2026, 11, 1), time(10), time(18)) == 8 * hours
    # Saturday-night overnight windows crossing the change
    assert length("America/Toronto", date(2026, 3, 7), time(22), time(6)) == 7 * hours
    assert length("America/Toronto", date(2026, 10, 31), time(22), time(6)) == 9 * hours
    assert length("Europe/London", date(2026, 3, 28), time(22), time(6)) == 7 * hours
    assert length("Europe/London", date(2026, 10, 24), time(22), time(6)) == 9 * hours
    # a "24 hour" day is 23 or 25 real hours
    assert length("Europe/London", date(2026, 3, 29), time(0), time(0)) == 23 * hours
    assert length("Europe/London", date(2026, 10, 25), time(0), time(0)) == 25 * hours


def test_half_hour_dst_zone_lord_howe():
    # Australia/Lord_Howe 2026-04-05 02:00 (+11) -> 01:30 (+10:30) at 15:00Z on the 4th
    got = working_windows(
        (rule({SUN}, time(1, 45), time(3)),),
        "Australia/Lord_Howe",
        utc(2026, 4, 3),
        utc(2026, 4, 6),
    )
    # 01:45 is ambiguous: the window starts at the earlier instant (+11)
    assert spans(got) == [(utc(2026, 4, 4, 14, 45), utc(2026, 4, 4, 16, 30))]


# -- validation ------------------------------------------------------------------------


def test_unknown_zone_raises_invalid_query():
    for zone in ("Mars/Olympus_Mons", "", "America", "../etc/passwd"):
        with pytest.raises(InvalidQuery) as info:
            working_windows((), zone, utc(2026, 3, 2), utc(2026, 3, 3))
        assert info.value.code == "invalid_query"


def test_naive_or_inverted_range_raises():
    with pytest.raises(InvalidQuery):
        working_windows(None, "UTC", datetime(2026, 3, 2), utc(2026, 3, 3))  # noqa: DTZ001
    with pytest.raises(InvalidQuery):
        working_windows(None, "UTC", utc(2026, 3, 3), utc(2026, 3, 3))


def test_weekly_rule_validation():
    with pytest.raises(InvalidQuery):
        rule({0}, time(9), time(10))  # Python's weekday() numbering, not ISO
    with pytest.raises(InvalidQuery):
        rule({8}, time(9), time(10))
    with pytest.raises(InvalidQuery):
        rule({MON}, time(9, tzinfo=UTC), time(10))
    assert rule([MON, MON, TUE], time(9), time(10)).weekdays == frozenset({MON, TUE})


def test_interval_validation():
    with pytest.raises(InvalidQuery):
        Interval(datetime(2026, 3, 2), utc(2026, 3, 3))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(InvalidQuery):
        Interval(utc(2026, 3, 3), utc(2026, 3, 3))
    with pytest.raises(ValueError):  # SchedulingError is a ValueError
        Interval(utc(2026, 3, 4), utc(2026, 3, 3))
