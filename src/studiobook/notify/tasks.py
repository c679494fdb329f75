"""The delivery task: send one queued notification, record the outcome, retry with backoff.

``deliver(notification_id, attempt)`` is idempotent (CONVENTIONS.md, Concurrency): it re-reads
the row under a lock, does nothing when the row is already sent or skipped or another worker
is sending it, and skips a message the booking has outgrown (``services.stale_reason``). The
send itself runs outside any transaction, so a slow SMTP server or SMS provider holds no row
lock. A failure is recorded on the row (``failed`` with the error) and retried after
``jobs.backoff_seconds(attempt)`` until ``jobs.MAX_ATTEMPTS``, unless the channel says it is
permanent (``channels.DeliveryError.is_permanent``: an invalid phone number); it never
touches the booking.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from studiobook import jobs
from studiobook.notify import services
from studiobook.notify.models import Notification

logger = logging.getLogger(__name__)

Status = Notification.Status

# A row claimed ("sending") longer ago than this belongs to a worker that died mid-send; the
# next attempt may take it over. (The SMTP timeout and Twilio's are far shorter.)
CLAIM_LEASE = timedelta(minutes=10)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


@task()
def deliver(notification_id: int, attempt: int = 1) -> str:
    """Send notification ``notification_id``; ``attempt`` counts this task's runs for it
    (1 = the first). Returns the row's status afterwards."""
    now = timezone.now()
    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(
            pk=notification_id).first()
        if notification is None:
            return "missing"
        if notification.is_final:
            return notification.status
        if (notification.status == Status.SENDING and notification.claimed_at
                and notification.claimed_at > now - CLAIM_LEASE):
            return notification.status
        booking = notification.booking
        reason = services.stale_reason(notification, booking)
        if reason:
            notification.status, notification.error = Status.SKIPPED, reason
            notification.next_attempt_at = None
            notification.save(update_fields=["status", "error", "next_attempt_at",
                                             "updated_at"])
            return notification.status
        notification.status = Status.SENDING
        notification.claimed_at = now
        notification.attempts += 1
        notification.next_attempt_at = None
        notification.save(update_fields=["status", "claimed_at", "attempts",
                                         "next_attempt_at", "updated_at"])

    try:
        delivery = services.send(notification)
    except Exception as error:
        logger.warning("notification %s failed (attempt %s): %s", notification.key, attempt,
                       describe(error))
        Notification.objects.filter(pk=notification.pk).update(
            status=Status.FAILED, error=describe(error), claimed_at=None,
            updated_at=timezone.now())
        if attempt < jobs.MAX_ATTEMPTS and not getattr(error, "is_permanent", False):
            when = jobs.retry_after(deliver, attempt, notification.pk, attempt + 1)
            Notification.objects.filter(pk=notification.pk).update(next_attempt_at=when)
        return Status.FAILED

    Notification.objects.filter(pk=notification.pk).update(
        status=Status.SENT, error="", claimed_at=None, sent_at=timezone.now(),
        recipient=delivery.recipient[:254],
        provider_message_id=delivery.provider_message_id[:200],
        ics_method=delivery.ics_method, payload=delivery.payload, updated_at=timezone.now())
    return Status.SENT
