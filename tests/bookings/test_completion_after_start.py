"""Completed and no-show only once the session has started (issue 9): for every role and
path, since marking a booking for next June completed today freed its slot for someone else
and took the artist's cancellation away."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services
from studiobook.bookings.errors import SessionNotStarted
from studiobook.bookings.models import Allocation, Booking
from studiobook.studios.models import AuditLog
from tests.support.factories import NOW, utc

NEXT_JUNE = utc(2027, 6, 8, 14, 0)  # 10:00 EDT
ADMIN = "/studios/northside/admin"


@pytest.fixture
def world(studio, make_room, make_staff, make_service, artist, admin_user):
    make_room(name="Studio A")
    engineer = make_staff(display_name="Eve Engineer")
    service = make_service(name="Recording")
    booking = services.create_booking(actor=artist, studio=studio, service=service,
                                      start_at=NEXT_JUNE, duration_minutes=120, now=NOW)
    return {"studio": studio, "service": service, "artist": artist, "admin": admin_user,
            "engineer": engineer.user, "booking": booking}


def state(booking: Booking) -> tuple:
    booking.refresh_from_db()
    return (booking.status,
            Allocation.objects.filter(booking=booking, is_blocking=True).count(),
            AuditLog.objects.count())


ACTIONS = {"complete": services.complete_booking, "mark_no_show": services.mark_no_show}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ["admin", "engineer"])
def test_before_the_start_the_service_refuses_and_changes_nothing(world, action, role):
    booking = world["booking"]
    before = state(booking)
    with pytest.raises(SessionNotStarted) as caught:
        ACTIONS[action](actor=world[role], booking=booking,
                        now=NEXT_JUNE - timedelta(minutes=1))
    assert caught.value.code == "session_not_started"
    assert caught.value.extra["start_at"] == "2027-06-08T14:00:00+00:00"
    assert "it starts 2027-06-08 10:00 EDT (America/Toronto)" in caught.value.message
    assert state(booking) == before


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(min_value=-400 * 24 * 60, max_value=3 * 24 * 60),
       action=st.sampled_from(sorted(ACTIONS)), role=st.sampled_from(["admin", "engineer"]))
def test_allowed_exactly_from_the_start_on(world, offset, action, role):
    Booking.objects.filter(pk=world["booking"].pk).update(status=Booking.Status.CONFIRMED)
    booking = Booking.objects.get(pk=world["booking"].pk)
    now = NEXT_JUNE + timedelta(minutes=offset)
    assert services.can_transition(booking, action, now) == (offset >= 0)
    if offset >= 0:
        done = ACTIONS[action](actor=world[role], booking=booking, now=now)
        assert done.status == services.TRANSITIONS[("confirmed", action)]
    else:
        with pytest.raises(SessionNotStarted):
            ACTIONS[action](actor=world[role], booking=booking, now=now)
        assert Booking.objects.get(pk=booking.pk).status == "confirmed"


@pytest.mark.parametrize("path", ["complete", "no-show"])
def test_the_api_answers_409_before_the_start(api, world, path):
    booking = world["booking"]
    before = state(booking)
    status, body = api.post(f"{ADMIN}/bookings/{booking.code}/{path}", user=world["engineer"])
    assert (status, body["code"]) == (409, "session_not_started")
    assert body["start_at"] == "2027-06-08T14:00:00+00:00"
    assert state(booking) == before
    # The artist can still cancel it.
    status, body = api.post(f"/bookings/{booking.code}/cancel", {"preview": True},
                            user=world["artist"])
    assert status == 200, body


def test_the_booking_page_offers_neither_before_the_start(client, world):
    booking = world["booking"]
    url = f"/dashboard/northside/bookings/{booking.code}"
    client.force_login(world["admin"])
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'Booking {booking.code}' in html
    assert f'action="{url}/complete"' not in html
    assert f'action="{url}/no-show"' not in html
    assert client.post(f"{url}/complete").status_code == 409
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"
    with time_machine.travel(NEXT_JUNE + timedelta(minutes=1), tick=False):
        client.force_login(world["admin"])  # the first sign-in has expired by June
        html = client.get(url).content.decode()
        assert f'action="{url}/complete"' in html
        assert f'action="{url}/no-show"' in html
