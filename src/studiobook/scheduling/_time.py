"""Integer "tick" time and zone arithmetic (private).

The engine converts every datetime to an int count of microseconds since the
Unix epoch ("ticks") once, at the boundary, and works on ints from then on:
int arithmetic is exact, hashable and several times faster than datetime
arithmetic.  Microseconds rather than seconds so that inputs with sub-second
parts (``now`` usually has them) are compared exactly, with no rounding rule
to get wrong.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidQuery

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Wall-clock readings are naive by nature; this is their epoch, not an instant.
_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001
TICK = timedelta(microseconds=1)
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# No tzdata zone has two offset changes within a few hours, so sampling the
# offset this often and bisecting between samples finds every transition.
_OFFSET_SAMPLE = 3 * HOUR


def is_aware(value: object) -> bool:
    return (
        isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None
    )


def to_ticks(value: datetime, what: str = "datetime") -> int:
    """Aware datetime -> ticks; raises InvalidQuery for anything else."""
    if not is_aware(value):
        raise InvalidQuery(f"{what} must be a timezone-aware datetime, got {value!r}")
    return (value - EPOCH) // TICK


def from_ticks(ticks: int) -> datetime:
    return EPOCH + timedelta(microseconds=ticks)


def get_zone(key: object) -> tzinfo:
    """IANA key (or an already-built ZoneInfo) -> cached ZoneInfo.

    Raises InvalidQuery for unknown or malformed keys; ZoneInfo signals those
    with ZoneInfoNotFoundError, ValueError or (for directories) OSError.
    """
    if isinstance(key, ZoneInfo):
        return key
    if not isinstance(key, str) or not key:
        raise InvalidQuery(f"zone must be an IANA time zone name, got {key!r}")
    return _zone(key)


@lru_cache(maxsize=512)
def _zone(key: str) -> tzinfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidQuery(f"unknown time zone {key!r}") from exc


def offset_at(tz: tzinfo, ticks: int) -> int:
    """UTC offset (ticks) in force at the instant ``ticks``."""
    return from_ticks(ticks).astimezone(tz).utcoffset() // TICK


def local_ticks(tz: tzinfo, ticks: int) -> int:
    """Local wall-clock reading at ``ticks``, as ticks since the naive epoch."""
    return ticks + offset_at(tz, ticks)


def local_date(tz: tzinfo, ticks: int) -> date:
    return from_ticks(ticks).astimezone(tz).date()


@lru_cache(maxsize=32768)
def resolve_local(tz: tzinfo, naive: datetime, is_end: bool) -> int:
    """Local wall-clock ``naive`` in ``tz`` -> ticks, with the DST policy:

    * ordinary time: the one instant;
    * ambiguous (fall back): the earlier instant for a window start; for a window
      end, the first instant from which the wall clock never again reads earlier
      than the end (the later instant, unless the end is exactly the time the
      clock falls back to, when it is the earlier one);
    * nonexistent (spring forward): the first instant after the gap, for both.

    Candidates come from both folds; a candidate is real only if converting it
    back gives the same wall clock.  zoneinfo maps a gap time with fold=0 using
    the pre-transition offset, i.e. to an instant *after* the gap start, so the
    gap needs its own resolution rather than trusting either fold.
    """
    wall = (naive - _NAIVE_EPOCH) // TICK
    candidates = {wall - naive.replace(tzinfo=tz, fold=fold).utcoffset() // TICK for fold in (0, 1)}
    real = [t for t in candidates if local_ticks(tz, t) == wall]
    if real:
        if not is_end:
            return min(real)
        late = max(real)
        # The later instant is the end only if the clock reads earlier than ``wall`` just
        # before it. When ``wall`` is exactly where the clock falls back *to* (01:00 in
        # Toronto on 2026-11-01, 01:30 on Lord Howe), the clock reaches ``wall`` at the
        # earlier instant and never reads less again: everything after is past the end.
        return late if local_ticks(tz, late - 1) < wall else min(real)
    # In a gap: before the transition the wall clock reads earlier than
    # ``wall``, from the transition on it reads later.  Bisect for that instant.
    lo, hi = min(candidates), max(candidates)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if local_ticks(tz, mid) > wall:
            hi = mid
        else:
            lo = mid
    return hi


def offset_segments(tz: tzinfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """Split ``[lo, hi)`` into maximal pieces ``(a, b, offset)`` of constant UTC offset."""
    segments: list[tuple[int, int, int]] = []
    seg_start = lo
    prev_t = lo
    prev_off = offset_at(tz, lo)
    t = lo
    while t < hi - 1:
        t = min(t + _OFFSET_SAMPLE, hi - 1)
        off = offset_at(tz, t)
        if off != prev_off:
            a, b = prev_t, t
            while b - a > 1:
                mid = (a + b) // 2
                if offset_at(tz, mid) == prev_off:
                    a = mid
                else:
                    b = mid
            segments.append((seg_start, b, prev_off))
            seg_start, prev_off = b, offset_at(tz, b)
        prev_t = t
    segments.append((seg_start, hi, prev_off))
    return segments


def grid_ticks(tz: tzinfo, lo: int, hi: int, grid_minutes: int) -> list[int]:
    """Ascending instants in ``[lo, hi)`` whose LOCAL wall-clock time is a whole
    minute with minute-of-day a multiple of ``grid_minutes``.

    Both instants of an ambiguous local time qualify; nonexistent local times
    have no instant.  The grid restarts at every local midnight, which only
    matters when ``grid_minutes`` does not divide 1440.
    """
    step = grid_minutes * MINUTE
    out: list[int] = []
    for a, b, off in offset_segments(tz, lo, hi):
        la, lb = a + off, b + off
        if DAY % step == 0:
            first = -(-la // step) * step
            out.extend(range(first - off, b, step))
            continue
        day = la // DAY
        while day * DAY < lb:
            base = day * DAY
            first = base + max(0, -(-(la - base) // step)) * step
            out.extend(w - off for w in range(first, min(base + DAY, lb), step))
            day += 1
    return out


def local_day_bounds(zone: str | ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local calendar ``day`` in ``zone`` (an IANA name or a
    ZoneInfo): 23 or 25 hours long across a DST change. Where midnight is skipped (a DST gap at
    00:00) the day starts at the transition; where it repeats, at the first reading (fold=0
    takes the offset in force before a transition). Raises InvalidQuery for an unknown zone.
    """
    tz = get_zone(zone)

    def midnight(of: date) -> datetime:
        return datetime.combine(of, time.min, tzinfo=tz).astimezone(UTC)

    return midnight(day), midnight(day + timedelta(days=1))
