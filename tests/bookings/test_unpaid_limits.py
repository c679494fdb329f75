"""Issue 9, section 4: one artist booked a whole day directly (16 bookings, CAD 3,150, nothing
paid). Studios limit the upcoming unpaid bookings one artist may have (a count and total
hours), and may make a first-time artist's booking wait for approval."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services
from studiobook.bookings.errors import (
    HoldLimitReached,
    HoldNotActive,
    SlotUnavailable,
    UnpaidLimitReached,
)
from studiobook.bookings.models import Allocation, Booking, Hold
from studiobook.payments import services as payments
from studiobook.payments.models import LedgerEntry, Payment, Refund
from studiobook.studios import services as studio_services
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import AuditLog
from tests.support.factories import NOW, utc

DAY = utc(2026, 11, 24, 14)  # 09:00 Toronto, a Tuesday


@pytest.fixture
def world(studio, make_room, make_service, artist, admin_user):
    make_room(name="A")
    make_room(name="B")
    service = make_service(name="Session", min_duration_minutes=60, duration_step_minutes=60)
    studio.max_unpaid_bookings, studio.max_unpaid_hours = 3, 5
    studio.save()
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user}


def book(world, hour: int, minutes: int = 60, *, actor=None, **kwargs) -> Booking:
    return services.create_booking(actor=actor or world["artist"], studio=world["studio"],
                                   service=world["service"],
                                   start_at=DAY + timedelta(hours=hour),
                                   duration_minutes=minutes, now=NOW, **kwargs)


def counts() -> tuple[int, ...]:
    return (Booking.objects.count(), Hold.objects.count(), Allocation.objects.count(),
            AuditLog.objects.count(), Payment.objects.count())


def test_the_count_limit_refuses_the_next_unpaid_booking(world):
    for hour in range(3):
        book(world, hour)
    before = counts()
    with pytest.raises(UnpaidLimitReached) as caught:
        book(world, 4)
    assert (caught.value.rule, caught.value.code) == ("max_unpaid_bookings",
                                                      "unpaid_limit_reached")
    assert caught.value.extra == {"rule": "max_unpaid_bookings", "unpaid_bookings": 3,
                                  "limit": 3}
    assert "pay or cancel one first (limit 3)" in caught.value.message
    assert counts() == before


def test_the_hours_limit_counts_minutes(world):
    book(world, 0, 180)
    book(world, 3, 120)  # exactly 5 hours
    before = counts()
    with pytest.raises(UnpaidLimitReached) as caught:
        book(world, 6, 60)
    assert caught.value.rule == "max_unpaid_hours"
    assert caught.value.extra == {"rule": "max_unpaid_hours", "unpaid_minutes": 300,
                                  "adding_minutes": 60, "limit_hours": 5}
    assert counts() == before


def test_a_paid_booking_no_longer_counts(world):
    first = book(world, 0)
    book(world, 1)
    book(world, 2)
    payments.record_offline_payment(actor=world["admin"], booking=first,
                                    amount_minor=first.total_minor)
    assert book(world, 4).status == "confirmed"


def test_canceled_and_past_bookings_do_not_count(world):
    for hour in range(3):
        book(world, hour)
    services.cancel_booking(actor=world["artist"], booking=Booking.objects.first(), now=NOW)
    assert book(world, 4).status == "confirmed"
    # Once a session is over it is not "upcoming".
    later = DAY + timedelta(hours=5, minutes=1)
    assert len(services.unpaid_bookings(studio=world["studio"], artist=world["artist"],
                                        now=later)) == 0


def test_a_hold_that_could_not_be_booked_is_refused_up_front(world):
    for hour in range(3):
        book(world, hour)
    before = counts()
    with pytest.raises(UnpaidLimitReached):
        services.place_hold(actor=world["artist"], studio=world["studio"],
                            service=world["service"], start_at=DAY + timedelta(hours=5),
                            duration_minutes=60, now=NOW)
    assert counts() == before


def test_a_hold_converts_only_within_the_limits(world):
    hold = services.place_hold(actor=world["artist"], studio=world["studio"],
                               service=world["service"], start_at=DAY + timedelta(hours=5),
                               duration_minutes=60, now=NOW)
    for hour in range(3):
        book(world, hour)
    before = counts()
    with pytest.raises(UnpaidLimitReached):
        services.create_booking(actor=world["artist"], studio=world["studio"], hold=hold,
                                now=NOW)
    assert counts() == before
    assert Hold.objects.get(pk=hold.pk).status == "active"


def test_the_studio_team_and_admin_bookings_for_an_artist_are_exempt(world, make_staff):
    for hour in range(3):
        book(world, hour)
    # The studio books for the artist (desk, phone): its own decision.
    assert book(world, 3, actor=world["admin"], artist=world["artist"],
                source="admin").user == world["artist"]
    engineer = make_staff().user
    for hour in range(4):
        book(world, 4 + hour, actor=engineer)
    assert Booking.objects.filter(user=engineer).count() == 4


def test_another_artist_has_their_own_budget(world, make_user):
    for hour in range(3):
        book(world, hour)
    assert book(world, 4, actor=make_user()).status == "confirmed"


def test_first_booking_rule_approval(world, make_user):
    studio = world["studio"]
    studio.first_booking_rule = "approval"
    studio.save()
    first = book(world, 0)
    assert first.status == "awaiting_approval"
    assert book(world, 1).status == "awaiting_approval"  # still nothing paid or completed
    payments.record_offline_payment(actor=world["admin"], booking=first,
                                    amount_minor=first.total_minor)
    assert book(world, 2).status == "confirmed"  # a paying artist now
    assert book(world, 3, actor=world["admin"], artist=make_user(),
                source="admin").status == "confirmed"  # the studio's own booking


def test_first_booking_rule_none_is_the_default(world):
    assert world["studio"].first_booking_rule == "none"
    assert book(world, 0).status == "confirmed"


def test_the_settings_service_checks_the_new_settings(world):
    studio = world["studio"]
    with pytest.raises(InvalidInput) as caught:
        studio_services.update_settings(actor=world["admin"], studio=studio,
                                        data={"max_unpaid_bookings": 0})
    assert (caught.value.field, caught.value.rule) == ("max_unpaid_bookings", "range")
    with pytest.raises(InvalidInput) as caught:
        studio_services.update_settings(actor=world["admin"], studio=studio,
                                        data={"first_booking_rule": "deposit-maybe"})
    assert (caught.value.field, caught.value.rule) == ("first_booking_rule", "choice")
    studio_services.update_settings(actor=world["admin"], studio=studio,
                                    data={"max_unpaid_hours": 40,
                                          "first_booking_rule": "approval"})
    studio.refresh_from_db()
    assert (studio.max_unpaid_hours, studio.first_booking_rule) == (40, "approval")


# --- property: no sequence of holds and bookings by one artist exceeds the limits ------------

def _reset() -> None:
    for model in (LedgerEntry, Refund, Payment, Allocation, Booking, Hold, AuditLog):
        model.objects.all().delete()


steps = st.lists(st.tuples(
    st.sampled_from(["hold", "book", "convert", "pay", "cancel"]),
    st.integers(0, 11),                # start hour after 09:00
    st.sampled_from([60, 120, 180]),   # minutes
    st.integers(0, 50),                # which hold or booking
), min_size=1, max_size=14)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=steps, max_count=st.integers(1, 4), max_hours=st.integers(1, 8))
def test_no_sequence_of_holds_and_bookings_exceeds_the_limits(world, steps, max_count,
                                                              max_hours):
    _reset()
    studio, artist = world["studio"], world["artist"]
    studio.max_unpaid_bookings, studio.max_unpaid_hours = max_count, max_hours
    studio.max_active_holds = 50
    studio.save()
    refused = (UnpaidLimitReached, SlotUnavailable, HoldLimitReached, HoldNotActive)
    for action, hour, minutes, pick in steps:
        start = DAY + timedelta(hours=hour)
        holds = list(Hold.objects.filter(user=artist, status="active").order_by("id"))
        bookings = list(Booking.objects.filter(user=artist, status="confirmed").order_by("id"))
        with contextlib.suppress(*refused):
            if action == "hold":
                services.place_hold(actor=artist, studio=studio, service=world["service"],
                                    start_at=start, duration_minutes=minutes, now=NOW)
            elif action == "book":
                book(world, hour, minutes)
            elif action == "convert" and holds:
                services.create_booking(actor=artist, studio=studio,
                                        hold=holds[pick % len(holds)], now=NOW)
            elif action == "pay" and bookings:
                paid = bookings[pick % len(bookings)]
                if payments.paid_minor(paid) == 0:
                    payments.record_offline_payment(actor=world["admin"], booking=paid,
                                                    amount_minor=paid.total_minor)
            elif action == "cancel" and bookings:
                services.cancel_booking(actor=artist, booking=bookings[pick % len(bookings)],
                                        now=NOW)
        unpaid = services.unpaid_bookings(studio=studio, artist=artist, now=NOW)
        assert len(unpaid) <= max_count
        assert sum((b.end_at - b.start_at for b in unpaid), timedelta()) <= timedelta(
            hours=max_hours)


def test_the_hold_page_says_why_the_booking_is_refused(world, client):
    hold = services.place_hold(actor=world["artist"], studio=world["studio"],
                               service=world["service"], start_at=DAY + timedelta(hours=5),
                               duration_minutes=60, now=NOW)
    for hour in range(3):
        book(world, hour)
    client.force_login(world["artist"])
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        response = client.post(f"/holds/{hold.token}")
    assert response.status_code == 409
    assert ("you have 3 unpaid upcoming bookings at Northside Sound; pay or cancel one first "
            "(limit 3)") in response.content.decode()
    assert Booking.objects.filter(user=world["artist"]).count() == 3
