"""What the calendars app does when a booking changes (``bookings.events``; subscribed in
``CalendarsConfig.ready`` with ``subscribe_in_transaction``). Handlers run inside the
booking's transaction: they update the booking's SEQUENCE (one conditional UPDATE), mark its
CalendarSync rows requested (``caldav_sync.request_sync``) and enqueue the CalDAV sync task
after commit, nothing slow and no network call. A process that dies between the commit and
the enqueue leaves requested rows that ``caldav_sync.recover_calendar_syncs`` finds."""

from __future__ import annotations

from studiobook import jobs
from studiobook.bookings.events import Event
from studiobook.bookings.models import Booking
from studiobook.calendars import caldav_sync
from studiobook.calendars.state import sync_calendar_state

# A booking appears: its CalendarState (UID, SEQUENCE 0) is created.
CREATED = ("booking.submitted", "booking.confirmed")
# A booking changes significantly: SEQUENCE is raised (state.py decides: approval does not).
CHANGED = ("booking.rescheduled", "booking.canceled", "booking.rejected",
           "booking.staff_changed")
# Engineers' calendars must follow: push on confirmation and changes, delete when the
# booking leaves the calendar (canceled, rejected, no-show) or an engineer is unassigned.
SYNCED = ("booking.confirmed", "booking.rescheduled", "booking.canceled", "booking.rejected",
          "booking.staff_changed", "booking.no_show")
EVENTS = tuple(dict.fromkeys(CREATED + CHANGED + SYNCED))


def on_booking_event(event: Event) -> None:
    """Sync the booking's CalendarState, then mark the push requested and enqueue
    ``tasks.sync_booking`` (after commit) when an engineer's calendar may need to change."""
    from studiobook.calendars.tasks import sync_booking

    if event.booking_id is None:
        return
    booking = Booking.objects.prefetch_related("assignments").filter(
        pk=event.booking_id).first()
    if booking is None:
        return
    if event.name in CREATED or event.name in CHANGED:
        sync_calendar_state(booking)
    if event.name in SYNCED and caldav_sync.needs_sync(booking.id):
        caldav_sync.request_sync(booking)
        jobs.enqueue_after_commit(sync_booking, booking.id)
