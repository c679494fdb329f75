"""Nothing half-done after a crash: the money side (issue 9 section 3).

A process killed right after the booking's transaction commits is simulated by making the
after-commit half of the billing port raise a BaseException (what kill -9 leaves undone is
exactly what ran after the commit). The rows the booking needs are then already there, and
the recovery sweep (``payments.recovery.recover``) finishes the work once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from studiobook.bookings import services as bookings
from studiobook.bookings.models import Booking
from studiobook.payments import recovery
from studiobook.payments import services as payments
from studiobook.payments.models import LedgerEntry, Payment, Refund
from tests.support.factories import NOW, utc

START = utc(2026, 11, 28, 15, 0)  # 123 h after NOW
LATER = NOW + timedelta(minutes=5)


class ProcessKilled(BaseException):
    """Stands for kill -9 right after the commit."""


@pytest.fixture
def world(frozen_clock, studio, make_room, make_staff, make_service, artist, admin_user):
    make_room(name="Studio A")
    make_staff(display_name="Eve Engineer")
    service = make_service(name="Lockout", requires_engineer=True,
                           staff_skill_required="recording", deposit_percent=50)
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user}


@pytest.fixture
def dies_after_commit(monkeypatch):
    """``dies_after_commit("after_create")``: that billing step raises ProcessKilled."""
    billing = type(bookings.billing())

    def arm(name: str):
        def killed(*args, **kwargs):
            raise ProcessKilled

        monkeypatch.setattr(billing, name, killed)

    return arm


def book(world, **kwargs) -> Booking:
    return bookings.create_booking(actor=world["artist"], studio=world["studio"],
                                   service=world["service"], start_at=START,
                                   duration_minutes=240, now=NOW, **kwargs)


def rows(booking) -> list[tuple]:
    return list(Payment.objects.filter(booking=booking).order_by("id").values_list(
        "purpose", "amount_minor", "status", "intent_id"))


def test_the_payment_rows_commit_with_the_booking(world, dies_after_commit):
    dies_after_commit("after_create")
    with pytest.raises(ProcessKilled):
        book(world)
    booking = Booking.objects.get()
    assert booking.status == Booking.Status.CONFIRMED
    # 4 h at 60.00 = 240.00, deposit 50 %: both rows, the due-now one not opened yet.
    assert rows(booking) == [("deposit", 12000, "requires_payment_method", None),
                             ("balance", 12000, "requires_payment_method", None)]

    # Inside the grace period the sweep leaves it to the request.
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        assert recovery.recover()["opened"] == 0
    with time_machine.travel(LATER, tick=False):
        assert recovery.recover()["opened"] == 1
        assert recovery.recover()["opened"] == 0  # once
    deposit = Payment.objects.get(booking=booking, purpose="deposit")
    assert deposit.intent_id.startswith("off_pi_")
    # The desk can record the whole amount: nothing reads "only CAD 0.00 is still due".
    payments.record_offline_payment(actor=world["admin"], booking=booking, amount_minor=24000)
    assert payments.payment_state(booking) == "paid"


def test_a_failed_booking_writes_no_payment_row(world, make_user):
    book(world)
    with pytest.raises(bookings.SlotUnavailable):
        bookings.create_booking(actor=make_user(), studio=world["studio"],
                                service=world["service"], start_at=START,
                                duration_minutes=240, now=NOW)
    assert Booking.objects.count() == 1
    assert Payment.objects.count() == 2


def test_the_sweep_repairs_a_blocking_booking_stored_without_payments(world):
    booking = book(world)
    Payment.objects.filter(booking=booking).delete()  # as the crash of issue 9 left it
    canceled = bookings.create_booking(actor=world["artist"], studio=world["studio"],
                                       service=world["service"],
                                       start_at=START + timedelta(days=1),
                                       duration_minutes=240, now=NOW)
    Payment.objects.filter(booking=canceled).delete()
    Booking.objects.filter(pk=canceled.pk).update(status=Booking.Status.CANCELED)
    with pytest.raises(Exception, match="CAD 0.00"):
        payments.record_offline_payment(actor=world["admin"], booking=booking, amount_minor=100)

    with time_machine.travel(LATER, tick=False):
        counts = recovery.recover()
    assert counts["repaired"] == 1
    assert [r[:2] for r in rows(booking)] == [("deposit", 12000), ("balance", 12000)]
    assert Payment.objects.get(booking=booking, purpose="deposit").intent_id.startswith("off_")
    with time_machine.travel(LATER, tick=False):
        assert recovery.recover()["repaired"] == 0
    assert rows(canceled) == []  # no longer blocking: nothing to collect
    payments.record_offline_payment(actor=world["admin"], booking=booking, amount_minor=24000)
    assert payments.payment_state(booking) == "paid"


def test_a_cancellation_reserves_its_refund_in_its_transaction(world, dies_after_commit):
    booking = book(world)
    payments.record_offline_payment(actor=world["admin"], booking=booking, amount_minor=12000)
    dies_after_commit("after_cancel")
    with pytest.raises(ProcessKilled):
        bookings.cancel_booking(actor=world["admin"], booking=booking, reason="flood", now=NOW)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELED
    [pending] = Refund.objects.all()
    assert (pending.amount_minor, pending.status) == (12000, "pending")
    assert Payment.objects.get(booking=booking, purpose="deposit").amount_refunded_minor == 12000

    with time_machine.travel(LATER, tick=False):
        assert recovery.recover()["refunds"] == 1
        assert recovery.recover()["refunds"] == 0
    pending.refresh_from_db()
    assert pending.status == "succeeded"
    assert LedgerEntry.objects.filter(refund=pending).count() == 2  # both legs, once
    assert payments.paid_minor(booking) == 0
    statuses = set(Payment.objects.filter(booking=booking).values_list("status", flat=True))
    assert "requires_payment_method" not in statuses  # the balance is canceled too
