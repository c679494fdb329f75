"""Payment operations: open a booking's payment, capture, cancel, refund, record offline
payments, charge balances off-session, and apply Stripe webhook events.

Gateway calls never run inside a database transaction (a slow or failing provider must not
hold row locks); each one carries an idempotency key derived from our own ids
(https://docs.stripe.com/api/idempotent_requests). Money is reserved in the database before
the call (a refund raises ``amount_refunded_minor`` under a row lock first), so two
concurrent refunds can never exceed what was captured, and a failed call releases it.
Statuses use Stripe's PaymentIntent vocabulary for both gateways and never move backwards
(``models.can_move``): webhooks may arrive out of order.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from studiobook import scheduling as core
from studiobook.bookings import events
from studiobook.bookings import services as booking_services
from studiobook.bookings.errors import ResourceBusy
from studiobook.bookings.models import Booking
from studiobook.payments import ledger
from studiobook.payments.errors import GatewayFailure, PaymentStateError
from studiobook.payments.gateways import (
    GatewayError,
    IntentResult,
    OfflineGateway,
    PaymentGateway,
    StripeGateway,
    idempotency_key,
)
from studiobook.payments.models import (
    TERMINAL_STATUSES,
    Payment,
    PaymentCustomer,
    Refund,
    WebhookEvent,
    can_move,
)
from studiobook.studios import audit
from studiobook.studios.errors import InvalidInput
from studiobook.studios.permissions import require_admin, require_team

logger = logging.getLogger(__name__)
Purpose = Payment.Purpose
UNCAPTURED = ("requires_payment_method", "requires_confirmation", "requires_action",
              "requires_capture", "processing")

_gateway_override: PaymentGateway | None = None


def get_gateway() -> PaymentGateway:
    """Stripe when ``settings.PAYMENT_GATEWAY == "stripe"`` (keys from the environment), else
    the offline gateway (pay at the studio or by invoice)."""
    if _gateway_override is not None:
        return _gateway_override
    if settings.PAYMENT_GATEWAY == "stripe":
        return _stripe(settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET)
    return OfflineGateway()


@functools.lru_cache(maxsize=4)
def _stripe(secret_key: str, webhook_secret: str) -> PaymentGateway:
    # One client per key pair, so its HTTP connections are reused across requests.
    return StripeGateway(secret_key, webhook_secret)


def use_gateway(gateway: PaymentGateway | None) -> None:
    """Replace the configured gateway (tests give a StripeGateway on a recorded transport)."""
    global _gateway_override
    _gateway_override = gateway


# --- reading --------------------------------------------------------------------------------

def paid_minor(booking: Booking, payments: list[Payment] | None = None) -> int:
    """Captured minus refunded over the booking's payments, in minor units: also what
    :func:`refund` accepts at most. ``payments``: the booking's rows if already loaded."""
    payments = Payment.objects.filter(booking=booking) if payments is None else payments
    return sum(p.amount_captured_minor - p.amount_refunded_minor for p in payments)


def due_minor(payments: list[Payment]) -> int:
    """What is still to collect on a booking's open (not canceled) payments, in minor units:
    what :func:`record_offline_payment` accepts at most."""
    return sum(p.amount_minor - p.amount_captured_minor for p in payments
               if p.status != "canceled")


def balance_due_minor(booking: Booking, payments: list[Payment] | None = None) -> int:
    """What the artist still owes, in minor units: the total minus what was captured, while
    the booking stands (awaiting approval, confirmed or completed); 0 once it is canceled,
    rejected or a no-show (refunds there follow the policy, not this)."""
    if not (booking.is_blocking or booking.status == Booking.Status.COMPLETED):
        return 0
    payments = Payment.objects.filter(booking=booking) if payments is None else payments
    return max(0, booking.total_minor - sum(p.amount_captured_minor for p in payments))


def open_payment(booking: Booking, payments: list[Payment] | None = None) -> Payment | None:
    """The payment the artist can complete in the browser now: the latest one (not a
    scheduled balance) with a client secret, still waiting for a payment method,
    confirmation or authentication; None when there is none."""
    payments = list(booking.payments.all()) if payments is None else payments
    waiting = [p for p in payments
               if p.status in ("requires_payment_method", "requires_confirmation",
                               "requires_action") and p.client_secret
               and not (p.purpose == Purpose.BALANCE and p.intent_id is None)]
    return max(waiting, key=lambda p: p.id, default=None)


def retryable_payment(booking: Booking, payments: list[Payment] | None = None
                      ) -> Payment | None:
    """The due-now payment whose opening failed at the gateway (no intent yet), which
    :func:`retry_checkout` opens again; None when there is none."""
    payments = list(booking.payments.all()) if payments is None else payments
    due_now = [p for p in payments if p.purpose != Purpose.BALANCE]
    payment = max(due_now, key=lambda p: p.id, default=None)
    if payment is None or payment.intent_id or payment.status != "requires_payment_method":
        return None
    return payment


def payment_state(booking: Booking, payments: list[Payment] | None = None) -> str:
    """One word for the booking's money: ``none`` (nothing to pay), ``unpaid``,
    ``authorized``, ``deposit_paid``, ``paid``, ``action_needed``, ``partially_refunded``,
    ``refunded``."""
    payments = list(booking.payments.all()) if payments is None else payments
    live = [p for p in payments if p.status != "canceled" or p.amount_captured_minor]
    if not live:
        return "none"
    captured = sum(p.amount_captured_minor for p in live)
    refunded = sum(p.amount_refunded_minor for p in live)
    if refunded and refunded == captured:
        return "refunded"
    if refunded:
        return "partially_refunded"
    if any(p.status == "requires_action" or p.action_url for p in live
           if p.status != "succeeded"):
        return "action_needed"
    if captured >= booking.total_minor:
        return "paid"
    if captured:
        return "deposit_paid"
    if any(p.status == "requires_capture" for p in live):
        return "authorized"
    return "unpaid"


# An authorization this close to its capture deadline, on a booking still awaiting approval,
# is flagged in the approval queue (issue 3, section 3: "flags those that will lapse").
CAPTURE_RISK = timedelta(days=1)


@dataclass(frozen=True)
class CaptureDeadline:
    """``deadline``: the earliest ``capture_before`` (UTC) among the booking's card
    authorizations (None without one). ``is_at_risk``: the booking still awaits approval and
    the deadline is less than ``CAPTURE_RISK`` away, or past. ``has_lapsed``: it is past."""

    deadline: datetime | None
    is_at_risk: bool
    has_lapsed: bool


def capture_deadline(booking: Booking, payments: list[Payment] | None = None,
                     *, now: datetime | None = None) -> CaptureDeadline:
    """When the booking's card authorization lapses, and whether approving is urgent or
    too late (:class:`CaptureDeadline`)."""
    now = now or timezone.now()
    payments = list(booking.payments.all()) if payments is None else payments
    deadline = min((p.capture_before for p in payments
                    if p.status == "requires_capture" and p.capture_before), default=None)
    at_risk = bool(deadline and booking.status == Booking.Status.AWAITING_APPROVAL
                   and deadline - now < CAPTURE_RISK)
    return CaptureDeadline(deadline, at_risk, bool(deadline and deadline <= now))


# --- applying gateway results ---------------------------------------------------------------

def _record_error(payment: Payment, error: GatewayError) -> None:
    intent = error.intent
    fields = {"last_error_code": error.code or "", "last_error_message": str(error)[:2000]}
    if error.code == "authentication_required":
        fields["status"] = "requires_action"
        fields["action_url"] = (intent.next_action_url if intent and intent.next_action_url
                                else f"/bookings/{payment.booking.code}/pay")
        if intent is not None and not payment.intent_id:
            fields["intent_id"] = intent.id
    Payment.objects.filter(pk=payment.pk).update(**fields)
    for name, value in fields.items():
        setattr(payment, name, value)
    events.publish("payment.action_needed" if error.code == "authentication_required"
                   else "payment.failed", studio_id=payment.studio_id,
                   booking_id=payment.booking_id, payment_id=payment.id,
                   action_url=fields.get("action_url", ""), code=error.code or "")


def apply_intent(payment: Payment, intent: IntentResult, *,
                 adopt_intent_id: bool = True) -> Payment:
    """Bring ``payment`` up to date with the gateway's view of its intent, under a row lock:
    status only moves as ``models.can_move`` allows (forward, never out of succeeded or
    canceled), the captured amount only grows, and the growth is posted to the ledger exactly
    once. ``adopt_intent_id``: take the intent's id as the payment's (our own gateway calls,
    whose answer is the intent we just created or charged); webhook events pass False, so an
    event never changes which intent a payment is."""
    with transaction.atomic():
        # The payment alone: its booking is only read here, and locking it too (in the join)
        # would deadlock against a cancellation, which locks the booking, then its payments.
        locked = Payment.objects.select_for_update(of=("self",)).select_related(
            "booking", "booking__studio").get(pk=payment.pk)
        if adopt_intent_id and (intent.object == "payment_intent" or not locked.intent_id):
            locked.intent_id = intent.id
        if can_move(locked.status, intent.status):
            locked.status = intent.status
        if intent.client_secret:
            locked.client_secret = intent.client_secret
        if intent.capture_before:
            locked.capture_before = intent.capture_before
        if locked.status == "succeeded":
            locked.action_url, locked.last_error_code = "", ""
        received = min(intent.amount_received, locked.amount_minor)
        if intent.object == "payment_intent" and received > locked.amount_captured_minor:
            delta = received - locked.amount_captured_minor
            locked.amount_captured_minor = received
            locked.save()
            ledger.record_capture(locked, delta)
        else:
            locked.save()
    # After the payment's transaction: a booking that waits for this payment is confirmed.
    _confirm_if_paid(locked)
    return locked


def due_now_payment(booking: Booking, payments: list[Payment] | None = None
                    ) -> Payment | None:
    """The booking's due-now payment (``full`` or ``deposit``, the first written); None for
    a free booking."""
    payments = list(booking.payments.all()) if payments is None else payments
    due_now = [p for p in payments if p.purpose in (Purpose.FULL, Purpose.DEPOSIT)]
    return min(due_now, key=lambda p: p.id, default=None)


def due_now_secured(booking: Booking) -> bool:
    """Whether the booking's due-now payment is authorized (``requires_capture``) or paid in
    full (``succeeded`` with its whole amount captured): what confirms a booking with
    ``confirm_on_payment`` (issue 9, section 4). A saved card (setup mode) is not enough."""
    payment = due_now_payment(booking)
    return payment is not None and (
        payment.status == "requires_capture"
        or (payment.status == "succeeded"
            and payment.amount_captured_minor >= payment.amount_minor))


def _confirm_if_paid(payment: Payment) -> None:
    """Confirm the payment's booking (``bookings.services.confirm_paid_booking``) when it
    waits only for its due-now payment and this is that payment, now authorized or paid.
    Runs after the payment's transaction committed; idempotent (a duplicated webhook finds
    the booking confirmed and does nothing). A booking locked past the lock timeout is left
    to the recovery sweep (``payments.recovery``, step 7), so the payment's caller (a
    webhook, the desk) never fails for it."""
    booking = payment.booking
    if (payment.purpose in (Purpose.FULL, Purpose.DEPOSIT)
            and payment.status in ("requires_capture", "succeeded")
            and booking.confirm_on_payment
            and booking.status == Booking.Status.AWAITING_APPROVAL):
        try:
            booking_services.confirm_paid_booking(booking=booking)
        except ResourceBusy:
            logger.warning("booking %s is paid but busy: the recovery sweep confirms it",
                           booking.code)


def _customer(gateway: PaymentGateway, user) -> PaymentCustomer:
    row = PaymentCustomer.objects.filter(user=user, gateway=gateway.name).first()
    if row is not None:
        return row
    customer_id = gateway.create_customer(email=user.email, name=user.name,
                                          idempotency_key=idempotency_key("user", user.id,
                                                                          "customer"))
    try:
        with transaction.atomic():
            return PaymentCustomer.objects.create(user=user, gateway=gateway.name,
                                                  customer_id=customer_id)
    except IntegrityError:
        return PaymentCustomer.objects.get(user=user, gateway=gateway.name)


def _open_intent(payment: Payment, *, save_payment_method: bool) -> Payment:
    gateway = get_gateway()
    booking = payment.booking
    key = idempotency_key("payment", payment.id, "open", payment.last_error_code or "first")
    metadata = {"booking": booking.code, "payment": str(payment.id)}
    try:
        customer = _customer(gateway, booking.user)
        if payment.capture_method == "setup":
            result = gateway.create_setup_intent(customer=customer.customer_id,
                                                 metadata=metadata, idempotency_key=key)
        else:
            result = gateway.create_payment_intent(
                amount=payment.amount_minor, currency=payment.currency.lower(),
                capture_method=payment.capture_method, customer=customer.customer_id,
                save_payment_method=save_payment_method, metadata=metadata,
                idempotency_key=key)
    except GatewayError as error:
        _record_error(payment, error)
        return payment
    return apply_intent(payment, result)


# --- the booking's payment ------------------------------------------------------------------

def checkout_plan(*, studio, service, start_at: datetime, quote, artist=None,
                  now: datetime | None = None) -> core.policies.CapturePlan:
    """What :func:`start_checkout` will do for a web booking of ``service`` starting at
    ``start_at`` (UTC) and priced ``quote`` (``scheduling.Quote``), booked at ``now``: how
    much is taken now, on approval and later, and when. Pages show it before the booking
    exists, from the same inputs the booking will snapshot (approval as
    ``bookings.services.needs_approval``, the studio's approval window and balance lead);
    with ``artist`` (the user who will book) also the studio's first-booking rule, as
    ``create_booking`` applies it (``bookings.services.first_booking_wait``)."""
    waits = confirms = False
    if artist is not None and booking_services.is_limited_artist(actor=artist, studio=studio):
        waits, confirms = booking_services.first_booking_wait(
            studio=studio, service=service, artist=artist, total_minor=quote.total_minor)
    return _capture_plan(
        requires_approval=booking_services.needs_approval(studio, service) or waits,
        confirm_on_payment=confirms, now=now or timezone.now(), start_at=start_at,
        total_minor=quote.total_minor, deposit_minor=quote.deposit_minor,
        approval_window_hours=studio.approval_window_hours,
        balance_lead_hours=studio.balance_lead_hours)


def _capture_plan(*, requires_approval: bool, confirm_on_payment: bool,
                  **terms) -> core.policies.CapturePlan:
    """``scheduling.policies.capture_plan``, except that a booking waiting for its deposit
    (``confirm_on_payment``) needs money now, not a saved card: when an authorization would
    not outlast the approval window (mode ``setup``), the deposit is charged at once."""
    plan = core.policies.capture_plan(requires_approval=requires_approval, **terms)
    if confirm_on_payment and plan.mode == "setup":
        plan = core.policies.capture_plan(requires_approval=False, **terms)
    return plan


def create_payment_rows(booking: Booking, *, now: datetime | None = None) -> Payment | None:
    """Write the payment rows a new booking needs, in their initial state and without any
    gateway call (issue 3 section 3, issue 9 section 3): the due-now payment (``full``, or
    ``deposit`` with a ``balance`` row due ``balance_lead_hours`` before the session), with
    the capture mode ``scheduling.policies.capture_plan`` chooses (automatic; manual when the
    booking awaits approval and the approval window fits in a card hold; setup otherwise).

    Called inside the booking's own transaction (``billing().record_create``), so a booking
    never commits without them; also by the recovery sweep for bookings stored before that.
    Returns the due-now payment; None for a free booking or one that already has payments."""
    now = now or timezone.now()
    if booking.total_minor == 0 or booking.payments.exists():
        return None
    plan = _plan_for(booking, now)
    gateway_name = get_gateway().name
    with transaction.atomic():
        payment = Payment.objects.create(
            studio_id=booking.studio_id, booking=booking,
            purpose=Purpose.DEPOSIT if plan.balance_minor else Purpose.FULL,
            gateway=gateway_name, capture_method=plan.mode,
            amount_minor=booking.total_minor - plan.balance_minor, currency=booking.currency)
        if plan.balance_minor:
            Payment.objects.create(
                studio_id=booking.studio_id, booking=booking, purpose=Purpose.BALANCE,
                gateway=gateway_name, capture_method="automatic",
                amount_minor=plan.balance_minor, currency=booking.currency,
                due_at=plan.balance_due_at)
    return payment


def _plan_for(booking: Booking, now: datetime) -> core.policies.CapturePlan:
    snap = booking.policy_snapshot or {}
    return _capture_plan(
        requires_approval=booking.status == Booking.Status.AWAITING_APPROVAL,
        confirm_on_payment=booking.confirm_on_payment, now=now,
        start_at=booking.start_at, total_minor=booking.total_minor,
        deposit_minor=booking.deposit_minor,
        approval_window_hours=snap.get("approval_window_hours",
                                       booking.studio.approval_window_hours),
        balance_lead_hours=snap.get("balance_lead_hours", booking.studio.balance_lead_hours))


def unopened_payment(booking: Booking) -> Payment | None:
    """The due-now payment (``full`` or ``deposit``) that was written but never opened at the
    gateway: no intent, never tried (no error), still waiting. None when there is none."""
    return (Payment.objects.filter(booking=booking, purpose__in=(Purpose.FULL, Purpose.DEPOSIT),
                                   intent_id__isnull=True, last_error_code="",
                                   status="requires_payment_method")
            .order_by("id").first())


def open_unopened_payment(booking: Booking) -> Payment | None:
    """Open at the gateway the due-now payment ``create_payment_rows`` wrote, if it is still
    unopened (``unopened_payment``); the idempotency key is derived from the payment's id, so
    the request's own call after commit and the recovery sweep never open two intents.
    Returns the payment (None when there was nothing to open)."""
    payment = unopened_payment(booking)
    if payment is None:
        return None
    return _open_intent(payment, save_payment_method=_saves_payment_method(payment))


def _saves_payment_method(payment: Payment) -> bool:
    # capture_plan: the card is kept when a balance remains or the mode is "setup".
    return payment.capture_method == "setup" or Payment.objects.filter(
        booking_id=payment.booking_id, purpose=Purpose.BALANCE).exists()


def start_checkout(booking: Booking, *, now: datetime | None = None) -> Payment | None:
    """Write a new booking's payment rows (``create_payment_rows``) and open the due-now one
    at the gateway. Gateway failures are recorded on the payment (retry with
    ``retry_checkout``). Returns the due-now payment (None for a free booking, or one whose
    payments exist already)."""
    if create_payment_rows(booking, now=now) is None:
        return None
    return open_unopened_payment(booking)


def retry_checkout(*, actor, booking: Booking) -> Payment:
    """Open again a due-now payment whose gateway call failed. Raises PaymentStateError."""
    payment = retryable_payment(booking)
    if payment is None:
        raise PaymentStateError("there is no failed payment to retry")
    return _open_intent(payment, save_payment_method=_saves_payment_method(payment))


def capture(payment: Payment) -> Payment:
    """Capture an authorized (``requires_capture``) PaymentIntent in full. Raises
    PaymentStateError for anything else (double capture, capture after cancel),
    GatewayFailure when the gateway refuses (recorded on the payment)."""
    if payment.status != "requires_capture":
        raise PaymentStateError(f"cannot capture a payment that is {payment.status}")
    try:
        result = get_gateway().capture(
            intent_id=payment.intent_id, amount_to_capture=None,
            idempotency_key=idempotency_key("payment", payment.id, "capture"))
    except GatewayError as error:
        _record_error(payment, error)
        raise GatewayFailure(f"capture failed: {error}") from error
    return apply_intent(payment, result)


def _cancel_intent(payment: Payment) -> None:
    if payment.intent_id and payment.status in UNCAPTURED and payment.capture_method != "setup":
        try:
            result = get_gateway().cancel(
                intent_id=payment.intent_id,
                idempotency_key=idempotency_key("payment", payment.id, "cancel"))
        except GatewayError as error:
            _record_error(payment, error)
            return
        apply_intent(payment, result)
    elif payment.status in UNCAPTURED:
        Payment.objects.filter(pk=payment.pk).update(status="canceled")


def charge_saved_card(payment: Payment) -> Payment:
    """Charge ``payment`` off-session to the artist's saved card (a balance, a fee, or a
    setup-mode booking on approval). ``authentication_required`` brings the artist back
    on-session: the payment shows ``requires_action`` with a link (issue 3, section 3)."""
    gateway = get_gateway()
    booking = payment.booking
    customer = PaymentCustomer.objects.filter(user=booking.user, gateway=gateway.name).first()
    if gateway.name == "offline" or customer is None or not customer.payment_method_id:
        # Nothing saved to charge: the artist pays at the studio or through the pay link.
        Payment.objects.filter(pk=payment.pk).update(
            action_url=f"/bookings/{booking.code}/pay" if gateway.name != "offline" else "")
        payment.refresh_from_db()
        return payment
    try:
        result = gateway.charge_off_session(
            amount=payment.amount_minor, currency=payment.currency.lower(),
            customer=customer.customer_id, payment_method=customer.payment_method_id,
            metadata={"booking": booking.code, "payment": str(payment.id)},
            idempotency_key=idempotency_key("payment", payment.id, "charge"))
    except GatewayError as error:
        _record_error(payment, error)
        return payment
    return apply_intent(payment, result)


def charge_due_balances(*, now: datetime | None = None, booking: Booking | None = None) -> int:
    """Charge every balance due by ``now`` of a confirmed booking; returns how many were
    handled. A booking still awaiting approval is left alone (approval charges what is due
    by then); balances of canceled, rejected or finished bookings are canceled."""
    now = now or timezone.now()
    due = list(Payment.objects.select_related("booking", "booking__studio", "booking__user")
               .filter(purpose=Purpose.BALANCE, due_at__lte=now,
                       status="requires_payment_method", intent_id__isnull=True,
                       last_error_code="")
               .exclude(booking__status=Booking.Status.AWAITING_APPROVAL)
               .filter(**({"booking": booking} if booking is not None else {})))
    for payment in due:
        if payment.booking.status == Booking.Status.CONFIRMED:
            charge_saved_card(payment)
        else:
            Payment.objects.filter(pk=payment.pk).update(status="canceled")
    return len(due)


def record_offline_payment(*, actor, booking: Booking, amount_minor: int,
                           note: str = "") -> Payment:
    """Staff record money received at the studio or by invoice against the booking's open
    payments, oldest first. Raises Forbidden, InvalidInput (amount not positive or above
    what is still due)."""
    require_team(actor, booking.studio)
    if amount_minor <= 0:
        raise InvalidInput("amount_cents must be positive", field="amount_cents",
                           rule="positive")
    with transaction.atomic():
        open_payments = list(Payment.objects.select_for_update().filter(
            booking=booking).exclude(status="canceled").order_by("id"))
        due = due_minor(open_payments)
        if amount_minor > due:
            raise InvalidInput(f"only {core.format_money(due, booking.currency)} is still "
                               "due on this booking",
                               field="amount_cents", rule="at_most_due")
        remaining, touched = amount_minor, None
        for payment in open_payments:
            take = min(remaining, payment.amount_minor - payment.amount_captured_minor)
            if take <= 0:
                continue
            payment.amount_captured_minor += take
            if payment.amount_captured_minor == payment.amount_minor:
                payment.status = "succeeded"
            payment.save()
            ledger.record_capture(payment, take)
            remaining -= take
            touched = payment
            if not remaining:
                break
        audit.record(studio=booking.studio, actor=actor, action="payment.record_offline",
                     entity="booking", entity_id=booking.code,
                     diff={"amount_minor": amount_minor, "note": note})
    due_now = due_now_payment(booking, open_payments)
    if due_now is not None:
        _confirm_if_paid(due_now)
    return touched


def refund(*, booking: Booking, amount_minor: int, reason: str, actor=None) -> list[Refund]:
    """Refund ``amount_minor`` over the booking's captured payments, newest first. The amount
    is reserved under row locks before any gateway call, so concurrent refunds never exceed
    what was captured; a refused call releases its share and raises GatewayFailure. Raises
    InvalidInput (not positive, more than refundable), PaymentStateError (nothing paid)."""
    if amount_minor <= 0:
        raise InvalidInput("amount_cents must be positive", field="amount_cents",
                           rule="positive")
    with transaction.atomic():
        refundable = sum(p.refundable_minor for p in Payment.objects.select_for_update().filter(
            booking=booking, amount_captured_minor__gt=0))
        if not refundable:
            raise PaymentStateError("nothing has been paid on this booking")
        if amount_minor > refundable:
            raise InvalidInput(f"at most {core.format_money(refundable, booking.currency)} "
                               "can be refunded", field="amount_cents",
                               rule="at_most_captured")
        pending = reserve_refunds(booking=booking, amount_minor=amount_minor, reason=reason,
                                  actor=actor)
    return send_refunds(pending)


def reserve_refunds(*, booking: Booking, amount_minor: int, reason: str,
                    actor=None) -> list[Refund]:
    """Reserve up to ``amount_minor`` (minor units) of refunds over the booking's captured
    payments, newest first, as ``pending`` Refund rows, under row locks and without any
    gateway call: the durable record that the money is owed back. Never more than what is
    refundable (the rest is not reserved); nothing for nothing paid. ``send_refunds`` (or the
    recovery sweep) carries the rows out. Joins the caller's transaction (the cancel or
    reject of the booking) when there is one."""
    with transaction.atomic():
        payments = list(Payment.objects.select_for_update().filter(
            booking=booking, amount_captured_minor__gt=0).order_by("-id"))
        pending, remaining = [], amount_minor
        for payment in payments:
            share = min(remaining, payment.refundable_minor)
            if share <= 0:
                continue
            payment.amount_refunded_minor += share
            payment.save(update_fields=["amount_refunded_minor", "updated_at"])
            pending.append(Refund.objects.create(payment=payment, amount_minor=share,
                                                 status="pending", reason=reason[:300],
                                                 actor=actor if getattr(
                                                     actor, "is_authenticated", False) else None))
            remaining -= share
            if not remaining:
                break
        if pending:
            audit.record(studio=booking.studio, actor=actor, action="payment.refund",
                         entity="booking", entity_id=booking.code,
                         diff={"amount_minor": amount_minor - remaining, "reason": reason})
    return pending


def send_refunds(pending: list[Refund]) -> list[Refund]:
    """Send reserved refunds to the gateway; every one is attempted, then the first failure
    (if any) is raised as GatewayFailure. Pending ones can be sent again later: the
    idempotency key is the refund's id, so a retry never refunds twice."""
    done, failure = [], None
    for pending_refund in pending:
        try:
            done.append(_send_refund(pending_refund))
        except GatewayFailure as error:
            failure = failure or error
    if failure is not None:
        raise failure
    return done


def _send_refund(pending: Refund) -> Refund:
    payment = pending.payment
    if not payment.intent_id:
        # Taken at the studio (no gateway intent): it goes back the same way, recorded here.
        with transaction.atomic():
            pending.status = "succeeded"
            pending.save(update_fields=["status"])
            ledger.record_refund(pending)
        return pending
    try:
        result = get_gateway().refund(
            intent_id=payment.intent_id, amount=pending.amount_minor, reason=None,
            idempotency_key=idempotency_key("refund", pending.id))
    except GatewayError as error:
        if error.is_retryable:
            Refund.objects.filter(pk=pending.pk).update(status="pending")
            raise GatewayFailure(f"refund pending, retry later: {error}") from error
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            locked.amount_refunded_minor -= pending.amount_minor
            locked.save(update_fields=["amount_refunded_minor", "updated_at"])
            Refund.objects.filter(pk=pending.pk).update(status="failed")
        raise GatewayFailure(f"refund refused: {error}") from error
    with transaction.atomic():
        pending.refund_id = result.id if payment.gateway == "stripe" else None
        pending.status = result.status
        pending.save(update_fields=["refund_id", "status"])
        ledger.record_refund(pending)
    return pending


def admin_refund(*, actor, booking: Booking, amount_minor: int, reason: str) -> list[Refund]:
    """A studio admin's full or partial refund (recording-studio-prd.md story 14)."""
    require_admin(actor, booking.studio)
    if not reason.strip():
        raise InvalidInput("give a reason for the refund", field="reason", rule="required")
    return refund(booking=booking, amount_minor=amount_minor, reason=reason, actor=actor)


# --- the billing port for the booking services ----------------------------------------------

class PaymentsBilling:
    """``bookings.billing.Billing`` implemented with payments (registered at start-up)."""

    def paid_minor(self, booking) -> int:
        return paid_minor(booking)

    def due_now_secured(self, booking) -> bool:
        return due_now_secured(booking)

    def record_create(self, booking) -> None:
        create_payment_rows(booking)

    def record_cancel(self, booking, actor, refund_minor: int, reason: str) -> None:
        if refund_minor:
            reserve_refunds(booking=booking, amount_minor=refund_minor, reason=reason,
                            actor=actor)

    def record_reschedule(self, booking, fee_minor: int) -> None:
        lead = (booking.policy_snapshot or {}).get("balance_lead_hours",
                                                    booking.studio.balance_lead_hours)
        booking.payments.filter(purpose=Purpose.BALANCE, status="requires_payment_method",
                                intent_id__isnull=True).update(
            due_at=booking.start_at - timedelta(hours=lead))
        if fee_minor:
            Payment.objects.create(
                studio_id=booking.studio_id, booking=booking, purpose=Purpose.FEE,
                gateway=get_gateway().name, amount_minor=fee_minor, currency=booking.currency)

    def after_create(self, booking) -> None:
        open_unopened_payment(booking)

    def after_approve(self, booking, actor) -> None:
        for payment in booking.payments.exclude(purpose=Purpose.BALANCE).order_by("id"):
            if payment.status == "requires_capture":
                with contextlib.suppress(GatewayFailure):  # recorded on the payment
                    capture(payment)
            elif payment.capture_method == "setup" and payment.status != "canceled":
                charge_saved_card(payment)
        # A balance can fall due while the booking waits for approval: charge it now.
        charge_due_balances(booking=booking)

    def after_reject(self, booking, actor) -> None:
        self._wind_down(booking)

    def after_cancel(self, booking, actor, refund_minor: int) -> None:
        self._wind_down(booking)

    def after_reschedule(self, booking, actor, fee_minor: int) -> None:
        for fee in booking.payments.filter(purpose=Purpose.FEE, intent_id__isnull=True,
                                           status="requires_payment_method", last_error_code="",
                                           action_url=""):
            charge_saved_card(fee)

    @staticmethod
    def _wind_down(booking) -> None:
        for payment in booking.payments.filter(status__in=UNCAPTURED):
            if not payment.amount_captured_minor:
                _cancel_intent(payment)
        with contextlib.suppress(GatewayFailure):  # recorded on the refund row
            send_refunds(list(Refund.objects.filter(payment__booking=booking,
                                                    status="pending").order_by("id")))


# --- Stripe webhooks ------------------------------------------------------------------------

HANDLED_EVENTS = (
    "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
    "payment_intent.amount_capturable_updated", "payment_intent.processing",
    "payment_intent.requires_action", "setup_intent.succeeded", "charge.refunded",
    "charge.dispute.created",
)


def handle_stripe_event(event: dict) -> WebhookEvent:
    """Apply one verified, well-formed Stripe event (``StripeGateway.parse_webhook``), once:
    a second delivery of the same event id is a no-op (unless the first failed). Events may
    come in any order and duplicated (https://docs.stripe.com/webhooks#event-ordering).

    Stripe sends every event of the account, including other integrations' (issue 9,
    section 2), so an event moves only money this deployment created: it is matched to a
    payment by the id we stored (``Payment.intent_id``: the PaymentIntent or SetupIntent we
    created; a Charge or Dispute by its ``payment_intent``), never by metadata, and its
    gateway, amount and currency must agree with the payment. Anything else is stored with
    status ``ignored`` and the reason, and changes nothing. A payment's ``intent_id`` is never
    changed by an event, and statuses follow ``models.can_move`` (a succeeded payment never
    goes back, and a late failure never writes a decline onto it)."""
    try:
        with transaction.atomic():
            record, created = WebhookEvent.objects.get_or_create(
                event_id=event["id"], defaults={"type": event["type"], "payload": event})
    except IntegrityError:
        return WebhookEvent.objects.get(event_id=event["id"])
    if not created and record.status != "failed":
        return record
    try:
        reason = _dispatch(event)
        record.status = "ignored" if reason else "processed"
        record.error = reason
    except Exception as error:  # recorded, and Stripe retries on our 500
        record.status, record.error = "failed", repr(error)[:2000]
        record.processed_at = timezone.now()
        record.save()
        raise
    record.processed_at = timezone.now()
    record.save()
    return record


def _expandable_id(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _match(kind: str, obj: dict) -> tuple[Payment | None, str]:
    """The payment of ours an event is about, or None and why not. Only ids we stored are
    used (https://docs.stripe.com/payments/payment-intents/verifying-status#webhooks: match
    the PaymentIntent id you saved); ``metadata`` is never trusted, since any integration on
    the account can set it."""
    if kind.startswith(("payment_intent.", "setup_intent.")):
        intent_id = obj["id"]
    else:  # a charge or a dispute names its PaymentIntent
        intent_id = _expandable_id(obj.get("payment_intent"))
    if not intent_id:
        return None, f"{obj.get('object')} {obj.get('id')} names no PaymentIntent"
    payment = (Payment.objects.select_related("booking", "booking__studio")
               .filter(intent_id=intent_id).first())
    if payment is None:
        return None, f"{intent_id} was not created by this deployment"
    if payment.gateway != "stripe":
        return None, f"{intent_id} belongs to a {payment.gateway} payment"
    if kind.startswith("payment_intent."):
        if obj["amount"] != payment.amount_minor:
            return None, (f"{intent_id} is for {obj['amount']}, payment {payment.pk} for "
                          f"{payment.amount_minor}")
        if obj["currency"].upper() != payment.currency:
            return None, f"{intent_id} is in {obj['currency']}, not {payment.currency}"
    elif kind == "charge.refunded" and obj["currency"].upper() != payment.currency:
        return None, f"{obj['id']} is in {obj['currency']}, not {payment.currency}"
    elif kind.startswith("setup_intent.") and payment.capture_method != "setup":
        return None, f"{intent_id} is not a setup payment's"
    return payment, ""


def _dispatch(event: dict) -> str:
    """Apply ``event``; returns "" when applied, else why it was ignored."""
    from studiobook.payments.gateways.stripe_gateway import (
        payment_intent_result,
        setup_intent_result,
    )

    kind, obj = event["type"], event["data"]["object"]
    if kind not in HANDLED_EVENTS:
        return f"{kind} is not an event Studiobook handles"
    payment, reason = _match(kind, obj)
    if payment is None:
        return reason
    if kind.startswith("payment_intent."):
        intent = payment_intent_result(obj)
        if kind == "payment_intent.amount_capturable_updated" and not intent.capture_before:
            # Events carry latest_charge unexpanded; capture_before needs the charge.
            with contextlib.suppress(GatewayError):  # the deadline just stays unknown
                fetched = get_gateway().retrieve_payment_intent(intent.id)
                if fetched.id == intent.id:
                    intent = fetched
        apply_intent(payment, intent, adopt_intent_id=False)
        if kind == "payment_intent.payment_failed":
            error = obj.get("last_payment_error") or {}
            # A late failure (an earlier attempt's) never writes a decline onto a payment
            # that has since succeeded or been canceled.
            Payment.objects.filter(pk=payment.pk).exclude(status__in=TERMINAL_STATUSES).update(
                last_error_code=str(error.get("code") or "payment_failed")[:64],
                last_error_message=str(error.get("message") or "")[:2000])
        if obj.get("payment_method") and obj.get("setup_future_usage") == "off_session":
            _save_payment_method(payment, obj["payment_method"])
        return ""
    if kind == "setup_intent.succeeded":
        apply_intent(payment, setup_intent_result(obj), adopt_intent_id=False)
        if obj.get("payment_method"):
            _save_payment_method(payment, obj["payment_method"])
        Payment.objects.filter(pk=payment.pk, status__in=UNCAPTURED).update(
            status="requires_confirmation")
        return ""
    if kind == "charge.refunded":
        _sync_refunds(payment, obj)
        return ""
    if kind == "charge.dispute.created":
        Payment.objects.filter(pk=payment.pk).update(is_disputed=True)
        audit.record(studio=payment.booking.studio, actor=None, action="payment.dispute",
                     entity="booking", entity_id=payment.booking.code,
                     diff={"dispute": obj.get("id"), "amount": obj.get("amount")})
        return ""
    return f"{kind} is not an event Studiobook handles"


def _save_payment_method(payment: Payment, payment_method) -> None:
    method_id = payment_method["id"] if isinstance(payment_method, dict) else payment_method
    PaymentCustomer.objects.filter(user=payment.booking.user, gateway="stripe").update(
        payment_method_id=method_id)


def _sync_refunds(payment: Payment, charge: dict) -> None:
    """Refunds made outside Studiobook (the Stripe dashboard) join the ledger too."""
    known = set(Refund.objects.filter(payment=payment).values_list("refund_id", flat=True))
    for item in (charge.get("refunds") or {}).get("data", []):
        if item["id"] in known or item.get("status") not in ("succeeded", "pending"):
            continue
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            amount = min(item["amount"], locked.refundable_minor)
            if amount <= 0:
                continue
            locked.amount_refunded_minor += amount
            locked.save(update_fields=["amount_refunded_minor", "updated_at"])
            created = Refund.objects.create(payment=locked, amount_minor=amount,
                                            refund_id=item["id"], status=item["status"],
                                            reason="refunded in the Stripe dashboard")
            ledger.record_refund(created)
