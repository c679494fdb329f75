"""Pushing confirmed bookings into engineers' own calendars.

``sync_booking_now(booking_id)`` (run by the ``tasks.sync_booking`` task, which the booking
event handlers enqueue after commit) re-reads the booking and, for every provider:

- each engineer assigned to a confirmed or completed booking who has an account with the
  provider gets the event created or updated (``provider.upsert``: an idempotent PUT to an
  href derived from the booking's UID, so a retry or a duplicate task rewrites the same
  event);
- every copy that should no longer exist (the booking was canceled, rejected or marked a
  no-show, or the engineer was unassigned) is deleted (``provider.delete``; a 404 counts as
  deleted).

Each (booking, engineer, provider) has a ``CalendarSync`` row with its status, href, attempts
and last error. A failed push marks the row ``failed`` and the task re-enqueues itself with
``jobs.retry_after`` (exponential backoff) until ``jobs.MAX_ATTEMPTS``; the booking itself
is never affected. Copies already pushed at the booking's current revision (same
fingerprint, see ``state.py``) are left alone, so events that change nothing visible
(``booking.completed``) send nothing.

Providers implement ``CalendarProvider``. The CalDAV one (``CalDAVProvider``, the ``caldav``
library) covers iCloud, Fastmail, Nextcloud, Radicale and Google's CalDAV endpoint. Google
Calendar API and Microsoft Graph adapters are not included: a new provider is a class with
``name``, ``accounts_for``, ``upsert`` and ``delete`` passed to ``register_provider``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.utils import timezone

from studiobook import jobs
from studiobook.bookings.models import Booking
from studiobook.calendars import ics, net
from studiobook.calendars.models import CalDAVAccount, CalendarState, CalendarSync
from studiobook.calendars.state import SHOWN_STATUSES, assigned_staff_ids, sync_calendar_state

logger = logging.getLogger(__name__)
Status = CalendarSync.Status


class CalendarProvider(Protocol):
    """An external calendar service that bookings are pushed to."""

    name: str  # stored on CalendarSync.provider, e.g. "caldav"

    def accounts_for(self, staff_ids: Iterable[int]) -> dict[int, Any]:
        """The usable account of each of these engineers that has one, by staff id."""

    def upsert(self, booking: Booking, account: Any, *, state: CalendarState) -> str:
        """Create or replace the booking's event in the account's calendar; returns the
        event's href. Idempotent. Raises on any failure."""

    def delete(self, href: str, account: Any) -> None:
        """Delete the event at ``href``; an event that is already gone is not an error.
        Raises on any other failure."""


class CalDAVProvider:
    """CalDAV (RFC 4791) through the ``caldav`` library."""

    name = "caldav"

    def accounts_for(self, staff_ids: Iterable[int]) -> dict[int, CalDAVAccount]:
        return {a.staff_id: a for a in CalDAVAccount.objects.filter(
            staff_id__in=list(staff_ids), is_active=True)}

    @staticmethod
    def client(account: CalDAVAccount):
        """A client whose every request passes the SSRF guard and limits of ``net``."""
        return net.caldav_client(account.url, username=account.username,
                                 password=account.password)

    def upsert(self, booking: Booking, account: CalDAVAccount, *,
               state: CalendarState) -> str:
        data = ics.caldav_object(booking, sequence=state.sequence, uid=state.uid)
        with self.client(account) as client:
            calendar = client.calendar(url=net.check_url(account.calendar_url))
            # SEQUENCE is ours (state.py): the library must store it as it is.
            event = calendar.add_event(data.decode(), increase_seqno=False)
            return str(event.url)

    def delete(self, href: str, account: CalDAVAccount) -> None:
        import caldav

        with self.client(account) as client:
            caldav.Event(client, url=net.check_url(href)).delete()


_PROVIDERS: dict[str, CalendarProvider] = {}


def register_provider(provider: CalendarProvider) -> None:
    """Make ``provider`` part of every sync (replacing one of the same name)."""
    _PROVIDERS[provider.name] = provider


def providers() -> list[CalendarProvider]:
    return list(_PROVIDERS.values())


register_provider(CalDAVProvider())


def needs_sync(booking_id: int) -> bool:
    """Whether a sync task could do anything for this booking: a copy exists somewhere that
    may need updating or deleting, or an assigned engineer has an account with a provider.
    Two or three small queries; lets the event handlers skip enqueueing for the many
    bookings whose engineers connected no calendar."""
    from studiobook.bookings.models import BookingStaff

    if CalendarSync.objects.filter(booking_id=booking_id).exclude(
            status=Status.DELETED).exists():
        return True
    staff_ids = list(BookingStaff.objects.filter(booking_id=booking_id)
                     .values_list("staff_id", flat=True))
    return bool(staff_ids) and any(p.accounts_for(staff_ids) for p in providers())


def request_sync(booking: Booking, *, now: datetime | None = None) -> int:
    """Inside the booking's transaction: record that its external copies must be brought in
    line (``requested_at = now`` on its CalendarSync rows that are not deleted, and a
    ``pending`` row for each assigned engineer with an account and no row yet). Returns how
    many rows are requested. ``sync_booking_now`` clears the mark when it finishes."""
    from studiobook.bookings.models import BookingStaff

    now = now or timezone.now()
    staff_ids = list(BookingStaff.objects.filter(booking_id=booking.id)
                     .values_list("staff_id", flat=True))
    for provider in providers():
        for staff_id in provider.accounts_for(staff_ids):
            CalendarSync.objects.get_or_create(booking_id=booking.id, staff_id=staff_id,
                                               provider=provider.name)
    return CalendarSync.objects.filter(booking_id=booking.id).exclude(
        status=Status.DELETED).update(requested_at=now)


def recover_calendar_syncs(*, now: datetime | None = None) -> int:
    """Re-enqueue ``tasks.sync_booking`` for every booking no task will sync any more: rows
    requested longer ago than the grace period (``STUDIOBOOK_RECOVERY_GRACE_SECONDS``; the
    process died between commit and enqueue, or the worker died mid-sync), and failed rows
    whose scheduled retry is overdue by it (died before re-enqueuing). The rows' marks are
    moved to ``now``, so the next runs leave them alone for a grace period while the task
    waits in the queue. Periodic job ``calendars.recover``; returns how many bookings were
    re-enqueued. A duplicate task is harmless: the push is an idempotent PUT."""
    from django.conf import settings

    from studiobook.calendars.tasks import sync_booking

    now = now or timezone.now()
    before = now - timedelta(seconds=settings.STUDIOBOOK_RECOVERY_GRACE_SECONDS)
    requested = set(CalendarSync.objects.filter(requested_at__lte=before)
                    .values_list("booking_id", flat=True)[:500])
    overdue = dict(CalendarSync.objects.filter(status=Status.FAILED,
                                               next_attempt_at__lte=before,
                                               attempts__lt=jobs.MAX_ATTEMPTS)
                   .values_list("booking_id", "attempts")[:500])
    CalendarSync.objects.filter(booking_id__in=requested, requested_at__lte=before).update(
        requested_at=now)
    CalendarSync.objects.filter(booking_id__in=list(overdue), status=Status.FAILED,
                                next_attempt_at__lte=before).update(next_attempt_at=now)
    for booking_id in sorted(requested | set(overdue)):
        sync_booking.enqueue(booking_id, overdue.get(booking_id, 0) + 1)
    return len(requested | set(overdue))


def _describe(error: Exception, url: str = "") -> str:
    """A sentence for the sync row (shown to admins): ``net.describe_error``, never the
    library's own text."""
    return net.describe_error(error, url)[:2000]


def _failed(row: CalendarSync, error: Exception, now: datetime, url: str = "") -> None:
    row.status = Status.FAILED
    row.attempts += 1
    row.error = _describe(error, url)
    row.last_attempt_at = now
    row.next_attempt_at = None
    row.save()
    logger.warning("calendar sync of booking %s for staff %s failed: %s", row.booking_id,
                   row.staff_id, row.error)


def sync_booking_now(booking_id: int, *, attempt: int = 1,
                     now: datetime | None = None) -> dict[str, int]:
    """Bring every external copy of the booking in line with it (see the module docstring).
    Returns counts ``{"synced", "deleted", "failed", "unchanged"}``. On failures, enqueues
    the next attempt (``attempt + 1``) with backoff while ``attempt < jobs.MAX_ATTEMPTS`` and
    records when it will run on the failed rows."""
    from studiobook.calendars.tasks import sync_booking

    now = now or timezone.now()
    counts = {"synced": 0, "deleted": 0, "failed": 0, "unchanged": 0}
    booking = (Booking.objects.select_related("studio", "service", "room", "user")
               .prefetch_related("assignments__staff").filter(pk=booking_id).first())
    if booking is None:
        return counts  # deleted: its CalendarSync rows went with it
    state = sync_calendar_state(booking, now=now)
    wanted = set(assigned_staff_ids(booking)) if booking.status in SHOWN_STATUSES else set()
    failed_rows: list[CalendarSync] = []

    for provider in providers():
        rows = {r.staff_id: r for r in CalendarSync.objects.filter(
            booking=booking, provider=provider.name)}
        accounts = provider.accounts_for(wanted | set(rows))
        targets = wanted & set(accounts)

        # Deletions first: when two engineers share one calendar, the upsert below then
        # rewrites the event the deletion removed.
        for staff_id, row in rows.items():
            if staff_id in targets or row.status == Status.DELETED:
                continue
            account = accounts.get(staff_id)
            try:
                if row.href and account is not None:
                    provider.delete(row.href, account)
            except Exception as error:  # any failure of the remote server is retried
                _failed(row, error, now, getattr(account, "url", ""))
                failed_rows.append(row)
                continue
            row.status = Status.DELETED
            row.attempts = 0
            row.error = "" if account is not None or not row.href else (
                "the account was disconnected; the event was left in that calendar")
            row.last_attempt_at = now
            row.next_attempt_at = None
            row.save()
            counts["deleted"] += 1

        for staff_id in sorted(targets):
            row = rows.get(staff_id) or CalendarSync.objects.get_or_create(
                booking=booking, staff_id=staff_id, provider=provider.name)[0]
            if (row.status == Status.SYNCED and row.synced_fingerprint == state.fingerprint
                    and row.synced_sequence == state.sequence):
                counts["unchanged"] += 1
                continue
            try:
                href = provider.upsert(booking, accounts[staff_id], state=state)
            except Exception as error:  # any failure of the remote server is retried
                _failed(row, error, now, getattr(accounts[staff_id], "url", ""))
                failed_rows.append(row)
                continue
            row.href = href
            row.status = Status.SYNCED
            row.attempts = 0
            row.error = ""
            row.last_attempt_at = row.synced_at = now
            row.next_attempt_at = None
            row.synced_sequence = state.sequence
            row.synced_fingerprint = state.fingerprint
            row.save()
            counts["synced"] += 1

    counts["failed"] = len(failed_rows)
    # This run saw every request made before it started; later ones stay for the next run.
    CalendarSync.objects.filter(booking=booking, requested_at__lte=now).update(
        requested_at=None)
    if failed_rows:
        _schedule_retry(sync_booking, booking_id, attempt, failed_rows)
    return counts


def _schedule_retry(task, booking_id: int, attempt: int, rows: list[CalendarSync]) -> None:
    if attempt >= jobs.MAX_ATTEMPTS:
        for row in rows:
            row.error = f"gave up after {attempt} attempts: {row.error}"[:2000]
            row.save(update_fields=["error", "updated_at"])
        return
    # The retry's time is stored before it is enqueued: if this process dies in between, the
    # recovery sweep sees an overdue retry and enqueues it.
    when = timezone.now() + timedelta(seconds=jobs.backoff_seconds(attempt))
    CalendarSync.objects.filter(pk__in=[r.pk for r in rows]).update(next_attempt_at=when)
    task.using(run_after=when).enqueue(booking_id, attempt + 1)
    for row in rows:
        row.next_attempt_at = when
