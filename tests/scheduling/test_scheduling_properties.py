"""Property tests: find_slots against an independent brute-force reference, plus
invariants and explain_unavailable consistency, over random zones (incl. DST days),
rules, blackouts, busy intervals and buffers.

The reference deliberately shares no code or technique with the engine: it walks a
minute-by-minute UTC timeline, reads the local wall clock of each minute with
``astimezone``, and locates window bounds from the wall-clock definitions:

* a window starts at the first instant whose local time is >= the local start
  (so a nonexistent time becomes the end of the gap, an ambiguous one its first
  occurrence);
* it ends at the first instant from which the local time never again drops below
  the local end (so an ambiguous end is its last occurrence, a nonexistent one the
  end of the gap).
"""

from bisect import bisect_left
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.scheduling import (
    Interval,
    ResourceInput,
    Slot,
    SlotQuery,
    WeeklyRule,
    explain_unavailable,
    find_slots,
)

MINUTE = timedelta(minutes=1)
ONE_DAY = timedelta(days=1)
NAIVE_EPOCH = datetime(2000, 1, 1)  # noqa: DTZ001 - wall-clock arithmetic on purpose
UTC_EPOCH = NAIVE_EPOCH.replace(tzinfo=UTC)

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# zone -> its 2026 DST change days; every zone is also tried on ordinary days
DST_DAYS = {
    "UTC": [],
    "America/Toronto": [date(2026, 3, 8), date(2026, 11, 1)],
    "Europe/London": [date(2026, 3, 29), date(2026, 10, 25)],
    "Asia/Kolkata": [],  # +05:30, no DST
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],  # 30-minute DST shift
    "America/St_Johns": [date(2026, 3, 8), date(2026, 11, 1)],  # -03:30 / -02:30
    "Asia/Kathmandu": [],  # +05:45
}
ORDINARY_DAYS = [date(2026, 6, 15), date(2026, 1, 1)]

# -- strategies --------------------------------------------------------------------------
# Plain draw_* helpers over module-level strategies: building strategies per draw
# costs more than the tests themselves.

MINUTE_OF_DAY = st.one_of(
    st.sampled_from([0, 60, 90, 120, 150, 180, 240, 300, 540, 600, 780, 1080, 1320, 1410]),
    st.integers(0, 1439),
)
WEEKDAY_SETS = st.one_of(
    st.just(frozenset(range(1, 8))), st.frozensets(st.integers(1, 7), min_size=1)
)
ONE_IN_FOUR = st.sampled_from([False, False, False, True])
DAY_SHIFT = st.integers(-2, 1)
RULE_COUNT = st.integers(1, 3)
RULE_SET_KIND = st.sampled_from(["none", "none", "never"] + ["rules"] * 7)
BUFFERS = st.sampled_from([0, 0, 5, 15, 30, 60])
INTERVAL_OFFSET_PAD = 300
INTERVAL_LENGTH = st.integers(1, 240)
JITTER_SECONDS = st.sampled_from([0, 0, 0, 20])
BOOLEANS = st.booleans()


def draw_time(draw):
    minute = draw(MINUTE_OF_DAY)
    return time(minute // 60, minute % 60)


def draw_rule(draw, anchor):
    effective = [
        anchor + draw(DAY_SHIFT) * ONE_DAY if draw(ONE_IN_FOUR) else None for _ in range(2)
    ]
    return WeeklyRule(draw(WEEKDAY_SETS), draw_time(draw), draw_time(draw), *effective)


def draw_rules(draw, anchor, allow_none=True):
    # mostly real rules; "always open" (None) and "never open" (()) now and then
    kind = draw(RULE_SET_KIND) if allow_none else "rules"
    if kind == "none":
        return None
    if kind == "never":
        return ()
    return tuple(draw_rule(draw, anchor) for _ in range(draw(RULE_COUNT)))


def draw_interval(draw, origin, span_minutes, label):
    offset = draw(st.integers(-INTERVAL_OFFSET_PAD, span_minutes + INTERVAL_OFFSET_PAD))
    start = origin + offset * MINUTE + timedelta(seconds=draw(JITTER_SECONDS))
    return Interval(start, start + draw(INTERVAL_LENGTH) * MINUTE, label)


def draw_resource(draw, rid, anchor, origin, span_minutes):
    return ResourceInput(
        id=rid,
        rules=draw_rules(draw, anchor, allow_none=False) if draw(BOOLEANS) else None,
        blackouts=tuple(
            draw_interval(draw, origin, span_minutes, f"blackout: r{rid}-{i}")
            for i in range(draw(st.integers(0, 2)))
        ),
        busy=tuple(
            draw_interval(draw, origin, span_minutes, f"booking r{rid}-{i}")
            for i in range(draw(st.integers(0, 3)))
        ),
        buffer_before_minutes=draw(BUFFERS),
        buffer_after_minutes=draw(BUFFERS),
    )


def draw_resources(draw, first_id, anchor, origin, span_minutes):
    if draw(st.integers(0, 4)) == 0:
        return None
    ids = draw(st.lists(st.integers(first_id, first_id + 9), max_size=3, unique=True))
    if not ids and draw(BOOLEANS):
        return None
    return tuple(draw_resource(draw, rid, anchor, origin, span_minutes) for rid in ids)


def transition_near(zone, day):
    """The UTC minute at which ``zone``'s offset changes within a day of ``day``, or None."""
    tz = ZoneInfo(zone)
    lo = datetime(day.year, day.month, day.day, tzinfo=UTC) - 2 * ONE_DAY
    hi = lo + 3 * ONE_DAY
    if lo.astimezone(tz).utcoffset() == hi.astimezone(tz).utcoffset():
        return None
    while hi - lo > MINUTE:
        mid = lo + (hi - lo) // 2 // MINUTE * MINUTE
        if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
            lo = mid
        else:
            hi = mid
    return hi


DST_ZONES = sorted(zone for zone, days in DST_DAYS.items() if days)
TRANSITIONS = {
    (zone, day): transition_near(zone, day) for zone in DST_ZONES for day in DST_DAYS[zone]
}


@st.composite
def queries(draw):
    if draw(st.sampled_from([True, True, False])):  # make the range straddle a DST change
        zone = draw(st.sampled_from(DST_ZONES))
        anchor = draw(st.sampled_from(DST_DAYS[zone]))
        range_start = TRANSITIONS[zone, anchor] - draw(st.integers(0, 1440)) * MINUTE
    else:
        zone = draw(st.sampled_from(sorted(DST_DAYS)))
        anchor = draw(st.sampled_from(DST_DAYS[zone] + ORDINARY_DAYS))
        midnight = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC)
        range_start = midnight - ONE_DAY + draw(st.integers(0, 2 * 1440)) * MINUTE
    range_start += timedelta(seconds=draw(st.sampled_from([0, 0, 0, 0, 31])))
    span = draw(st.integers(30, 2 * 1440) | st.integers(1440, 2 * 1440))
    # mostly shortly before the range; sometimes inside it or a day before
    now = range_start + draw(st.integers(-180, 0) | st.integers(-1440, 600)) * MINUTE
    now += timedelta(microseconds=draw(st.sampled_from([0, 0, 1, 999_999])))
    return SlotQuery(
        zone=zone,
        range_start=range_start,
        range_end=range_start + span * MINUTE,
        now=now,
        duration_minutes=draw(st.sampled_from([15, 30, 60, 90, 120, 240]) | st.integers(1, 300)),
        studio_rules=draw_rules(draw, anchor),
        studio_blackouts=tuple(
            draw_interval(draw, range_start, span, f"blackout: studio-{i}")
            for i in range(draw(st.integers(0, 2)))
        ),
        rooms=draw_resources(draw, 1, anchor, range_start, span),
        engineers=draw_resources(draw, 100, anchor, range_start, span),
        grid_minutes=draw(st.sampled_from([5, 10, 15, 20, 25, 30, 45, 60, 90, 120])),
        lead_time_minutes=draw(st.sampled_from([0, 0, 0, 0, 30, 120, 1440])),
        horizon_days=draw(st.sampled_from([0, 1, 2, 90, 90, 90, 90, 90, 90])),
        buffer_before_minutes=draw(st.sampled_from([0, 0, 10, 30])),
        buffer_after_minutes=draw(st.sampled_from([0, 0, 10, 30])),
    )


# -- the reference ----------------------------------------------------------------------------


def ceil_minute(moment):
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + MINUTE


def wall_minutes(naive):
    return (naive - NAIVE_EPOCH) // MINUTE


def grid_starts(q):
    """Every instant in the query range whose local wall clock is on the grid."""
    tz = ZoneInfo(q.zone)
    start = ceil_minute(q.range_start)
    while start < q.range_end:
        local = start.astimezone(tz)
        if local.second == 0 and (local.hour * 60 + local.minute) % q.grid_minutes == 0:
            yield start
        start += MINUTE


class Reference:
    """find_slots by brute force, for small ranges."""

    def __init__(self, q):
        self.q = q
        self.tz = ZoneInfo(q.zone)
        self.duration = q.duration_minutes * MINUTE
        self.first_date = q.range_start.astimezone(self.tz).date() - ONE_DAY  # overnight windows
        self.last_date = (q.range_end + self.duration).astimezone(self.tz).date()
        # the timeline starts before the first local date's midnight in any zone (UTC+14 max)
        first = self.first_date
        self.t0 = t0 = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(
            hours=15
        )
        n = (ceil_minute(q.range_end + self.duration) - t0) // MINUTE + 1
        # wall-clock minutes of each UTC minute: UTC minutes since 2000-01-01 plus the offset
        tz, base = self.tz, (t0 - UTC_EPOCH) // MINUTE
        local = [
            base + i + (t0 + i * MINUTE).astimezone(tz).utcoffset() // MINUTE for i in range(n)
        ]
        self.prefix_max = list(accumulate(local, max))
        self.suffix_min = list(accumulate(reversed(local), min))[::-1]
        self._coverage = {}

    def coverage(self, rules):
        """Prefix sums of "minute i is inside a working window", or None if unrestricted."""
        if rules is None:
            return None
        if rules not in self._coverage:
            covered = [0] * len(self.prefix_max)
            day = self.first_date
            while day <= self.last_date:
                for r in rules:
                    if day.isoweekday() not in r.weekdays:
                        continue
                    if (r.effective_from and day < r.effective_from) or (
                        r.effective_to and day > r.effective_to
                    ):
                        continue
                    end_day = day if r.end_time > r.start_time else day + ONE_DAY
                    begin = bisect_left(
                        self.prefix_max, wall_minutes(datetime.combine(day, r.start_time))
                    )
                    end = bisect_left(
                        self.suffix_min, wall_minutes(datetime.combine(end_day, r.end_time))
                    )
                    covered[begin:end] = [1] * max(0, end - begin)
                day += ONE_DAY
            self._coverage[rules] = list(accumulate(covered, initial=0))
        return self._coverage[rules]

    def inside_hours(self, rules, start):
        sums = self.coverage(rules)
        if sums is None:
            return True
        i = (start - self.t0) // MINUTE
        minutes = self.q.duration_minutes
        return sums[i + minutes] - sums[i] == minutes

    def resource_ok(self, r, start, end):
        before = max(self.q.buffer_before_minutes, r.buffer_before_minutes) * MINUTE
        after = max(self.q.buffer_after_minutes, r.buffer_after_minutes) * MINUTE
        return (
            self.inside_hours(r.rules, start)
            and not any(b.start < end and start < b.end for b in r.blackouts)
            and not any(b.start < end + after and start - before < b.end for b in r.busy)
        )

    def in_bounds(self, start):
        q = self.q
        return (
            q.range_start <= start < q.range_end
            and start >= q.now + timedelta(minutes=q.lead_time_minutes)
            and start <= q.now + timedelta(days=q.horizon_days)
        )

    def slots(self):
        q = self.q
        out = []
        assert q.price.unit == "session"  # generated queries keep the default price
        price = q.price.amount_minor
        for start in grid_starts(q):
            if not self.in_bounds(start):
                continue
            end = start + self.duration
            if not self.inside_hours(q.studio_rules, start):
                continue
            if any(b.start < end and start < b.end for b in q.studio_blackouts):
                continue
            staff = ()
            if q.engineers is not None:
                staff = tuple(sorted(e.id for e in q.engineers if self.resource_ok(e, start, end)))
                if not staff:
                    continue
            if q.rooms is None:
                out.append(Slot(start, end, None, staff, price))
            for r in sorted(q.rooms or (), key=lambda r: r.id):
                if self.resource_ok(r, start, end):
                    out.append(Slot(start, end, r.id, staff, price))
        return out


# -- properties ----------------------------------------------------------------------------


@SETTINGS
@given(queries())
def test_find_slots_matches_brute_force(q):
    assert find_slots(q) == Reference(q).slots()


def overlaps(interval, start, end):
    return interval.start < end and start < interval.end


@SETTINGS
@given(queries())
def test_returned_slots_respect_every_constraint(q):
    rooms = {r.id: r for r in q.rooms or ()}
    engineers = {e.id: e for e in q.engineers or ()}
    tz = ZoneInfo(q.zone)
    reference = Reference(q)
    previous = None
    for slot in find_slots(q):
        key = (slot.start, slot.room_id)
        assert previous is None or key > previous  # sorted, no duplicates
        previous = key
        assert slot.end - slot.start == timedelta(minutes=q.duration_minutes)
        assert slot.start.tzinfo is UTC
        assert q.range_start <= slot.start < q.range_end
        assert slot.start >= q.now + timedelta(minutes=q.lead_time_minutes)
        assert slot.start <= q.now + timedelta(days=q.horizon_days)
        local = slot.start.astimezone(tz)
        assert local.second == 0 and (local.hour * 60 + local.minute) % q.grid_minutes == 0
        assert (slot.room_id is None) == (q.rooms is None)
        assert bool(slot.staff_ids) == (q.engineers is not None)
        assert list(slot.staff_ids) == sorted(set(slot.staff_ids))
        # Hours are checked by the independent reference, not by the engine's own windows.
        assert reference.inside_hours(q.studio_rules, slot.start)
        assert not any(overlaps(b, slot.start, slot.end) for b in q.studio_blackouts)
        used = ([rooms[slot.room_id]] if slot.room_id is not None else []) + [
            engineers[i] for i in slot.staff_ids
        ]
        for r in used:
            before = max(q.buffer_before_minutes, r.buffer_before_minutes)
            after = max(q.buffer_after_minutes, r.buffer_after_minutes)
            widened = (slot.start - timedelta(minutes=before), slot.end + timedelta(minutes=after))
            assert not any(overlaps(b, *widened) for b in r.busy)
            assert not any(overlaps(b, slot.start, slot.end) for b in r.blackouts)
            assert reference.inside_hours(r.rules, slot.start)


@SETTINGS
@given(queries(), st.randoms(use_true_random=False))
def test_explain_agrees_with_find_slots(q, rng):
    slots = find_slots(q)
    offered = {(s.start, s.room_id): s.staff_ids for s in slots}
    returned = sorted({s.start for s in slots})
    rejected = [t for t in grid_starts(q) if t not in set(returned)]
    starts = rng.sample(returned, min(len(returned), 8)) + rng.sample(
        rejected, min(len(rejected), 8)
    )
    off_grid = (
        ceil_minute(q.range_start)
        + rng.randrange(60) * MINUTE
        + timedelta(seconds=rng.choice([0, 7]))
    )
    if off_grid < q.range_end:
        starts.append(off_grid)
    room_ids = [None] if q.rooms is None else [r.id for r in q.rooms]
    staff_ids = [None] + [e.id for e in q.engineers or ()]
    codes = {"lead_time", "horizon", "off_grid", "outside_hours", "blackout", "busy", "no_engineer"}
    for start in starts:
        for room_id in room_ids:
            for staff_id in staff_ids:
                found = explain_unavailable(q, start, room_id, staff_id)
                free = offered.get((start, room_id))
                expected_ok = free is not None and (staff_id is None or staff_id in free)
                assert (found is None) == expected_ok, (start, room_id, staff_id, found)
                assert found is None or (found.code in codes and found.message)
        if q.rooms:
            any_room = explain_unavailable(q, start, None, None)
            assert (any_room is None) == any((start, r) in offered for r in room_ids)
