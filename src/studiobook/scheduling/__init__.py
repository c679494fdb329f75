"""Studiobook scheduling core: pure, Django-free slot search and booking validation.

Conventions used throughout this package
----------------------------------------
* Instants are timezone-aware ``datetime`` objects in UTC; intervals are
  half-open ``[start, end)``.  Durations and buffers are ``int`` minutes of
  real elapsed time; money is ``int`` minor units (e.g. cents).
* Weekdays are ISO 8601 numbers: 1 = Monday, 2 = Tuesday, 3 = Wednesday,
  4 = Thursday, 5 = Friday, 6 = Saturday, 7 = Sunday (``date.isoweekday()``,
  NOT ``date.weekday()``).
* Working hours (:class:`WeeklyRule`) are local wall-clock times in the
  studio's IANA zone.  DST policy: a nonexistent local time (spring forward)
  means the first instant after the gap; an ambiguous one (fall back) means
  the earlier instant for a window start and, for a window end, the first
  instant from which the clock never again reads earlier than the end (the later
  instant, except when the end is exactly the time the clock falls back to).
  Windows that overlap or touch are merged.

The rules a slot must satisfy are documented on :func:`find_slots`;
:func:`explain_unavailable` reports the first rule a given start breaks, using
the same predicates.  Errors are :class:`SchedulingError` (a ``ValueError``)
subclasses with a stable ``code``.  Nothing here reads the clock: ``now`` is
always passed in.
"""

from . import money, policies
from ._intervals import intersect as intersect_spans
from ._intervals import merge as merge_spans
from ._intervals import subtract as subtract_spans
from ._time import local_day_bounds
from .engine import allocation_span, effective_buffers, explain_unavailable, find_slots
from .errors import InvalidDuration, InvalidQuery, SchedulingError
from .money import *  # noqa: F403  (its __all__ is the one list of its public names)
from .policies import *  # noqa: F403
from .pricing import price_for, validate_duration
from .types import Interval, PriceRule, ResourceInput, Slot, SlotQuery, Unavailable, WeeklyRule
from .windows import working_windows

__all__ = [
    "Interval",
    "InvalidDuration",
    "InvalidQuery",
    "PriceRule",
    "ResourceInput",
    "SchedulingError",
    "Slot",
    "SlotQuery",
    "Unavailable",
    "WeeklyRule",
    "allocation_span",
    "effective_buffers",
    "explain_unavailable",
    "find_slots",
    "intersect_spans",
    "local_day_bounds",
    "merge_spans",
    "price_for",
    "subtract_spans",
    "validate_duration",
    "working_windows",
    *money.__all__,
    *policies.__all__,
]
