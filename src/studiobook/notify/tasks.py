"""The delivery task: send one queued notification, record the outcome, retry with backoff;
and the recovery sweep that finds notifications a crash left behind.

``deliver(notification_id, attempt)`` is idempotent (CONVENTIONS.md, Concurrency). It claims
the row with one conditional UPDATE (``status`` queued or failed, or ``sending`` with an
expired claim -> ``sending``, ``claimed_at = now``): on both databases exactly one worker
wins a claim, the others find it taken and do nothing. A row already sent or skipped is left
alone, and a message the booking has outgrown is skipped (``services.stale_reason``). The
send itself runs outside any transaction, so a slow SMTP server or SMS provider holds no row
lock. A failure is recorded on the row (``failed`` with the error, and ``next_attempt_at``
written before the retry is enqueued) and retried after ``jobs.backoff_seconds(attempt)``
until ``jobs.MAX_ATTEMPTS``, unless the channel says it is permanent
(``channels.DeliveryError.is_permanent``: an invalid phone number); it never touches the
booking.

Exactly once, and where it cannot be: the claim makes two concurrent sends impossible while
the claim lasts (``claim_lease()``, ``NOTIFY_CLAIM_LEASE_SECONDS``, default 300 s, far longer
than ``EMAIL_TIMEOUT``). The SMTP transaction itself and the UPDATE that records ``sent`` are
two steps no protocol makes atomic: a worker killed after the server accepted the message and
before that UPDATE leaves the row ``sending``, and after the lease the sweep sends it again.
So a double send needs a crash inside that window of a few milliseconds; a crash anywhere else
(before the claim, before the send, while the server is still receiving) loses nothing and
sends nothing twice. Every message carries ``X-Studiobook-Notification: <key>`` so a duplicate
can be recognised.

``recover_notifications`` (periodic, ``notify.recover``) re-enqueues what no task will
deliver any more: ``queued`` rows older than the grace period (the process died between the
booking's commit and the enqueue), ``sending`` rows whose claim expired (the worker died
mid-send), and ``failed`` rows whose scheduled retry is overdue (died before re-enqueuing).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django_tasks import task

from studiobook import jobs
from studiobook.notify import services
from studiobook.notify.models import Notification

logger = logging.getLogger(__name__)

Status = Notification.Status
SWEEP_BATCH = 500


def claim_lease() -> timedelta:
    """How long a worker's claim (``sending``) protects a row; older claims belong to a
    worker that died mid-send and may be taken over (``NOTIFY_CLAIM_LEASE_SECONDS``)."""
    return timedelta(seconds=settings.NOTIFY_CLAIM_LEASE_SECONDS)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def _claimable(now: datetime) -> Q:
    return (Q(status__in=(Status.QUEUED, Status.FAILED))
            | Q(status=Status.SENDING, claimed_at__lte=now - claim_lease())
            | Q(status=Status.SENDING, claimed_at__isnull=True))


@task()
def deliver(notification_id: int, attempt: int = 1) -> str:
    """Send notification ``notification_id``; ``attempt`` counts this task's runs for it
    (1 = the first). Returns the row's status afterwards (what another worker left when it
    holds the claim)."""
    now = timezone.now()
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:
        return "missing"
    if notification.is_final:
        return notification.status
    claimable = Notification.objects.filter(_claimable(now), pk=notification_id)
    reason = services.stale_reason(notification, notification.booking)
    if reason:
        if claimable.update(status=Status.SKIPPED, error=reason, next_attempt_at=None,
                            updated_at=now):
            return Status.SKIPPED
        return Notification.objects.get(pk=notification_id).status
    if not claimable.update(status=Status.SENDING, claimed_at=now,
                            attempts=F("attempts") + 1, next_attempt_at=None, updated_at=now):
        return Notification.objects.get(pk=notification_id).status  # someone else has it
    notification.refresh_from_db()
    ours = Notification.objects.filter(pk=notification.pk, status=Status.SENDING,
                                       claimed_at=now)

    try:
        delivery = services.send(notification)
    except Exception as error:
        logger.warning("notification %s failed (attempt %s): %s", notification.key, attempt,
                       describe(error))
        retry = attempt < jobs.MAX_ATTEMPTS and not getattr(error, "is_permanent", False)
        when = (timezone.now() + timedelta(seconds=jobs.backoff_seconds(attempt))
                if retry else None)
        # The retry's time is stored before it is enqueued: if this process dies in between,
        # the sweep sees an overdue retry and enqueues it.
        ours.update(status=Status.FAILED, error=describe(error), claimed_at=None,
                    next_attempt_at=when, updated_at=timezone.now())
        if when is not None:
            deliver.using(run_after=when).enqueue(notification.pk, attempt + 1)
        return Status.FAILED

    recorded = ours.update(
        status=Status.SENT, error="", claimed_at=None, sent_at=timezone.now(),
        recipient=delivery.recipient[:254],
        provider_message_id=delivery.provider_message_id[:200],
        ics_method=delivery.ics_method, payload=delivery.payload, updated_at=timezone.now())
    if not recorded:
        # The send outlived the lease and another worker took the row over.
        logger.error("notification %s was sent after its claim expired (lease %s s)",
                     notification.key, settings.NOTIFY_CLAIM_LEASE_SECONDS)
        Notification.objects.filter(pk=notification.pk).exclude(status=Status.SENT).update(
            status=Status.SENT, sent_at=timezone.now(), updated_at=timezone.now())
    return Status.SENT


def recover_notifications(*, now: datetime | None = None) -> int:
    """Re-enqueue ``deliver`` for every notification no task will deliver any more (see the
    module docstring): ``queued`` older than the grace period
    (``STUDIOBOOK_RECOVERY_GRACE_SECONDS``), ``sending`` with an expired claim, ``failed``
    with a retry overdue by the grace period. Each row it re-enqueues gets
    ``next_attempt_at = now``, so the next runs leave it alone for a grace period while that
    task waits in the queue. At most ``SWEEP_BATCH`` rows per run. Returns how many were
    re-enqueued. Duplicated tasks are harmless: ``deliver`` claims before it sends."""
    now = now or timezone.now()
    before = now - timedelta(seconds=settings.STUDIOBOOK_RECOVERY_GRACE_SECONDS)
    not_just_enqueued = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=before)
    lost = (Q(status=Status.QUEUED, created_at__lte=before) & not_just_enqueued
            | Q(status=Status.SENDING, claimed_at__lte=now - claim_lease()) & not_just_enqueued
            | Q(status=Status.FAILED, next_attempt_at__lte=before,
                attempts__lt=jobs.MAX_ATTEMPTS))
    rows = list(Notification.objects.filter(lost).order_by("id")
                .values_list("id", "attempts")[:SWEEP_BATCH])
    for notification_id, attempts in rows:
        Notification.objects.filter(pk=notification_id).update(next_attempt_at=now)
        deliver.enqueue(notification_id, attempts + 1)
    if rows:
        logger.warning("notifications recovery: re-enqueued %s notifications", len(rows))
    return len(rows)
