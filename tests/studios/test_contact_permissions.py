"""Engineers see the contact details (email, phone) of the artists of their own sessions
only: ``can_view_contact`` decides, on every path (booking page, bookings table and its
search, approval queue, audit trail, API)."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studiobook.bookings import services
from studiobook.studios.models import Membership
from studiobook.studios.permissions import can_view_contact
from tests.support.factories import NOW, utc

EMAIL, PHONE = "ari.contact@example.test", "+14165550123"
SECRETS = (EMAIL.encode(), PHONE.encode(), b"+1 416-555-0123")
TUESDAY_10AM = utc(2026, 11, 24, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(studio, make_room, make_staff, make_service, make_user, admin_user):
    room = make_room(name="Studio A")
    eve = make_staff(display_name="Eve Engineer")  # on the session
    mo = make_staff(display_name="Mo Engineer")  # same studio, not on it
    artist = make_user(email=EMAIL, name="Ari Artist", phone=PHONE)
    lockout = make_service(name="Lockout", requires_engineer=True,
                           staff_skill_required="recording")
    vetted = make_service(name="Vetted session", requires_approval=True,
                          requires_engineer=True, staff_skill_required="recording")
    booking = services.create_booking(actor=artist, studio=studio, service=lockout,
                                      start_at=TUESDAY_10AM, duration_minutes=120,
                                      room_id=room.id, staff_ids=[eve.id], now=NOW)
    waiting = services.create_booking(actor=artist, studio=studio, service=vetted,
                                      start_at=TUESDAY_10AM.replace(hour=19),
                                      duration_minutes=120, room_id=room.id,
                                      staff_ids=[eve.id], now=NOW)
    return {"studio": studio, "booking": booking, "waiting": waiting, "artist": artist,
            "admin": admin_user, "eve": eve.user, "mo": mo.user,
            "root": make_user(email="root@example.test", is_staff=True, is_superuser=True),
            "other_artist": make_user(email="other@example.test")}


WHO_SEES = {"artist": True, "admin": True, "root": True, "eve": True, "mo": False,
            "other_artist": False}


def test_the_predicate_over_every_actor(world):
    seen = {who: can_view_contact(world[who], world["booking"]) for who in WHO_SEES}

    assert seen == WHO_SEES
    assert can_view_contact(AnonymousUser(), world["booking"]) is False


def test_an_engineer_of_another_studio_sees_no_contact(world, make_studio, make_staff,
                                                       make_user):
    elsewhere = make_studio(slug="elsewhere", name="Elsewhere")
    outsider = make_staff(studio=elsewhere, user=make_user(), display_name="Outsider")
    Membership.objects.filter(user=outsider.user).update(role="admin")

    assert can_view_contact(outsider.user, world["booking"]) is False


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(role=st.sampled_from(["none", "staff", "admin"]), assigned=st.booleans(),
       is_artist=st.booleans(), superuser=st.booleans())
def test_contact_is_visible_exactly_to_the_artist_admins_and_the_sessions_engineers(
        world, make_user, role, assigned, is_artist, superuser):
    booking = world["booking"]
    user = world["artist"] if is_artist else make_user(is_superuser=superuser)
    if not is_artist and role != "none":
        Membership.objects.create(studio=world["studio"], user=user, role=role)
    if not is_artist and assigned and role == "staff":
        from studiobook.studios.models import StaffMember

        staff = StaffMember.objects.create(studio=world["studio"], user=user,
                                           display_name="X", skills=["recording"])
        booking.assignments.create(staff=staff, role="engineer")
    booking = type(booking).objects.get(pk=booking.pk)  # fresh assignments

    expected = (is_artist or (not is_artist and superuser) or role == "admin"
                or (role == "staff" and assigned))
    assert can_view_contact(user, booking) is expected


# --- pages -----------------------------------------------------------------------------------

def get_as(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize("who", ["admin", "eve", "mo"])
def test_booking_page_shows_the_contact_to_admin_and_the_sessions_engineer_only(
        client, world, who):
    body = get_as(client, world[who], f"/dashboard/northside/bookings/{world['booking'].code}")

    assert b"Ari Artist" in body
    assert (EMAIL.encode() in body, PHONE.encode() in body) == (WHO_SEES[who],) * 2


def test_booking_page_audit_trail_names_the_artist_without_their_address(client, world):
    world["artist"].name = ""
    world["artist"].save(update_fields=["name"])

    body = get_as(client, world["mo"], f"/dashboard/northside/bookings/{world['booking'].code}")

    assert EMAIL.encode() not in body
    assert b"Artist" in body


@pytest.mark.parametrize("who", ["admin", "eve", "mo"])
def test_bookings_table_and_approval_queue_show_addresses_of_own_sessions_only(
        client, world, who, make_user, make_service):
    table = get_as(client, world[who], "/dashboard/northside/bookings")
    queue = get_as(client, world[who], "/dashboard/northside/approvals")

    assert world["booking"].code.encode() in table
    assert world["waiting"].code.encode() in queue
    assert (EMAIL.encode() in table, EMAIL.encode() in queue) == (WHO_SEES[who],) * 2


@pytest.mark.parametrize("who", ["admin", "eve", "mo"])
def test_the_bookings_search_by_email_is_no_oracle(client, world, who):
    body = get_as(client, world[who], "/dashboard/northside/bookings?q=ari.contact")

    assert (world["booking"].code.encode() in body) == WHO_SEES[who]


# --- API -------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["admin", "eve", "mo"])
def test_api_admin_bookings_include_contacts_by_the_predicate(api, world, who):
    status, rows = api.get("/studios/northside/admin/bookings", user=world[who])
    assert status == 200
    by_code = {row["code"]: row["artist"] for row in rows}
    status, detail = api.get(f"/bookings/{world['booking'].code}", user=world[who])
    assert status == 200

    expected = ({"name": "Ari Artist", "email": EMAIL, "phone": PHONE} if WHO_SEES[who]
                else {"name": "Ari Artist", "email": None, "phone": None})
    assert by_code[world["booking"].code] == expected
    assert detail["artist"] == expected


def test_api_the_artist_sees_their_own_contact(api, world):
    status, detail = api.get(f"/bookings/{world['booking'].code}", user=world["artist"])

    assert (status, detail["artist"]) == (200, {"name": "Ari Artist", "email": EMAIL,
                                                "phone": PHONE})
