"""A booking's iCalendar identity: its UID and the SEQUENCE of its revisions.

RFC 5545 section 3.8.7.4: the organizer raises SEQUENCE each time it makes a significant
revision (start, end, recurrence, status); a calendar client then treats the newer message as
superseding the older one. RFC 5546 section 2.1.4 adds that a CANCEL must carry a SEQUENCE
at least that of what it cancels, and clients ignore messages with a lower one.

``sync_calendar_state`` is the one place that decides whether a booking changed
significantly since it was last looked at. The booking event handlers call it for each
change, and ``ics.invite`` calls it before building a message, so whichever runs first
raises SEQUENCE and the other finds it current: one raise per change, whatever the order of
the handlers of other apps (notifications) that build invites.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from studiobook.bookings.models import Booking
from studiobook.calendars.models import CalendarState

# Statuses whose booking has left the calendar: it is sent as METHOD:CANCEL with
# STATUS:CANCELLED and it is absent from feeds and engineers' calendars.
GONE_STATUSES = frozenset({Booking.Status.CANCELED, Booking.Status.REJECTED})
# Statuses shown in feeds and pushed to engineers' calendars.
SHOWN_STATUSES = (Booking.Status.CONFIRMED, Booking.Status.COMPLETED)


def booking_uid(booking: Booking) -> str:
    """``"{code}@studiobook"``: globally unique (codes are unique) and stable for ever
    (RFC 5545 section 3.8.4.7). Stored on ``CalendarState.uid`` at first use."""
    return f"{booking.code}@studiobook"


def assigned_staff_ids(booking: Booking) -> list[int]:
    """The booking's engineers, ascending (uses a prefetch of ``assignments`` when there is
    one)."""
    return sorted(a.staff_id for a in booking.assignments.all())


def fingerprint(booking: Booking, staff_ids: list[int] | None = None) -> str:
    """A digest of what makes a revision significant: time, room, engineers, service, and
    whether the booking is on the calendar or gone. Approval (awaiting_approval ->
    confirmed), completion and no-show leave it unchanged."""
    staff_ids = assigned_staff_ids(booking) if staff_ids is None else sorted(staff_ids)
    parts = [
        booking.start_at.isoformat(), booking.end_at.isoformat(), str(booking.room_id),
        ",".join(map(str, staff_ids)), str(booking.service_id),
        "gone" if booking.status in GONE_STATUSES else "on",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def sync_calendar_state(booking: Booking, *, now: datetime | None = None) -> CalendarState:
    """The booking's CalendarState, created at SEQUENCE 0 on first use, with SEQUENCE raised
    by one if the booking changed significantly since the state was last synced.

    ``booking`` must be as it stands in the database. The raise is one conditional UPDATE
    (``sequence = sequence + 1 WHERE fingerprint = <old>``), so concurrent callers that see
    the same change raise it once."""
    now = now or timezone.now()
    digest = fingerprint(booking)
    state, created = CalendarState.objects.get_or_create(
        booking=booking,
        defaults={"uid": booking_uid(booking), "sequence": 0, "fingerprint": digest,
                  "updated_at": now})
    for _ in range(3):
        if created or state.fingerprint == digest:
            return state
        CalendarState.objects.filter(pk=state.pk, fingerprint=state.fingerprint).update(
            sequence=F("sequence") + 1, fingerprint=digest, updated_at=now)
        state.refresh_from_db()
    return state


def states_for(bookings) -> dict[int, CalendarState]:
    """CalendarState rows of ``bookings`` by booking id, in one query (nothing is written:
    a booking without a state is shown at SEQUENCE 0)."""
    ids = [b.id for b in bookings]
    return {s.booking_id: s for s in CalendarState.objects.filter(booking_id__in=ids)}
