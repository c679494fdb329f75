"""Property (issue 9, section 4): under ``first_booking_rule = "deposit"``, over any sequence
of desk payments, admin approvals and rejections, artist cancellations and repeated
confirmation attempts (a webhook delivered again), a first-timer's booking is confirmed
exactly when its deposit was paid in full while it still waited, or an admin approved it; it
is confirmed at most once, and a rejected or canceled booking is never confirmed."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services as bookings
from studiobook.bookings.errors import IllegalTransition
from studiobook.bookings.models import Allocation, Booking
from studiobook.payments import services as payments
from studiobook.payments.models import LedgerEntry, Payment, Refund
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import AuditLog
from tests.support.factories import NOW, utc

START = utc(2026, 11, 28, 15)  # Saturday 10:00 Toronto, 123 h after NOW
TOTAL, DEPOSIT = 12000, 6000   # 2 h at 60.00, deposit 50 %


@pytest.fixture
def world(frozen_clock, studio, make_room, make_service, artist, admin_user):
    studio.first_booking_rule = "deposit"
    studio.save()
    make_room(name="Studio A")
    service = make_service(name="Mixing", deposit_percent=50)
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user}


def _reset() -> None:
    for model in (LedgerEntry, Refund, Payment, Allocation, Booking, AuditLog):
        model.objects.all().delete()


actions = st.lists(st.one_of(
    st.tuples(st.just("pay"), st.integers(1, TOTAL)),
    st.tuples(st.sampled_from(["approve", "reject", "cancel", "confirm"]), st.just(0)),
), min_size=1, max_size=10)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=actions)
def test_confirmed_iff_the_deposit_was_paid_while_waiting_or_an_admin_approved(world, steps):
    _reset()
    admin, artist = world["admin"], world["artist"]
    booking = bookings.create_booking(actor=artist, studio=world["studio"],
                                      service=world["service"], start_at=START,
                                      duration_minutes=120, now=NOW)
    assert (booking.status, booking.confirm_on_payment, booking.total_minor,
            booking.deposit_minor) == ("awaiting_approval", True, TOTAL, DEPOSIT)
    expected, paid, approvals = "awaiting_approval", 0, 0
    for action, amount in steps:
        if action == "pay":
            if expected in ("awaiting_approval", "confirmed") and amount <= TOTAL - paid:
                payments.record_offline_payment(actor=admin, booking=booking,
                                                amount_minor=amount)
                paid += amount
                if expected == "awaiting_approval" and paid >= DEPOSIT:
                    expected, approvals = "confirmed", approvals + 1
            elif expected in ("awaiting_approval", "confirmed"):  # more than is due: refused
                with pytest.raises(InvalidInput):
                    payments.record_offline_payment(actor=admin, booking=booking,
                                                    amount_minor=amount)
            else:  # decided: whatever the desk may still record never confirms it
                with contextlib.suppress(InvalidInput):
                    payments.record_offline_payment(actor=admin, booking=booking,
                                                    amount_minor=amount)
        elif action == "confirm":
            assert bookings.confirm_paid_booking(booking=booking, now=NOW) is None
        elif action == "approve":
            allowed = expected == "awaiting_approval"
            with contextlib.nullcontext() if allowed else pytest.raises(IllegalTransition):
                bookings.approve_booking(actor=admin, booking=booking, now=NOW)
            if allowed:
                expected, approvals = "confirmed", approvals + 1
        elif action == "reject":
            allowed = expected == "awaiting_approval"
            with contextlib.nullcontext() if allowed else pytest.raises(IllegalTransition):
                bookings.reject_booking(actor=admin, booking=booking, now=NOW)
            expected = "rejected" if allowed else expected
        else:
            allowed = expected in ("awaiting_approval", "confirmed")
            with contextlib.nullcontext() if allowed else pytest.raises(IllegalTransition):
                bookings.cancel_booking(actor=artist, booking=booking,
                                        now=NOW + timedelta(minutes=1))
            expected = "canceled" if allowed else expected
        booking.refresh_from_db()
        assert booking.status == expected
        assert AuditLog.objects.filter(action="booking.approve").count() == approvals <= 1
