"""local_day_bounds: a local calendar day as UTC instants, across DST in both directions,
including a zone whose clocks skip midnight itself (Cuba)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studiobook.scheduling import InvalidQuery, local_day_bounds


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "day", "start", "end"), [
    ("America/Toronto", date(2026, 11, 1), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)),  # 25 h
    ("America/Toronto", date(2027, 3, 14), utc(2027, 3, 14, 5), utc(2027, 3, 15, 4)),  # 23 h
    # Havana's clocks go from 00:00 to 01:00: the day starts at the jump.
    ("America/Havana", date(2027, 3, 14), utc(2027, 3, 14, 5), utc(2027, 3, 15, 4)),
    # ... and back from 01:00 to 00:00: the day starts at the first midnight.
    ("America/Havana", date(2027, 11, 7), utc(2027, 11, 7, 4), utc(2027, 11, 8, 5)),
    ("America/Havana", date(2027, 11, 6), utc(2027, 11, 6, 4), utc(2027, 11, 7, 4)),
    ("Australia/Lord_Howe", date(2027, 4, 4), utc(2027, 4, 3, 13), utc(2027, 4, 4, 13, 30)),
])
def test_days_across_dst(zone, day, start, end):
    assert local_day_bounds(zone, day) == (start, end)


ZONES = ["America/Toronto", "America/Havana", "Australia/Lord_Howe", "Europe/London",
         "Asia/Kolkata", "America/Santiago", "Pacific/Chatham"]


@given(st.sampled_from(ZONES), st.dates(min_value=date(2000, 1, 1), max_value=date(2037, 12, 31)))
def test_days_tile_the_timeline(zone, day):
    start, end = local_day_bounds(zone, day)
    assert end - start in {timedelta(hours=h) for h in (23, 23.5, 24, 24.5, 25)}
    assert local_day_bounds(zone, day + timedelta(days=1))[0] == end


def test_an_unknown_zone_is_refused():
    with pytest.raises(InvalidQuery):
        local_day_bounds("Mars/Olympus_Mons", date(2026, 11, 21))
