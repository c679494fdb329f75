"""Issue 9, section 4: with ``first_booking_rule = "deposit"`` a first-time artist's booking
waits for approval until its due-now payment is paid, and that payment confirms it (offline
gateway: the desk records it). The artist gets "submitted", then "approved"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from studiobook.bookings import services as bookings
from studiobook.bookings.errors import IllegalTransition, ResourceBusy
from studiobook.bookings.models import Booking
from studiobook.notify.models import Notification
from studiobook.payments import recovery
from studiobook.payments import services as payments
from studiobook.payments.models import LedgerEntry, Payment
from studiobook.studios.models import AuditLog
from tests.notify.conftest import START
from tests.support.factories import NOW

DEPOSIT = 13560  # 4 h at 60.00 = 240.00, HST 13 % = 271.20, deposit 50 % = 135.60


@pytest.fixture
def deposit_world(world, make_service):
    world["studio"].first_booking_rule = "deposit"
    world["studio"].save()
    world["deposit_service"] = make_service(name="Mixing", requires_approval=False,
                                            deposit_percent=50)
    return world


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


def approvals(booking: Booking) -> list[tuple]:
    return list(AuditLog.objects.filter(entity_id=booking.code, action="booking.approve")
                .values_list("actor_id", "diff"))


def test_the_desk_recording_the_deposit_confirms_a_first_timer(deposit_world, book, committed):
    world = deposit_world
    booking = book(service=world["deposit_service"])
    assert (booking.status, booking.confirm_on_payment, booking.deposit_minor) == (
        "awaiting_approval", True, DEPOSIT)
    deposit = Payment.objects.get(booking=booking, purpose="deposit")
    assert (deposit.amount_minor, deposit.capture_method, deposit.status) == (
        DEPOSIT, "manual", "requires_payment_method")
    assert subjects() == [f"Booking {booking.code} received: awaiting approval"]

    # Less than the deposit confirms nothing.
    committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
              amount_minor=DEPOSIT - 1)
    booking.refresh_from_db()
    assert booking.status == "awaiting_approval"
    assert approvals(booking) == []
    assert len(mail.outbox) == 1

    committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
              amount_minor=1)
    booking.refresh_from_db()
    assert (booking.status, booking.approved_by_id, booking.approved_at) == (
        "confirmed", None, NOW)
    assert approvals(booking) == [(None, {"status": ["awaiting_approval", "confirmed"],
                                          "reason": "", "confirmed_by": "payment"})]
    assert subjects() == [f"Booking {booking.code} received: awaiting approval",
                          f"Booking {booking.code} confirmed: Saturday 28 November 2026, 10:00"]
    assert Notification.objects.filter(booking=booking, template="approved",
                                       channel="email").count() == 1
    assert payments.paid_minor(booking) == DEPOSIT
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 0

    # An admin acting afterwards finds it decided; paying more changes nothing of it.
    with pytest.raises(IllegalTransition):
        bookings.approve_booking(actor=world["admin"], booking=booking, now=NOW)
    committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
              amount_minor=100)
    assert len(approvals(booking)) == 1
    assert len(mail.outbox) == 2

    # Now paid here, the artist is no longer a first-timer: the next booking is confirmed.
    again = book(service=world["deposit_service"], start=START + timedelta(days=1))
    assert (again.status, again.confirm_on_payment) == ("confirmed", False)


def test_the_full_price_confirms_when_the_service_takes_no_deposit(deposit_world, book,
                                                                   committed):
    world = deposit_world
    booking = book(service=world["instant"])
    full = Payment.objects.get(booking=booking)
    assert (booking.status, booking.confirm_on_payment, full.purpose) == (
        "awaiting_approval", True, "full")
    committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
              amount_minor=full.amount_minor)
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_rule_none_and_approval_are_unchanged(deposit_world, book, committed, make_user):
    world = deposit_world
    world["studio"].first_booking_rule = "none"
    world["studio"].save()
    booking = book(service=world["deposit_service"])
    assert (booking.status, booking.confirm_on_payment) == ("confirmed", False)

    world["studio"].first_booking_rule = "approval"
    world["studio"].save()
    newcomer = make_user(email="new@example.test")
    waiting = book(service=world["deposit_service"], actor=newcomer,
                   start=START + timedelta(days=1))
    assert (waiting.status, waiting.confirm_on_payment) == ("awaiting_approval", False)
    committed(payments.record_offline_payment, actor=world["admin"], booking=waiting,
              amount_minor=DEPOSIT)
    waiting.refresh_from_db()
    assert waiting.status == "awaiting_approval"  # the studio approves it, not the payment
    assert approvals(waiting) == []


def test_a_booking_that_needs_approval_anyway_is_not_confirmed_by_its_payment(
        deposit_world, book, committed):
    world = deposit_world
    booking = book()  # "Lockout" requires approval
    assert (booking.status, booking.confirm_on_payment) == ("awaiting_approval", False)
    committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
              amount_minor=DEPOSIT)
    booking.refresh_from_db()
    assert booking.status == "awaiting_approval"
    assert approvals(booking) == []
    assert bookings.confirm_paid_booking(booking=booking, now=NOW) is None
    booking.refresh_from_db()
    assert booking.status == "awaiting_approval"


def test_a_free_booking_is_confirmed_at_once(deposit_world, book, make_service):
    free = make_service(name="Tour", requires_approval=False, base_price_minor=0)
    booking = book(service=free)
    assert (booking.status, booking.confirm_on_payment, booking.total_minor) == (
        "confirmed", False, 0)


def test_the_team_is_exempt(deposit_world, book):
    world = deposit_world
    staff_booking = book(service=world["deposit_service"], actor=world["admin"])
    assert (staff_booking.status, staff_booking.confirm_on_payment) == ("confirmed", False)


def test_an_admin_may_still_approve_or_reject_it_by_hand(deposit_world, book, committed,
                                                         make_user):
    world = deposit_world
    approved = book(service=world["deposit_service"])
    committed(bookings.approve_booking, actor=world["admin"], booking=approved, now=NOW)
    approved.refresh_from_db()
    assert (approved.status, approved.approved_by_id) == ("confirmed", world["admin"].id)

    other = make_user(email="other@example.test")
    rejected = book(service=world["deposit_service"], actor=other,
                    start=START + timedelta(days=1))
    committed(bookings.reject_booking, actor=world["admin"], booking=rejected, reason="full",
              now=NOW)
    rejected.refresh_from_db()
    assert rejected.status == "rejected"
    assert bookings.confirm_paid_booking(booking=rejected, now=NOW) is None
    rejected.refresh_from_db()
    assert rejected.status == "rejected"


@pytest.mark.parametrize("interruption", ["crash", "busy"])
def test_the_sweep_confirms_what_was_left_paid_but_waiting(deposit_world, book, committed,
                                                           monkeypatch, interruption):
    world = deposit_world
    booking = book(service=world["deposit_service"])

    def busy(**kwargs):
        raise ResourceBusy("the booking is locked by another request")

    with monkeypatch.context() as patch:
        if interruption == "crash":  # the process dies right after the payment commits
            patch.setattr(payments, "_confirm_if_paid", lambda payment: None)
        else:  # the booking stays locked past the lock timeout: the desk is not refused
            patch.setattr(payments.booking_services, "confirm_paid_booking", busy)
        committed(payments.record_offline_payment, actor=world["admin"], booking=booking,
                  amount_minor=DEPOSIT)
    booking.refresh_from_db()
    assert (booking.status, payments.paid_minor(booking)) == ("awaiting_approval", DEPOSIT)

    assert committed(recovery.recover, now=NOW)["confirmed"] == 0  # within the grace period
    Booking.objects.filter(pk=booking.pk).update(updated_at=NOW - timedelta(minutes=5))
    assert committed(recovery.recover, now=NOW)["confirmed"] == 1
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert committed(recovery.recover, now=NOW)["confirmed"] == 0
    assert len(approvals(booking)) == 1
