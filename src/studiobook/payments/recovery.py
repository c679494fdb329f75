"""The payments recovery sweep: finish the money work a crash interrupted (issue 9 section 3).

The booking services write the rows a change needs inside its own transaction
(``bookings.billing``: payment rows, reserved refunds, the reschedule fee) and carry them out
at the gateway right after commit. A process that dies in between (``kill -9`` of a gunicorn
worker or of the task worker) leaves the rows; this sweep finds them again, older than a grace
period (so it never races the request that is about to do the work), and does it. Every
gateway call uses the idempotency key derived from the row (``gateways.idempotency_key``:
``payment:<id>:open:first``, ``payment:<id>:capture``, ``payment:<id>:cancel``,
``payment:<id>:charge``, ``refund:<id>``), so a call that had reached Stripe before the crash
is replayed by Stripe, not repeated.

What it does, in order (``recover``):

1. ``repair_missing_payments``: a booking that blocks time (awaiting approval or confirmed)
   with a price but no payment row (stored before payment rows were written in the booking's
   transaction) gets its rows, as ``create_payment_rows`` would have written them, and its
   due-now payment is opened.
2. due-now payments written but never opened: opened (``open_unopened_payment``);
3. confirmed bookings whose card authorization was never captured (the approval's process
   died before ``capture``): captured;
4. canceled or rejected bookings with an uncaptured intent still open: canceled;
5. refunds still ``pending`` (reserved, never sent, or refused as retryable): sent;
6. reschedule fees written but never charged (Stripe only; offline fees are paid at the
   studio): charged;
7. bookings waiting for their deposit (``Booking.confirm_on_payment``) whose due-now payment
   is authorized or paid but that are still awaiting approval (the process died between the
   payment's commit and the confirmation): confirmed (``confirm_paid_booking``, which also
   captures).

Issue 10 will turn each of these into a durable money-action row (capture, refund, transfer)
written in the deciding transaction and carried out by a retried task; the sweep then only
re-enqueues action rows, and the state-derived queries here (steps 3 and 4) go away.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from studiobook.bookings.models import Booking
from studiobook.bookings.services import confirm_paid_booking
from studiobook.payments import services
from studiobook.payments.errors import GatewayFailure
from studiobook.payments.models import Payment, Refund

logger = logging.getLogger(__name__)

Purpose = Payment.Purpose
BLOCKING = (Booking.Status.AWAITING_APPROVAL, Booking.Status.CONFIRMED)
GONE = (Booking.Status.CANCELED, Booking.Status.REJECTED)


def grace() -> timedelta:
    """How old work must be before the sweep takes it over (``STUDIOBOOK_RECOVERY_GRACE_SECONDS``,
    default 60 s): longer than a request needs between its commit and its gateway call."""
    return timedelta(seconds=settings.STUDIOBOOK_RECOVERY_GRACE_SECONDS)


def repair_missing_payments(*, now: datetime | None = None) -> int:
    """Give every blocking, priced booking without a payment row its rows
    (``services.create_payment_rows``), each under the booking's row lock; returns how many
    bookings were repaired. Their due-now payments are then opened at the gateway (the
    idempotency key is the new payment's, so this too can be interrupted and resumed)."""
    now = now or timezone.now()
    candidates = list(Booking.objects.filter(status__in=BLOCKING, total_minor__gt=0,
                                             payments__isnull=True)
                      .values_list("id", flat=True))
    repaired = 0
    for booking_id in candidates:
        with transaction.atomic():
            booking = (Booking.objects.locked().select_related("studio")
                       .filter(pk=booking_id, status__in=BLOCKING).first())
            if booking is None or services.create_payment_rows(booking, now=now) is None:
                continue
        repaired += 1
        services.open_unopened_payment(booking)  # after the rows committed
    if repaired:
        logger.warning("payments recovery: gave %s bookings their missing payment rows",
                       repaired)
    return repaired


def recover(*, now: datetime | None = None) -> dict[str, int]:
    """Run every step of the sweep (see the module docstring) for work older than
    ``grace()``; returns how many rows each step handled. The periodic job
    ``payments.recover``."""
    now = now or timezone.now()
    before = now - grace()
    counts = {"repaired": repair_missing_payments(now=now), "opened": 0, "captured": 0,
              "canceled": 0, "refunds": 0, "fees": 0, "confirmed": 0}

    unopened = (Payment.objects.select_related("booking", "booking__studio", "booking__user")
                .filter(purpose__in=(Purpose.FULL, Purpose.DEPOSIT), intent_id__isnull=True,
                        last_error_code="", status="requires_payment_method",
                        created_at__lte=before))
    for payment in unopened:
        if payment.booking.status in BLOCKING:
            if services.open_unopened_payment(payment.booking) is not None:
                counts["opened"] += 1
        elif payment.booking.status in GONE:
            Payment.objects.filter(pk=payment.pk, intent_id__isnull=True).update(
                status="canceled")
            counts["canceled"] += 1

    uncaptured = (Payment.objects.select_related("booking")
                  .filter(status="requires_capture", booking__status=Booking.Status.CONFIRMED,
                          booking__updated_at__lte=before, last_error_code="")
                  .exclude(purpose=Purpose.BALANCE))
    for payment in uncaptured:
        with contextlib.suppress(GatewayFailure):  # recorded on the payment
            services.capture(payment)
            counts["captured"] += 1

    stale = (Payment.objects.select_related("booking")
             .filter(status__in=services.UNCAPTURED, amount_captured_minor=0,
                     booking__status__in=GONE, booking__updated_at__lte=before))
    for payment in stale:
        services._cancel_intent(payment)
        counts["canceled"] += 1

    pending = list(Refund.objects.select_related("payment").filter(
        status="pending", created_at__lte=before).order_by("id"))
    if pending:
        with contextlib.suppress(GatewayFailure):  # recorded on the refund rows
            services.send_refunds(pending)
        counts["refunds"] = len(pending)

    fees = (Payment.objects.select_related("booking", "booking__user")
            .filter(purpose=Purpose.FEE, gateway="stripe", intent_id__isnull=True,
                    status="requires_payment_method", last_error_code="", action_url="",
                    created_at__lte=before))
    for fee in fees:
        services.charge_saved_card(fee)
        counts["fees"] += 1

    waiting = (Booking.objects.filter(status=Booking.Status.AWAITING_APPROVAL,
                                      confirm_on_payment=True, updated_at__lte=before,
                                      payments__purpose__in=(Purpose.FULL, Purpose.DEPOSIT),
                                      payments__status__in=("requires_capture", "succeeded"))
               .distinct())
    for booking in waiting:
        if confirm_paid_booking(booking=booking, now=now) is not None:
            counts["confirmed"] += 1
    return counts
