"""iCalendar for bookings: email invites (iMIP), subscription feeds, and the objects pushed to
CalDAV calendars. Built with the ``icalendar`` package.

Rules and their sources:

- Every object: VCALENDAR with PRODID and VERSION:2.0 (RFC 5545 section 3.6), CALSCALE
  GREGORIAN, each VEVENT with UID, DTSTAMP in UTC, DTSTART and DTEND (sections 3.6.1,
  3.8.4.7, 3.8.7.2).
- Every instant is written in UTC (``DTSTART:20271107T053000Z``, RFC 5545 section 3.3.5
  "form #2"), never as a local time with TZID, and so no VTIMEZONE is written (one is
  required only for each TZID used, section 3.6.5). Why: a local time in the repeated hour
  of a fall-back day (Toronto 2027-11-07 01:30 happens twice) cannot say which of the two
  it means, and RFC 5545 section 3.3.5 makes readers take the first, so a session from
  01:30 EDT to 01:30 EST would read as a 0-minute event; and a VTIMEZONE is only as good as
  its generator (icalendar 7.3's ``Timezone.from_tzinfo`` puts each daylight-time onset at
  03:00 local with TZOFFSETFROM -0500, an hour late, which Radicale then applies to
  time-range queries). UTC instants mean the same thing to every reader; calendar clients
  show them in their user's own zone, and emails and pages give the studio's local times.
- Invites (RFC 5546): METHOD:REQUEST when a booking is confirmed or moved, METHOD:CANCEL with
  STATUS:CANCELLED when it is canceled or rejected (section 3.2.5: a cancellation is never
  sent as REQUEST). UID never changes; SEQUENCE is the stored one (``state.py``), raised
  for every significant change. ORGANIZER is the studio, ATTENDEE the artist. The email part
  carrying the invite has ``Content-Type: text/calendar; method=<METHOD>`` equal to the
  METHOD inside (RFC 6047 section 2.4).
- Feeds: METHOD:PUBLISH, events with ORGANIZER and no ATTENDEE, DTSTAMP = the booking's last
  change (so an unchanged feed is byte-identical and cacheable), NAME/X-WR-CALNAME and
  REFRESH-INTERVAL (RFC 7986) / X-PUBLISHED-TTL as refresh hints.
- CalDAV objects: no METHOD (RFC 4791 section 4.1), and neither ORGANIZER nor ATTENDEE, so a
  server with implicit scheduling (RFC 6638) never mails the artist from an engineer's
  account.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vDuration

from studiobook.bookings.models import Booking
from studiobook.calendars.state import (
    GONE_STATUSES,
    booking_uid,
    states_for,
    sync_calendar_state,
)
from studiobook.studios.models import Studio

PRODID = "-//Studiobook//Studiobook Calendars 1.0//EN"
REQUEST = "REQUEST"
CANCEL = "CANCEL"
PUBLISH = "PUBLISH"
FEED_REFRESH = timedelta(hours=1)

ARTIST = "artist"  # the artist's view: "Recording at Northside Sound"
STUDIO = "studio"  # the studio's view: "Recording: Ari Artist"


def organizer_email() -> str:
    """The address invites come from: ``STUDIOBOOK_CALENDAR_ORGANIZER_EMAIL``, else the
    address part of ``DEFAULT_FROM_EMAIL``."""
    configured = getattr(settings, "STUDIOBOOK_CALENDAR_ORGANIZER_EMAIL", "")
    return configured or parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "bookings@localhost"


def _organizer(studio: Studio) -> vCalAddress:
    address = vCalAddress(f"mailto:{organizer_email()}")
    address.params["CN"] = studio.name
    return address


def _attendee(booking: Booking) -> vCalAddress:
    # The artist booked the session, so they have accepted it already: PARTSTAT=ACCEPTED and
    # RSVP=FALSE keep clients from offering Accept/Decline buttons whose REPLY would go to
    # the organizer address, which nobody reads.
    user = booking.user
    address = vCalAddress(f"mailto:{user.email}")
    address.params.update({"CN": user.name or user.email, "CUTYPE": "INDIVIDUAL",
                           "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED",
                           "RSVP": "FALSE"})
    return address


def engineer_names(booking: Booking) -> list[str]:
    """Display names of the booking's engineers (prefetch ``assignments__staff``)."""
    return [a.staff.display_name for a in sorted(booking.assignments.all(),
                                                 key=lambda a: a.staff_id)]


def summary(booking: Booking, audience: str = ARTIST) -> str:
    if audience == ARTIST:
        return f"{booking.service.name} at {booking.studio.name}"
    return f"{booking.service.name}: {booking.user.name or booking.user.email}"


def location(booking: Booking) -> str:
    """Room, studio, address, city: whichever are known."""
    studio = booking.studio
    parts = [booking.room.name if booking.room_id else "", studio.name, studio.address,
             studio.city]
    return ", ".join(p for p in parts if p)


def description(booking: Booking) -> str:
    lines = [f"Booking {booking.code}: {booking.service.name}"]
    if booking.room_id:
        lines.append(f"Room: {booking.room.name}")
    names = engineer_names(booking)
    if names:
        lines.append(f"Engineer{'s' if len(names) > 1 else ''}: {', '.join(names)}")
    lines.append(f"Studio: {location(booking)}")
    return "\n".join(lines)


def new_calendar(method: str | None = None, *, name: str | None = None) -> Calendar:
    """An empty VCALENDAR with PRODID, VERSION, CALSCALE and, when given, METHOD and a name."""
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    if method:
        cal.add("METHOD", method)
    if name:
        cal.add("NAME", name)
        cal.add("X-WR-CALNAME", name)
    return cal


def booking_event(booking: Booking, *, method: str | None, sequence: int = 0,
                  uid: str | None = None, stamp: datetime | None = None,
                  audience: str = ARTIST) -> Event:
    """The VEVENT of ``booking`` for a message of ``method`` (REQUEST, CANCEL, PUBLISH, or
    None for a CalDAV object). ``stamp`` is DTSTAMP (UTC; default: the booking's last
    change). Needs ``studio``, ``service``, ``room``, ``user`` and ``assignments__staff``
    loaded (select/prefetch them for many bookings)."""
    event = Event()
    event.add("UID", uid or booking_uid(booking))
    event.add("DTSTAMP", (stamp or booking.updated_at).astimezone(UTC))
    event.add("SEQUENCE", sequence)
    event.add("DTSTART", booking.start_at.astimezone(UTC))
    event.add("DTEND", booking.end_at.astimezone(UTC))
    event.add("CREATED", booking.created_at.astimezone(UTC))
    event.add("LAST-MODIFIED", booking.updated_at.astimezone(UTC))
    event.add("SUMMARY", summary(booking, audience))
    event.add("LOCATION", location(booking))
    event.add("DESCRIPTION", description(booking))
    studio = booking.studio
    if studio.latitude is not None and studio.longitude is not None:
        event.add("GEO", (float(studio.latitude), float(studio.longitude)))
    is_gone = method == CANCEL or booking.status in GONE_STATUSES
    status = ("CANCELLED" if is_gone else
              "TENTATIVE" if booking.status == Booking.Status.AWAITING_APPROVAL else
              "CONFIRMED")
    event.add("STATUS", status)
    event.add("TRANSP", "OPAQUE")
    if method is not None:
        event.add("ORGANIZER", _organizer(studio))
    if method in (REQUEST, CANCEL):
        event.add("ATTENDEE", _attendee(booking))
    return event


def _serialize(cal: Calendar) -> bytes:
    # Every DATE-TIME is UTC (see the module docstring), so there is no TZID and no
    # VTIMEZONE to add.
    return cal.to_ical()


def invite_method(booking: Booking, method: str | None = None) -> str:
    """The METHOD of an invite for the booking as it stands: CANCEL for a canceled or
    rejected booking, REQUEST otherwise. A ``method`` that contradicts the status raises
    ValueError (RFC 5546 section 3.2.5: a cancellation is never sent as REQUEST)."""
    is_gone = booking.status in GONE_STATUSES
    method = method or (CANCEL if is_gone else REQUEST)
    if method not in (REQUEST, CANCEL):
        raise ValueError(f"an invite is REQUEST or CANCEL, not {method!r}")
    if method == REQUEST and is_gone:
        raise ValueError(f"booking {booking.code} is {booking.status}: it is sent as CANCEL, "
                         "never REQUEST (RFC 5546 section 3.2.5)")
    if method == CANCEL and not is_gone:
        raise ValueError(f"booking {booking.code} is {booking.status}: nothing to cancel")
    return method


def invite(booking: Booking, method: str | None = None, *,
           now: datetime | None = None) -> bytes:
    """An iMIP invite for the booking's artist (RFC 5546, RFC 6047): one VCALENDAR with
    METHOD and one VEVENT (times in UTC).

    ``method`` defaults to CANCEL for a canceled or rejected booking and REQUEST otherwise;
    asking for REQUEST on a canceled booking, or CANCEL on one that is not, raises
    ValueError. The stored SEQUENCE is brought up to date first (``sync_calendar_state``),
    so the invite carries the booking's current revision. DTSTAMP is ``now`` (UTC)."""
    method = invite_method(booking, method)
    state = sync_calendar_state(booking, now=now)
    cal = new_calendar(method)
    cal.add_component(booking_event(booking, method=method, sequence=state.sequence,
                                    uid=state.uid, stamp=now or timezone.now()))
    return _serialize(cal)


def invite_mime_part(booking: Booking, method: str | None = None, *,
                     now: datetime | None = None) -> tuple[bytes, str]:
    """``(body, content_type)`` for the text/calendar part of an invite email, with the
    Content-Type's ``method`` equal to the METHOD inside (RFC 6047 section 2.4), e.g.
    ``text/calendar; method=REQUEST; charset=UTF-8``. Attach it as an alternative part of
    the message (Gmail and Outlook show the event card from it) and, if wanted, once more as
    ``invite.ics``."""
    method = invite_method(booking, method)
    return invite(booking, method, now=now), f"text/calendar; method={method}; charset=UTF-8"


def feed(bookings: Iterable[Booking], name: str, *, audience: str = STUDIO) -> bytes:
    """A subscription feed (METHOD:PUBLISH) of ``bookings`` called ``name`` (times in
    UTC). The caller chooses the bookings (only ones on the calendar:
    canceled bookings are left out, not sent as STATUS:CANCELLED, which subscribed clients
    treat inconsistently) and loads their relations (see ``booking_event``)."""
    bookings = list(bookings)
    states = states_for(bookings)
    cal = new_calendar(PUBLISH, name=name)
    cal.add("REFRESH-INTERVAL", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(FEED_REFRESH))
    for booking in bookings:
        state = states.get(booking.id)
        cal.add_component(booking_event(
            booking, method=PUBLISH, sequence=state.sequence if state else 0,
            uid=state.uid if state else None, audience=audience))
    return _serialize(cal)


def caldav_object(booking: Booking, *, sequence: int, uid: str) -> bytes:
    """The calendar object resource stored in an engineer's CalDAV calendar: no METHOD, no
    ORGANIZER or ATTENDEE (see the module docstring), the studio's view of the session."""
    cal = new_calendar()
    cal.add_component(booking_event(booking, method=None, sequence=sequence, uid=uid,
                                    audience=STUDIO))
    return _serialize(cal)


def download(booking: Booking, *, now: datetime | None = None) -> bytes:
    """The session as a downloadable ``.ics`` file (METHOD:PUBLISH, one VEVENT, times in
    UTC) with the UID and SEQUENCE of the emailed invites: the stored SEQUENCE is brought
    up to date first, as ``invite`` does. DTSTAMP is ``now`` (UTC)."""
    state = sync_calendar_state(booking, now=now)
    cal = new_calendar(PUBLISH)
    cal.add_component(booking_event(booking, method=PUBLISH, sequence=state.sequence,
                                    uid=state.uid, stamp=now or timezone.now()))
    return _serialize(cal)


# --- "add to calendar" links for emails -------------------------------------------------------

def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def google_calendar_link(booking: Booking) -> str:
    """A Google Calendar "add event" link with the booking's times (UTC), title, details and
    place, shown in the studio's zone (``ctz``)."""
    query = {
        "action": "TEMPLATE",
        "text": summary(booking, ARTIST),
        "dates": f"{_utc_stamp(booking.start_at)}/{_utc_stamp(booking.end_at)}",
        "details": description(booking),
        "location": location(booking),
        "ctz": booking.studio.time_zone,
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_link(booking: Booking, *, office365: bool = False) -> str:
    """An Outlook on the web "new event" link (outlook.live.com for personal accounts,
    outlook.office.com for work accounts with ``office365``); times in UTC (ISO 8601)."""
    host = "outlook.office.com" if office365 else "outlook.live.com"
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": summary(booking, ARTIST),
        "startdt": booking.start_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "enddt": booking.end_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "body": description(booking),
        "location": location(booking),
    }
    return f"https://{host}/calendar/0/deeplink/compose?" + urlencode(query)
