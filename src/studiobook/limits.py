"""The one range of instants, dates, clock times and ids that Studiobook accepts.

Every edge that takes a time or an id from outside (the API's schemas, the pages' forms, the
studio file importer) and the services behind them check against these bounds, so nothing is
stored that PostgreSQL, psycopg, SQLite or Python's ``datetime`` arithmetic cannot carry back:

- instants: ``EARLIEST_INSTANT`` <= t <= ``LATEST_INSTANT`` (1970-01-01T00:00Z to
  2100-01-01T00:00Z); year 1 (BC once shifted to UTC) and 9999 (past year 9999 once a
  buffer is added) broke reads and arithmetic;
- local dates: ``EARLIEST_DATE`` to ``LATEST_DATE`` (1970-01-02 to 2099-12-30), one day
  inside the instant range on each side, so a local day in any zone (offsets are under a
  day) starts and ends inside it;
- wall-clock times (schedule rules): whole minutes, no zone (``"09:30"``, not
  ``"09:30:01"`` nor ``"09:30Z"``): a rule is read in the studio's zone;
- database ids: 1 to ``MAX_ID`` (2**63 - 1, a signed 64-bit integer: SQLite's INTEGER and
  PostgreSQL's bigint);
- text: no NUL character (PostgreSQL text cannot hold one).

Holds, bookings and reschedules are further bounded by the studio's own horizon (the core's
``horizon`` rule). Plain Python, no Django: the checks raise ``OutOfRange`` (a ValueError,
so pydantic and Django forms turn it into a field error) with a sentence that says what to
send instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)
EARLIEST_DATE = date(1970, 1, 2)
LATEST_DATE = date(2099, 12, 30)
MIN_ID = 1
MAX_ID = 2**63 - 1
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
NUL = "\x00"

INSTANT_RANGE = "between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z"
DATE_RANGE = "between 1970-01-02 and 2099-12-30"


class OutOfRange(ValueError):
    """A value outside Studiobook's accepted range; ``rule`` is a stable code
    (``instant_range``, ``date_range``, ``wall_clock_minute``, ``id_range``, ``nul``)."""

    def __init__(self, message: str, *, rule: str):
        super().__init__(message)
        self.message = message
        self.rule = rule


def is_instant_in_range(value: datetime) -> bool:
    """Whether the aware ``value`` lies in [EARLIEST_INSTANT, LATEST_INSTANT]. A value whose
    conversion to UTC overflows (year 1 at +14:00) is out of range."""
    try:
        return EARLIEST_INSTANT <= value.astimezone(UTC) <= LATEST_INSTANT
    except (OverflowError, ValueError):
        return False


def instant(value: datetime) -> datetime:
    """``value`` (aware) unchanged when in range; raises OutOfRange(rule ``instant_range``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise OutOfRange("give a UTC offset (like 2026-11-24T15:00:00Z)", rule="timezone")
    if not is_instant_in_range(value):
        raise OutOfRange(f"must be {INSTANT_RANGE}", rule="instant_range")
    return value


def local_date(value: date) -> date:
    """``value`` unchanged when in [EARLIEST_DATE, LATEST_DATE]; raises OutOfRange
    (rule ``date_range``)."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise OutOfRange(f"must be a date {DATE_RANGE}", rule="date_range")
    return value


def wall_clock_minute(value: time) -> time:
    """``value`` unchanged when it is a wall-clock time of whole minutes with no zone;
    raises OutOfRange (rule ``wall_clock_minute``)."""
    if value.tzinfo is not None:
        raise OutOfRange("must be a wall-clock time 'HH:MM' without a zone or offset (it is "
                         "read in the studio's time zone)", rule="wall_clock_minute")
    if value.second or value.microsecond:
        raise OutOfRange("must be a whole minute 'HH:MM' (no seconds)",
                         rule="wall_clock_minute")
    return value


def database_id(value: int) -> int:
    """``value`` unchanged when in [MIN_ID, MAX_ID]; raises OutOfRange (rule ``id_range``)."""
    if not MIN_ID <= value <= MAX_ID:
        raise OutOfRange(f"must be an id from {MIN_ID} to {MAX_ID}", rule="id_range")
    return value


def clamp_instant(value: datetime) -> datetime:
    """``value`` moved into [EARLIEST_INSTANT, LATEST_INSTANT]: how a stored value from
    before these limits (or one the database cannot hand back) is read."""
    if is_instant_in_range(value):
        return value
    try:
        below = value.astimezone(UTC) < EARLIEST_INSTANT
    except (OverflowError, ValueError):
        below = value.year < 2000
    return EARLIEST_INSTANT if below else LATEST_INSTANT


def text(value: str) -> str:
    """``value`` unchanged when it holds no NUL; raises OutOfRange (rule ``nul``)."""
    if NUL in value:
        raise OutOfRange("must not contain a NUL character (\\u0000)", rule="nul")
    return value
