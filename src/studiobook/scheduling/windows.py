"""Weekly working-hour rules -> concrete UTC windows, DST-correct."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo

from ._intervals import Span, merge
from ._time import from_ticks, get_zone, local_date, resolve_local, to_ticks
from .errors import InvalidQuery
from .types import Interval, WeeklyRule

_ONE_DAY = timedelta(days=1)


def windows_ticks(rules: Iterable[WeeklyRule], tz: tzinfo, lo: int, hi: int) -> list[Span]:
    """Merged working windows of ``rules`` clipped to ``[lo, hi)`` (ticks).

    Local dates are enumerated from two days before ``lo``'s local date (an
    overnight window that started "yesterday" reaches into the range; the
    extra day is slack for zones whose clocks jump across midnight) to one day
    after ``hi``'s.
    """
    rules = tuple(rules)
    if not rules or lo >= hi:
        return []
    day = local_date(tz, lo) - 2 * _ONE_DAY
    last = local_date(tz, hi - 1) + _ONE_DAY
    spans: list[Span] = []
    while day <= last:
        weekday = day.isoweekday()
        for rule in rules:
            if weekday not in rule.weekdays:
                continue
            if rule.effective_from is not None and day < rule.effective_from:
                continue
            if rule.effective_to is not None and day > rule.effective_to:
                continue
            start = resolve_local(tz, datetime.combine(day, rule.start_time), False)
            end_day = day if rule.end_time > rule.start_time else day + _ONE_DAY
            end = resolve_local(tz, datetime.combine(end_day, rule.end_time), True)
            a, b = max(start, lo), min(end, hi)
            if a < b:
                spans.append((a, b))
        day += _ONE_DAY
    return merge(spans)


def working_windows(
    rules: Iterable[WeeklyRule] | None,
    zone: str,
    range_start: datetime,
    range_end: datetime,
) -> list[Interval]:
    """Concrete working windows of ``rules`` overlapping ``[range_start, range_end)``.

    For every local date (in IANA ``zone``) touching the range, plus the day
    before for overnight windows, each rule whose ISO weekday and inclusive
    effective dates match that date yields ``[local(date, start_time),
    local(date or date + 1, end_time))``; the next local day is used when
    ``end_time <= start_time``.  Local times are mapped to UTC with the DST
    policy: a nonexistent time (spring forward) becomes the first instant after
    the gap; an ambiguous time (fall back) takes the earlier instant as a
    window start; a window end is the first instant from which the clock never
    again reads earlier than it (the later instant, except when the end is
    exactly the time the clock falls back to).  Overlapping or
    adjacent windows are merged.

    Returns aware-UTC :class:`Interval` objects (empty labels), ascending,
    clipped to the range.  ``rules=None`` means unrestricted (one interval,
    the whole range); ``()`` means never (empty list).

    Raises :class:`InvalidQuery` for an unknown zone, naive datetimes or
    ``range_end <= range_start``.
    """
    tz = get_zone(zone)
    lo = to_ticks(range_start, "range_start")
    hi = to_ticks(range_end, "range_end")
    if hi <= lo:
        raise InvalidQuery("range_end must be after range_start")
    spans = [(lo, hi)] if rules is None else windows_ticks(rules, tz, lo, hi)
    return [Interval(from_ticks(a), from_ticks(b)) for a, b in spans]
