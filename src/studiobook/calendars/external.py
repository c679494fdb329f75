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

``busy_source`` hands the stored rows to ``bookings.availability`` (registered in
``CalendarsConfig.ready``), one query per slot search. Refreshes run every
``REFRESH_EVERY_SECONDS`` (``jobs.register_periodic("calendars.refresh_external", ...)``)
and on demand (``services.refresh_now``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import recurring_ical_events
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


def busy_intervals(parsed: Calendar, *, zone: tzinfo, start: datetime,
                   end: datetime) -> list[Busy]:
    """Busy occurrences of the VEVENTs in ``parsed`` that overlap [start, end) (UTC),
    sorted, without duplicates (see the module docstring for the rules). Malformed series
    are skipped (``skip_bad_series``), as are single events without a usable start."""
    found: set[Busy] = set()
    query = recurring_ical_events.of(parsed, skip_bad_series=True)
    for event in query.between(start, end):
        if str(event.get("TRANSP", "OPAQUE")).strip().upper() == "TRANSPARENT":
            continue
        if str(event.get("STATUS", "")).strip().upper() == "CANCELLED":
            continue
        try:
            begin, finish = event.start, event.end
        except Exception:  # icalendar raises several types for incomplete components
            logger.info("skipping an event without a usable start: %s", event.get("UID"))
            continue
        busy_start, busy_end = _instant(begin, zone), _instant(finish, zone)
        if busy_end <= busy_start or busy_end <= start or busy_start >= end:
            continue
        found.add(Busy(busy_start, busy_end, str(event.get("SUMMARY", ""))[:200]))
    return sorted(found)


def _fetch_caldav(external: ExternalCalendar, start: datetime, end: datetime) -> Calendar:
    import caldav

    url = net.check_url(external.url)
    combined = Calendar()
    seen_zones: set[str] = set()
    with caldav.DAVClient(url=url, username=external.username or None,
                          password=external.password or None,
                          timeout=net.fetch_timeout()) as client:
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
    calendars with a time-range REPORT over [start, end). Raises net.UnsafeUrl,
    net.FetchError, RefreshError, caldav errors."""
    if external.kind == ExternalCalendar.Kind.CALDAV:
        return _fetch_caldav(external, start, end)
    body = net.http_get(external.url, username=external.username,
                        password=external.password)
    try:
        return Calendar.from_ical(body)
    except ValueError as error:
        raise RefreshError(f"not an iCalendar file: {error}") from None


def window(studio: Studio, now: datetime) -> tuple[datetime, datetime]:
    """What a refresh expands: [now - 1 day, now + horizon + 2 days] (UTC)."""
    days = min(MAX_HORIZON_DAYS, studio.horizon_days + 2)
    return now - LOOK_BACK, now + timedelta(days=days)


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, net.FetchError | net.UnsafeUrl | RefreshError):
        return text[:1000]
    return f"{type(error).__name__}: {text}"[:1000]


def refresh(external: ExternalCalendar, *, now: datetime | None = None) -> ExternalCalendar:
    """Fetch ``external`` and, on success, replace its busy rows with the new copy in one
    transaction (status ``ok``) and publish ``availability.changed`` when they differ. On any
    failure keep the old rows, set status ``failing`` and ``last_error``, and return
    normally: a failing source never stops anything else. Returns the calendar with its new
    status fields."""
    now = now or timezone.now()
    start, end = window(external.studio, now)
    try:
        parsed = fetch(external, start=start, end=end)
        found = busy_intervals(parsed, zone=calendar_zone(parsed, external), start=start,
                               end=end)
        if len(found) > MAX_BUSY_ROWS:
            raise RefreshError(f"more than {MAX_BUSY_ROWS} busy events in the next "
                               f"{(end - start).days} days")
    except Exception as error:  # a source may fail in any way; it must not stop the caller
        message = _describe(error)
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
