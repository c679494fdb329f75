"""Background tasks of the calendars app (django-tasks; see ``studiobook.jobs``).

Tasks take ids, re-read their rows and are idempotent, so a duplicate or late run is
harmless (CONVENTIONS.md, Concurrency)."""

from __future__ import annotations

from django_tasks import task

from studiobook.calendars import caldav_sync, external
from studiobook.calendars.models import ExternalCalendar


@task()
def sync_booking(booking_id: int, attempt: int = 1) -> dict:
    """Push the booking to its engineers' calendars, or delete it from them
    (``caldav_sync.sync_booking_now``); retries itself with backoff on failure."""
    return caldav_sync.sync_booking_now(booking_id, attempt=attempt)


@task()
def refresh_external_calendar(calendar_id: int) -> str:
    """Refresh one external busy calendar (``external.refresh``); returns its status.
    A missing or switched-off calendar is skipped."""
    calendar = (ExternalCalendar.objects.select_related("studio")
                .filter(pk=calendar_id, is_active=True).first())
    if calendar is None:
        return "skipped"
    return external.refresh(calendar).status
