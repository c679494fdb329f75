"""Money: payments (Stripe PaymentIntents or offline), refunds, the ledger, Stripe webhook
events and saved customers. (Taxes and fees are studio settings: ``studios.TaxRate`` and
``studios.Fee``.)

Amounts are integer minor units of ``currency``. Payment statuses use Stripe's PaymentIntent
vocabulary (https://docs.stripe.com/payments/paymentintents/lifecycle) for both gateways, so
the booking flow reads the same whichever gateway runs.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from studiobook.bookings.models import Booking
from studiobook.studios.models import Studio

# Stripe's PaymentIntent statuses in the order a payment moves through them; a webhook never
# moves a payment backwards in this order (events can arrive out of order).
STATUS_RANK = {
    "requires_payment_method": 0,
    "requires_confirmation": 1,
    "requires_action": 2,
    "processing": 3,
    "requires_capture": 4,
    "succeeded": 5,
    "canceled": 5,
}

TERMINAL_STATUSES = ("succeeded", "canceled")
"""Statuses a payment never leaves (https://docs.stripe.com/payments/paymentintents/lifecycle:
a succeeded or canceled PaymentIntent is final)."""


def can_move(current: str, new: str) -> bool:
    """The payment status transition table: whether a payment in ``current`` may take the
    status ``new`` that the gateway reports. Forward or sideways in :data:`STATUS_RANK` only,
    and never out of a terminal status (succeeded stays succeeded, canceled stays canceled),
    so events arriving late or out of order cannot undo a payment. Unknown statuses rank 0."""
    if current in TERMINAL_STATUSES:
        return new == current
    return STATUS_RANK.get(new, 0) >= STATUS_RANK.get(current, 0)


class PaymentCustomer(models.Model):
    """The gateway's customer for a user (Stripe ``cus_...``) and the card saved with the
    artist's consent for off-session charges (``pm_...``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    gateway = models.CharField(max_length=16)
    customer_id = models.CharField(max_length=64)
    payment_method_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "gateway"], name="payment_customer_unique")
        ]


class Payment(models.Model):
    """One PaymentIntent (or SetupIntent, ``capture_method="setup"``) for a booking.

    ``amount_minor`` is what it is for; ``amount_captured_minor`` what was actually taken and
    ``amount_refunded_minor`` what went back. A balance payment exists from booking time with
    ``due_at`` and no intent until it is charged."""

    class Purpose(models.TextChoices):
        FULL = "full", "Full amount"
        DEPOSIT = "deposit", "Deposit"
        BALANCE = "balance", "Balance"
        FEE = "fee", "Reschedule fee"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="payments")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payments")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    gateway = models.CharField(max_length=16)
    intent_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    client_secret = models.CharField(max_length=200, blank=True)
    capture_method = models.CharField(max_length=16, default="automatic")
    status = models.CharField(max_length=32, default="requires_payment_method")
    amount_minor = models.PositiveIntegerField()
    amount_captured_minor = models.PositiveIntegerField(default=0)
    amount_refunded_minor = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3)
    capture_before = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    action_url = models.URLField(max_length=500, blank=True)
    last_error_code = models.CharField(max_length=64, blank=True)
    last_error_message = models.TextField(blank=True)
    is_disputed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_captured_minor__lte=models.F("amount_minor")),
                name="payment_captured_le_amount"),
            models.CheckConstraint(
                condition=Q(amount_refunded_minor__lte=models.F("amount_captured_minor")),
                name="payment_refunded_le_captured"),
        ]

    @property
    def refundable_minor(self) -> int:
        return self.amount_captured_minor - self.amount_refunded_minor

    @property
    def is_authorized(self) -> bool:
        return self.status == "requires_capture"


class Refund(models.Model):
    """Money sent back on a payment (Stripe ``re_...`` or an offline refund)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveIntegerField()
    refund_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=32)
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class LedgerEntry(models.Model):
    """One leg of a balanced money movement. Every movement (capture, refund, platform fee,
    payout) writes legs that sum to zero, so the entries of each booking sum to zero.
    Positive means the account received money. Accounts: ``artist``, ``studio``,
    ``tax:<name>``, ``platform``, ``payout``."""

    class Kind(models.TextChoices):
        CAPTURE = "capture", "Capture"
        REFUND = "refund", "Refund"
        FEE = "fee", "Platform fee"
        PAYOUT = "payout", "Payout"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="ledger")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="ledger")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True)
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, null=True, blank=True)
    movement = models.CharField(max_length=64, help_text="groups the legs of one movement")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    account = models.CharField(max_length=80)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["studio", "created_at"])]


class WebhookEvent(models.Model):
    """A Stripe event, stored once by its id: a second delivery is a no-op. ``status``:
    ``processed``, ``ignored`` (``error`` then says why: not an event type we handle, or
    about money this deployment did not create, with the id) or ``failed`` (``error`` holds
    the exception; Stripe retries)."""

    event_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, default="received")  # processed | ignored | failed
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
