"""External busy calendars: fetch, expand, store the last good copy, and block availability.

A room or engineer may subscribe to outside calendars (an ICS address such as Google's
secret address, or a CalDAV collection). ``refresh`` fetches one, expands its events over
[now - 1 day, now + the studio's horizon] with ``recurring_ical_events`` (RRULE, RDATE,
EXDATE and moved or canceled occurrences, RFC 5545 section 3.8.5) and replaces its
``ExternalBusy`` rows in one transaction. Rules:

- TRANSP:TRANSPARENT events (RFC 5545 section 3.8.2.7: "free" time) and STATUS:CANCELLED
  events or occurrences (section 3.8.1.11) do not block.
- All-day events (DATE values) block the whole local days in the calendar's zone:
  X-WR-TIMEZONE when the calendar names one, else ``ExternalCalendar.zone``, else the
  studio's zone; floating times (no TZID, no Z) are read in the same zone. A DATE event
  without DTEND lasts one day; a DATE-TIME event without DTEND or DURATION takes no time
  (section 3.6.1) and blocks nothing.
- A failing source (HTTP error, timeout, unparsable data) never blocks booking: its old rows
  stay and keep blocking, the calendar is marked ``failing`` with ``last_error``, and the
  next scheduled refresh tries again.
- An event that cannot be read (no DTSTART, or a DTSTART, DTEND, RRULE... that does not
  parse) fails the refresh with a message naming it (SUMMARY and UID, made printable and
  short by ``printable``): dropping it would free time its owner is busy.
- Bounded work: the fetch is bounded in bytes and seconds (``net``); each recurring event's
  expansion is bounded before it starts (``MAX_EXPANSION_STEPS_PER_EVENT``: a 179-byte
  ``FREQ=SECONDLY`` event is refused at once); occurrences are generated lazily, one
  series at a time, and the refresh stops at ``MAX_BUSY_ROWS`` occurrences or after
  ``STUDIOBOOK_CALENDARS_REFRESH_SECONDS`` (default 30), before collecting more. Each
  limit fails the refresh with a sentence saying what to change.

``busy_source`` hands the stored rows to ``bookings.availability`` (registered in
``CalendarsConfig.ready``), one query per slot search. Refreshes run every
``REFRESH_EVERY_SECONDS`` (``jobs.register_periodic("calendars.refresh_external", ...)``)
and on demand (``services.refresh_now``).
"""

from __future__ import annotations

import logging
import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import recurring_ical_events
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from icalendar import Calendar

from studiobook import scheduling as core
from studiobook.bookings import events
from studiobook.calendars import net
from studiobook.calendars.models import ExternalBusy, ExternalCalendar
from studiobook.studios.models import Studio

logger = logging.getLogger(__name__)

REFRESH_EVERY_SECONDS = 900
LOOK_BACK = timedelta(days=1)
MAX_HORIZON_DAYS = 731
MAX_BUSY_ROWS = 20_000
BUSY_LABEL = "external calendar: busy"


class RefreshError(Exception):
    """The calendar was fetched but cannot be used (not iCalendar, too many events)."""


@dataclass(frozen=True, order=True)
class Busy:
    """A busy occurrence, UTC ``[start, end)``."""

    start: datetime
    end: datetime
    summary: str = ""


def _zone_named(name: str) -> tzinfo | None:
    name = (name or "").strip()
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def calendar_zone(parsed: Calendar, external: ExternalCalendar) -> tzinfo:
    """The zone for all-day and floating events: X-WR-TIMEZONE, else the configured zone,
    else the studio's zone, else UTC."""
    for name in (str(parsed.get("X-WR-TIMEZONE", "")), external.zone,
                 external.studio.time_zone):
        zone = _zone_named(name)
        if zone is not None:
            return zone
    return UTC


def _instant(value: date | datetime, zone: tzinfo) -> datetime:
    """A DTSTART/DTEND value as an aware UTC instant: DATE values are the local midnight
    beginning that day in ``zone``, floating DATE-TIMEs are read in ``zone``."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


def printable(text: object, limit: int = 80) -> str:
    """``text`` as a short line a person can read in an error message: characters that are
    not printable (control characters, NUL, the replacement characters of undecodable
    bytes) become ``?``, runs of spaces collapse, and more than ``limit`` characters are cut
    with an ellipsis. Calendar data is outside input: it never reaches an error raw."""
    value = "".join(ch if ch.isprintable() and ch != "\ufffd" else "?"
                    for ch in str(text if text is not None else ""))
    value = " ".join(value.split())
    return value if len(value) <= limit else value[:limit - 1] + "\u2026"


def event_label(component) -> str:
    """``"Dentist" (UID abc@example.test)``, or ``(no title, UID ...)``: how an error names
    an event (sanitised with ``printable``)."""
    summary = printable(component.get("SUMMARY", ""), 60)
    uid = printable(component.get("UID", ""), 80)
    if summary:
        return f'"{summary}" (UID {uid})' if uid else f'"{summary}"'
    return f"(no title, UID {uid})" if uid else "(no title, no UID)"


# Each recurring event is expanded by ``recurring_ical_events`` on ``dateutil.rrule``, which
# walks a rule from its DTSTART and, for rules with BY* filters, may work through many
# candidate times without producing one. That work cannot be interrupted, so it is bounded
# before it starts: an event whose rules would take more than this many candidate times to
# expand (from DTSTART to the end of the window) is refused. A weekly event from 1990 is
# about 2,000; one every second (FREQ=SECONDLY) is 86,400 a day.
MAX_EXPANSION_STEPS_PER_EVENT = 100_000
_SECONDS_PER_PERIOD = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400,
                       "WEEKLY": 7 * 86400, "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}
_DAYS_PER_PERIOD = {"YEARLY": 366, "MONTHLY": 31, "WEEKLY": 7}
_TIME_PARTS = {"YEARLY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
               "MONTHLY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
               "WEEKLY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
               "DAILY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
               "HOURLY": ("BYMINUTE", "BYSECOND"), "MINUTELY": ("BYSECOND",),
               "SECONDLY": ()}
_PROPERTIES_CHECKED = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE",
                       "RECURRENCE-ID")
_PROPERTY_WORDS = {"DTSTART": "start (DTSTART)", "DTEND": "end (DTEND)",
                   "DURATION": "length (DURATION)", "RRULE": "repetition rule (RRULE)",
                   "RDATE": "extra dates (RDATE)", "EXDATE": "excluded dates (EXDATE)",
                   "RECURRENCE-ID": "changed occurrence (RECURRENCE-ID)"}


def _unreadable(component, name: str, why: str) -> RefreshError:
    return RefreshError(
        f"the event {event_label(component)} cannot be read: its "
        f"{_PROPERTY_WORDS.get(name, name)} {why}. Correct or delete it in that calendar; "
        "until then the last good copy keeps blocking time.")


def _rule_parts(rule) -> dict[str, list]:
    return {str(key).upper(): (value if isinstance(value, list) else [value])
            for key, value in dict(rule).items()}


def expansion_steps(rule, *, first: datetime, end: datetime, zone: tzinfo) -> int:
    """An upper bound on the candidate times ``dateutil.rrule`` works through to expand
    ``rule`` (an icalendar ``vRecur``) from ``first`` (the event's start, UTC) to ``end``:
    periods of FREQ*INTERVAL in that span (at most COUNT when no BY* part filters them),
    times the candidates per period (days of a year, month or week, times the BYHOUR,
    BYMINUTE and BYSECOND values). Raises ValueError for a FREQ it does not know."""
    parts = _rule_parts(rule)
    frequency = str(parts.get("FREQ", [""])[0]).upper()
    if frequency not in _SECONDS_PER_PERIOD:
        raise ValueError(f"FREQ={printable(frequency, 20)}")
    interval = max(1, int(parts.get("INTERVAL", [1])[0] or 1))
    stop = end
    if parts.get("UNTIL"):
        stop = min(stop, _instant(parts["UNTIL"][0], zone))
    span = (stop - first).total_seconds()
    if span < 0:
        return 1
    periods = int(span // (_SECONDS_PER_PERIOD[frequency] * interval)) + 1
    has_filters = any(key.startswith("BY") for key in parts)
    if parts.get("COUNT") and not has_filters:
        periods = min(periods, max(1, int(parts["COUNT"][0])))
    per_period = _DAYS_PER_PERIOD.get(frequency, 1)
    for key in _TIME_PARTS[frequency]:
        per_period *= max(1, len(parts.get(key, [])))
    return periods * per_period


def check_events(parsed: Calendar, *, zone: tzinfo, end: datetime) -> None:
    """Refuse, before anything is expanded, a calendar with an event that cannot be read
    (no DTSTART, or a DTSTART, DTEND, DURATION, RRULE, RDATE, EXDATE or RECURRENCE-ID that
    does not parse) or whose repetition is too costly to expand (see
    ``MAX_EXPANSION_STEPS_PER_EVENT``). The message names the event (SUMMARY and UID,
    sanitised with ``printable``) and says why. Raises RefreshError."""
    for component in parsed.walk("VEVENT"):
        broken = dict(getattr(component, "errors", []) or [])
        for name in _PROPERTIES_CHECKED:
            if name in broken:
                value = printable(getattr(component.get(name), "to_ical", lambda: b"")()
                                  .decode("utf-8", "replace"), 40)
                raise _unreadable(component, name, f'is not valid ("{value}")')
        if component.get("DTSTART") is None:
            raise _unreadable(component, "DTSTART", "is missing")
        try:
            first = _instant(component.start, zone)
            rules = component.get("RRULE") or []
            rules = rules if isinstance(rules, list) else [rules]
            steps = sum(expansion_steps(rule, first=first, end=end, zone=zone)
                        for rule in rules)
        except (ValueError, TypeError, OverflowError) as error:
            raise _unreadable(component, "RRULE", f"is not valid ({printable(error, 60)})"
                              ) from None
        if steps > MAX_EXPANSION_STEPS_PER_EVENT:
            rule = rules[0]
            text = printable(rule.to_ical().decode("utf-8", "replace"), 60)
            raise RefreshError(
                f"the event {event_label(component)} repeats too often to be read "
                f"(RRULE {text}, starting {first:%Y-%m-%d %H:%M} UTC): expanding it would "
                f"take about {steps:,} steps, more than the {MAX_EXPANSION_STEPS_PER_EVENT:,}"
                " allowed for one event. Change its repetition (for example weekly, or with "
                "an end date) or delete it in that calendar; until then the last good copy "
                "keeps blocking time.")


def refresh_seconds() -> float:
    """``STUDIOBOOK_CALENDARS_REFRESH_SECONDS`` (default 30): the wall-clock time one
    refresh may spend expanding events, read at call time."""
    return float(getattr(settings, "STUDIOBOOK_CALENDARS_REFRESH_SECONDS", 30))


def busy_intervals(parsed: Calendar, *, zone: tzinfo, start: datetime,
                   end: datetime, deadline: float | None = None) -> list[Busy]:
    """Busy occurrences of the VEVENTs in ``parsed`` that overlap [start, end) (UTC),
    sorted, without duplicates (see the module docstring for the rules).

    Bounded: ``check_events`` refuses unreadable and too costly events first; occurrences
    are then generated one series at a time and counted as they come, so more than
    ``MAX_BUSY_ROWS`` stops the expansion before the rest is made, and so does passing
    ``deadline`` (a ``clock.monotonic()`` value; default: now + ``refresh_seconds()``).
    Raises RefreshError with a message naming the event and the limit."""
    deadline = clock.monotonic() + refresh_seconds() if deadline is None else deadline
    check_events(parsed, zone=zone, end=end)
    try:
        query = recurring_ical_events.of(parsed)
    except Exception as error:  # the library raises many types for data it cannot use
        raise RefreshError("the calendar's repeating events cannot be expanded "
                           f"({type(error).__name__}); check them in that calendar") from None
    found: set[Busy] = set()
    for series in query.series:
        try:
            for occurrence in series.between(start, end):
                if clock.monotonic() > deadline:
                    raise RefreshError(
                        f"reading the calendar took longer than {refresh_seconds():g} "
                        "seconds; it has too many events or repetitions. Remove old or "
                        "frequently repeating events; until then the last good copy keeps "
                        "blocking time.")
                busy = _busy(occurrence, zone, start, end)
                if busy is None:
                    continue
                found.add(busy)
                if len(found) > MAX_BUSY_ROWS:
                    raise RefreshError(
                        f"more than {MAX_BUSY_ROWS:,} busy events in the next "
                        f"{(end - start).days} days; remove old or frequently repeating "
                        "events from that calendar; until then the last good copy keeps "
                        "blocking time.")
        except RefreshError:
            raise
        except Exception as error:  # the library raises many types for data it cannot use
            raise RefreshError(
                f"the repeating event (UID {printable(series.uid, 80)}) cannot be expanded "
                f"({type(error).__name__}); correct or delete it in that calendar") from None
    return sorted(found)


def _busy(occurrence, zone: tzinfo, start: datetime, end: datetime) -> Busy | None:
    """The busy time of one ``recurring_ical_events`` occurrence, or None when it does not
    block (transparent, canceled, no length, outside [start, end))."""
    event = occurrence.as_component(False)
    if str(event.get("TRANSP", "OPAQUE")).strip().upper() == "TRANSPARENT":
        return None
    if str(event.get("STATUS", "")).strip().upper() == "CANCELLED":
        return None
    try:
        busy_start = _instant(occurrence.start, zone)
        busy_end = _instant(occurrence.end, zone)
    except (TypeError, ValueError, OverflowError):
        raise _unreadable(event, "DTEND", "cannot be used") from None
    if busy_end <= busy_start or busy_end <= start or busy_start >= end:
        return None
    return Busy(busy_start, busy_end, printable(event.get("SUMMARY", ""), 200))


def _fetch_caldav(external: ExternalCalendar, start: datetime, end: datetime) -> Calendar:
    url = net.check_url(external.url)
    combined = Calendar()
    seen_zones: set[str] = set()
    with net.caldav_client(url, username=external.username,
                           password=external.password) as client:
        calendar = client.calendar(url=url)
        for item in calendar.search(event=True, start=start, end=end, expand=False):
            for component in item.icalendar_instance.subcomponents:
                if component.name == "VTIMEZONE":
                    if str(component.get("TZID")) in seen_zones:
                        continue
                    seen_zones.add(str(component.get("TZID")))
                combined.add_component(component)
    return combined


def fetch(external: ExternalCalendar, *, start: datetime, end: datetime) -> Calendar:
    """The calendar's current data as one VCALENDAR. ICS addresses are fetched over
    HTTP(S) (``net.http_get``: timeout, size limit, no private networks); CalDAV
    calendars with a time-range REPORT over [start, end) through ``net.caldav_client``
    (the same guard and limits). Raises net.UnsafeUrl, net.FetchError, RefreshError, caldav
    errors."""
    if external.kind == ExternalCalendar.Kind.CALDAV:
        return _fetch_caldav(external, start, end)
    body = net.http_get(external.url, username=external.username,
                        password=external.password)
    try:
        return Calendar.from_ical(body)
    except Exception as error:  # the parser raises several types for what is not iCalendar
        raise RefreshError(f"not an iCalendar file: {printable(error, 120)}") from None


def window(studio: Studio, now: datetime) -> tuple[datetime, datetime]:
    """What a refresh expands: [now - 1 day, now + horizon + 2 days] (UTC)."""
    days = min(MAX_HORIZON_DAYS, studio.horizon_days + 2)
    return now - LOOK_BACK, now + timedelta(days=days)


def _describe(error: Exception, url: str = "") -> str:
    """The sentence stored in ``last_error``: our own errors' messages, else
    ``net.describe_error`` (never a library's own text)."""
    if isinstance(error, RefreshError):
        return (str(error) or type(error).__name__)[:1000]
    return net.describe_error(error, url)[:1000]


def refresh(external: ExternalCalendar, *, now: datetime | None = None) -> ExternalCalendar:
    """Fetch ``external`` and, on success, replace its busy rows with the new copy in one
    transaction (status ``ok``) and publish ``availability.changed`` when they differ. On any
    failure keep the old rows, set status ``failing`` and ``last_error``, and return
    normally: a failing source never stops anything else. Returns the calendar with its new
    status fields."""
    now = now or timezone.now()
    deadline = clock.monotonic() + refresh_seconds()
    start, end = window(external.studio, now)
    try:
        parsed = fetch(external, start=start, end=end)
        found = busy_intervals(parsed, zone=calendar_zone(parsed, external), start=start,
                               end=end, deadline=deadline)
    except Exception as error:  # a source may fail in any way; it must not stop the caller
        message = _describe(error, external.url)
        logger.warning("external calendar %s failed: %s", external.pk, message)
        ExternalCalendar.objects.filter(pk=external.pk).update(
            status=ExternalCalendar.Status.FAILING, last_error=message, refreshed_at=now)
        external.status, external.last_error, external.refreshed_at = (
            ExternalCalendar.Status.FAILING, message, now)
        return external

    with transaction.atomic():
        locked = ExternalCalendar.objects.select_for_update().filter(pk=external.pk).first()
        if locked is None:
            return external  # removed while it was being fetched
        old = set(ExternalBusy.objects.filter(external_calendar=locked)
                  .values_list("start_at", "end_at"))
        new = {(b.start, b.end) for b in found}
        ExternalBusy.objects.filter(external_calendar=locked).delete()
        ExternalBusy.objects.bulk_create([
            ExternalBusy(external_calendar=locked, start_at=b.start, end_at=b.end,
                         summary=b.summary) for b in found])
        ExternalCalendar.objects.filter(pk=locked.pk).update(
            status=ExternalCalendar.Status.OK, last_error="", refreshed_at=now,
            last_success_at=now)
        changed = old ^ new
        if changed:
            _publish_change(locked, changed)
    external.status, external.last_error = ExternalCalendar.Status.OK, ""
    external.refreshed_at = external.last_success_at = now
    return external


def _publish_change(external: ExternalCalendar, spans) -> None:
    kind, resource_id = external.target
    events.publish_availability(external.studio_id, [
        (kind, resource_id, core.Interval(start, end)) for start, end in spans])


def forget(external: ExternalCalendar) -> None:
    """Publish ``availability.changed`` for the busy time of a calendar about to be removed
    or switched off (call inside the transaction that does it)."""
    spans = list(ExternalBusy.objects.filter(external_calendar=external)
                 .values_list("start_at", "end_at"))
    if spans:
        _publish_change(external, spans)


def busy_source(studio: Studio, room_ids, staff_ids, start: datetime,
                end: datetime) -> list[tuple[str, int, core.Interval]]:
    """Busy time of the active external calendars of these rooms and engineers that overlaps
    [start, end) (UTC), as ``bookings.availability`` expects: ``(kind, id, Interval)``.
    One query. The stored copy is used whatever the calendar's status, so a failing
    calendar keeps blocking with its last good data."""
    room_ids, staff_ids = list(room_ids or ()), list(staff_ids or ())
    if not room_ids and not staff_ids:
        return []
    rows = (ExternalBusy.objects
            .filter(external_calendar__studio=studio, external_calendar__is_active=True,
                    start_at__lt=end, end_at__gt=start)
            .filter(Q(external_calendar__room_id__in=room_ids)
                    | Q(external_calendar__staff_id__in=staff_ids))
            .values_list("external_calendar__room_id", "external_calendar__staff_id",
                         "start_at", "end_at"))
    return [("room", room_id, core.Interval(s, e, BUSY_LABEL)) if room_id
            else ("staff", staff_id, core.Interval(s, e, BUSY_LABEL))
            for room_id, staff_id, s, e in rows]


def refresh_due(now: datetime | None = None) -> int:
    """The periodic job: enqueue a refresh task for each active calendar not refreshed in
    the last ``REFRESH_EVERY_SECONDS`` (less a minute of slack). Returns how many."""
    from studiobook.calendars.tasks import refresh_external_calendar

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=REFRESH_EVERY_SECONDS - 60)
    due = list(ExternalCalendar.objects.filter(is_active=True)
               .filter(Q(refreshed_at__isnull=True) | Q(refreshed_at__lte=cutoff))
               .values_list("id", flat=True))
    for calendar_id in due:
        refresh_external_calendar.enqueue(calendar_id)
    return len(due)
