"""Booking services: holds, bookings, the state machine, buffers, overrides, guards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from studiobook.bookings import services
from studiobook.bookings.availability import search_slots
from studiobook.bookings.errors import (
    HoldLimitReached,
    HoldNotActive,
    IllegalTransition,
    SlotUnavailable,
)
from studiobook.bookings.models import Allocation, Booking, Hold
from studiobook.studios.errors import Forbidden, InvalidInput, NotFound
from studiobook.studios.models import AuditLog
from tests.support.factories import NOW, utc

# 2026-11-24 is a Tuesday; Toronto is UTC-5 in November, so 10:00 local = 15:00 UTC.
START = utc(2026, 11, 24, 15, 0)


@pytest.fixture
def world(studio, make_room, make_staff, make_service, artist, admin_user):
    room_a, room_b = make_room(name="Studio A"), make_room(name="Studio B")
    engineer = make_staff(display_name="Eve Engineer")
    service = make_service(name="Recording", requires_engineer=True,
                           staff_skill_required="recording")
    return {"studio": studio, "room_a": room_a, "room_b": room_b, "engineer": engineer,
            "service": service, "artist": artist, "admin": admin_user}


def book(world, *, actor=None, start=START, minutes=120, **kwargs) -> Booking:
    return services.create_booking(actor=actor or world["artist"], studio=world["studio"],
                                   service=kwargs.pop("service", world["service"]),
                                   start_at=start, duration_minutes=minutes, now=NOW, **kwargs)


def counts() -> tuple[int, int, int, int]:
    return (Booking.objects.count(), Hold.objects.count(), Allocation.objects.count(),
            AuditLog.objects.count())


def test_hold_then_book_confirms_and_moves_the_allocations(world):
    hold = services.place_hold(actor=world["artist"], studio=world["studio"],
                               service=world["service"], start_at=START, duration_minutes=120,
                               room_id=world["room_b"].id, now=NOW)
    assert hold.expires_at == NOW + timedelta(minutes=10)
    assert hold.staff_ids == [world["engineer"].id]

    booking = services.create_booking(actor=world["artist"], studio=world["studio"], hold=hold,
                                      now=NOW + timedelta(minutes=3))

    assert booking.status == "confirmed"
    assert (booking.start_at, booking.end_at) == (START, START + timedelta(hours=2))
    assert booking.room_id == world["room_b"].id
    assert list(booking.assignments.values_list("staff_id", "role")) == [
        (world["engineer"].id, "engineer")]
    assert (booking.subtotal_minor, booking.total_minor, booking.currency) == (12000, 12000,
                                                                               "CAD")
    hold.refresh_from_db()
    assert hold.status == "converted"
    assert set(Allocation.objects.filter(is_blocking=True).values_list(
        "booking_id", "room_id", "staff_id")) == {
            (booking.id, world["room_b"].id, None), (booking.id, None, world["engineer"].id)}
    assert list(AuditLog.objects.values_list("action", flat=True)) == [
        "hold.place", "booking.create"]


def test_booking_from_someone_elses_hold_is_forbidden(world, make_user):
    hold = services.place_hold(actor=world["artist"], studio=world["studio"],
                               service=world["service"], start_at=START, duration_minutes=120,
                               now=NOW)
    before = counts()
    with pytest.raises(Forbidden):
        services.create_booking(actor=make_user(), studio=world["studio"], hold=hold, now=NOW)
    assert counts() == before


def test_expired_hold_stops_blocking_at_once_and_cannot_be_booked(world, make_user):
    hold = services.place_hold(actor=world["artist"], studio=world["studio"],
                               service=world["service"], start_at=START, duration_minutes=120,
                               room_id=world["room_a"].id, now=NOW)
    later = NOW + timedelta(minutes=10)  # expires_at is exclusive: expired exactly now
    offered = search_slots(studio=world["studio"], service=world["service"],
                           duration_minutes=120, range_start=START,
                           range_end=START + timedelta(minutes=1), now=later,
                           room_id=world["room_a"].id)
    assert [s.start for s in offered] == [START]

    other = services.create_booking(actor=make_user(), studio=world["studio"],
                                    service=world["service"], start_at=START,
                                    duration_minutes=120, room_id=world["room_a"].id, now=later)
    assert other.status == "confirmed"
    hold.refresh_from_db()
    assert hold.status == "expired"  # marked inside the booking's transaction
    with pytest.raises(HoldNotActive):
        services.create_booking(actor=world["artist"], studio=world["studio"], hold=hold,
                                now=later)


def test_sweep_marks_expired_holds(world):
    services.place_hold(actor=world["artist"], studio=world["studio"], service=world["service"],
                        start_at=START, duration_minutes=120, now=NOW)
    assert services.sweep_expired_holds(now=NOW + timedelta(minutes=9)) == 0
    assert services.sweep_expired_holds(now=NOW + timedelta(minutes=10)) == 1
    assert Hold.objects.get().status == "expired"
    assert not Allocation.objects.filter(is_blocking=True).exists()


def test_an_artist_may_hold_only_a_few_slots(world):
    for hour in range(3):
        services.place_hold(actor=world["artist"], studio=world["studio"],
                            service=world["service"], start_at=START + timedelta(hours=2 * hour),
                            duration_minutes=60, now=NOW)
    before = counts()
    with pytest.raises(HoldLimitReached, match="limit 3"):
        services.place_hold(actor=world["artist"], studio=world["studio"],
                            service=world["service"], start_at=START + timedelta(hours=7),
                            duration_minutes=60, now=NOW)
    assert counts() == before


def test_a_taken_slot_is_refused_without_naming_the_other_booking_and_nothing_written(
        world, make_user):
    first = book(world, room_id=world["room_a"].id)
    before = counts()
    with pytest.raises(SlotUnavailable) as raised:
        book(world, actor=make_user(), room_id=world["room_a"].id, start=START + timedelta(hours=1))
    assert raised.value.extra["reason"] == "busy"
    # The message reaches another artist: what is in the way, never whose.
    assert "Studio A is busy: another booking" in raised.value.message
    assert first.code not in raised.value.message
    assert counts() == before


def test_the_only_engineer_cannot_be_in_two_rooms(world, make_user):
    book(world, room_id=world["room_a"].id)
    with pytest.raises(SlotUnavailable) as raised:
        book(world, actor=make_user(), room_id=world["room_b"].id)
    assert raised.value.extra["reason"] in {"busy", "no_engineer"}


def test_approval_flow_and_the_transition_table(world):
    world["service"].requires_approval = True
    world["service"].save()
    booking = book(world)
    assert booking.status == "awaiting_approval"
    with pytest.raises(Forbidden):
        services.approve_booking(actor=world["artist"], booking=booking, now=NOW)

    approved = services.approve_booking(actor=world["admin"], booking=booking, note="see you",
                                        now=NOW)
    assert (approved.status, approved.approved_by, approved.approval_note) == (
        "confirmed", world["admin"], "see you")
    before = counts()
    with pytest.raises(IllegalTransition, match="cannot reject a booking that is confirmed"):
        services.reject_booking(actor=world["admin"], booking=approved, now=NOW)
    assert counts() == before
    assert AuditLog.objects.filter(action="booking.approve",
                                   diff__status=["awaiting_approval", "confirmed"]).exists()


@pytest.mark.parametrize(("status", "action", "expected"), [
    ("awaiting_approval", "approve", "confirmed"),
    ("awaiting_approval", "reject", "rejected"),
    ("awaiting_approval", "cancel", "canceled"),
    ("confirmed", "cancel", "canceled"),
    ("confirmed", "complete", "completed"),
    ("confirmed", "mark_no_show", "no_show"),
])
def test_transition_table_allows(status, action, expected):
    assert services.next_status(status, action) == expected


@pytest.mark.parametrize("status", ["completed", "canceled", "rejected", "no_show"])
@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "complete", "mark_no_show"])
def test_terminal_statuses_allow_nothing(status, action):
    with pytest.raises(IllegalTransition):
        services.next_status(status, action)


def test_cancel_frees_the_slot(world, make_user):
    booking = book(world, room_id=world["room_a"].id)
    services.cancel_booking(actor=world["artist"], booking=booking, reason="band split", now=NOW)
    assert not Allocation.objects.filter(is_blocking=True).exists()
    again = book(world, actor=make_user(), room_id=world["room_a"].id)
    assert again.status == "confirmed"


def test_only_the_artist_or_an_admin_may_cancel(world, make_user):
    booking = book(world)
    with pytest.raises(Forbidden):
        services.cancel_booking(actor=make_user(), booking=booking, now=NOW)


def test_buffers_widen_allocations_per_resource(world, make_buffer, make_user):
    make_buffer(scope="room", room=world["room_a"], after_minutes=30)
    make_buffer(scope="service", service=world["service"], before_minutes=15)
    booking = book(world, room_id=world["room_a"].id)
    spans = {(a.room_id, a.staff_id): (a.start_at, a.end_at) for a in booking.allocations.all()}
    assert spans == {
        (world["room_a"].id, None): (START - timedelta(minutes=15),
                                     START + timedelta(minutes=150)),
        (None, world["engineer"].id): (START - timedelta(minutes=15),
                                       START + timedelta(minutes=120)),
    }
    # The next session in Studio A needs 30 min changeover + its own 15 min setup.
    next_ok = START + timedelta(minutes=165)
    with pytest.raises(SlotUnavailable):
        book(world, actor=make_user(), room_id=world["room_a"].id,
             start=next_ok - timedelta(minutes=15), service=world["service"])
    after_changeover = book(world, actor=make_user(), room_id=world["room_a"].id,
                            start=next_ok)
    assert after_changeover.start_at == next_ok


def test_lead_time_and_horizon(world):
    studio = world["studio"]
    studio.lead_time_minutes, studio.horizon_days = 28 * 60, 31  # START is 27 h after NOW
    studio.save()
    with pytest.raises(SlotUnavailable) as too_soon:
        book(world)
    assert too_soon.value.extra["reason"] == "lead_time"
    with pytest.raises(SlotUnavailable) as too_far:
        book(world, start=START + timedelta(days=30))
    assert too_far.value.extra["reason"] == "horizon"
    assert book(world, start=START + timedelta(days=29)).status == "confirmed"


def test_admin_override_books_over_a_conflict_and_is_audited(world, make_user):
    book(world, room_id=world["room_a"].id)
    with pytest.raises(Forbidden):
        book(world, actor=make_user(), room_id=world["room_a"].id, override=True)
    forced = book(world, actor=world["admin"], room_id=world["room_a"].id, override=True,
                  source="admin")
    assert forced.is_override and forced.status == "confirmed"
    assert set(forced.allocations.values_list("is_override", flat=True)) == {True}
    assert AuditLog.objects.filter(action="booking.override", entity_id=forced.code).exists()


def test_assign_staff_swaps_engineers_and_checks_they_are_free(world, make_staff, make_user):
    second = make_staff(display_name="Sam Second")
    booking = book(world, room_id=world["room_a"].id)
    services.assign_staff(actor=world["admin"], booking=booking, staff_ids=[second.id], now=NOW)
    assert list(booking.assignments.values_list("staff_id", flat=True)) == [second.id]
    assert list(booking.allocations.filter(staff__isnull=False).values_list(
        "staff_id", flat=True)) == [second.id]
    # The first engineer is free again, the second is not.
    same_time = book(world, actor=make_user(), room_id=world["room_b"].id,
                     staff_ids=[world["engineer"].id])
    with pytest.raises(SlotUnavailable, match="Sam Second is busy: another booking"):
        services.assign_staff(actor=world["admin"], booking=same_time, staff_ids=[second.id],
                              now=NOW)


def test_another_studios_room_is_not_found(world, make_studio):
    elsewhere = make_studio(slug="elsewhere", name="Elsewhere")
    from studiobook.studios.models import Room

    foreign = Room.objects.create(studio=elsewhere, name="Theirs", tags=["tracking"])
    with pytest.raises(NotFound):
        book(world, room_id=foreign.id)


def test_duration_off_the_step_is_invalid(world):
    with pytest.raises(InvalidInput, match="multiple of 60"):
        book(world, minutes=90)


@pytest.mark.django_db(transaction=True)
def test_the_database_is_the_last_guard(world, monkeypatch, make_user):
    """With the application's re-check switched off, PostgreSQL's exclusion constraint still
    refuses the second booking (a 409, not a 500). On SQLite, which has no such constraint,
    the same canary shows two bookings winning: the in-transaction re-check is what guards."""
    first = book(world, room_id=world["room_a"].id)
    real_choose = services._choose
    monkeypatch.setattr(services, "_choose",
                        lambda **kw: real_choose(**(kw | {"override": True})))
    if connection.vendor == "postgresql":
        with pytest.raises(SlotUnavailable, match="just taken"):
            book(world, actor=make_user(), room_id=world["room_a"].id)
        assert Booking.objects.count() == 1
    else:
        second = book(world, actor=make_user(), room_id=world["room_a"].id)
        assert {first.room_id, second.room_id} == {world["room_a"].id}
        assert Booking.objects.count() == 2
