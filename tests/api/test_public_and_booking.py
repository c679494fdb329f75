"""The artist's API: auth, studios, search, quote, holds, bookings, bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from studiobook.bookings.models import Allocation, Booking, Hold
from studiobook.studios.models import AuditLog, Room
from tests.support.factories import utc

# Tuesday 2026-11-24: Toronto opens 09:00 EST = 14:00 UTC, closes 21:00 EST = 02:00 UTC.
DAY = "2026-11-24"
TEN_AM = "2026-11-24T15:00:00Z"


@pytest.fixture
def world(studio, make_room, make_staff, make_service, artist, admin_user):
    room = make_room(name="Studio A")
    engineer = make_staff(display_name="Eve Engineer")
    service = make_service(name="Recording", requires_engineer=True,
                           staff_skill_required="recording", deposit_percent=25)
    return {"studio": studio, "room": room, "engineer": engineer, "service": service,
            "artist": artist, "admin": admin_user}


def written() -> tuple[int, ...]:
    return (Booking.objects.count(), Hold.objects.count(), Allocation.objects.count(),
            AuditLog.objects.count())


def test_register_login_session_logout(api, db, mailoutbox):
    status, body = api.post("/auth/register", {"email": "New@Example.test",
                                               "password": "a-long-passphrase", "name": "Nia"})
    assert status == 201 and body["user"]["email"] == "new@example.test"
    assert (body["token"], body["email_verification"]) == (None, "sent")
    link = re.search(r"http://testserver(/accounts/confirm-email/[^/\s]+/)",
                     mailoutbox[-1].body).group(1)
    assert api.client.post(link).status_code == 302

    status, body = api.post("/auth/login", {"email": "new@example.test",
                                            "password": "a-long-passphrase"})
    assert status == 200
    token = body["token"]
    status, body = api.get("/auth/session", headers={"HTTP_AUTHORIZATION": f"Bearer {token}"})
    assert (status, body["user"]["name"]) == (200, "Nia")
    status, body = api.post("/auth/logout", headers={"HTTP_AUTHORIZATION": f"Bearer {token}"})
    assert (status, body) == (200, {"detail": "signed out", "revoked_tokens": 1})
    status, body = api.get("/auth/session", headers={"HTTP_AUTHORIZATION": f"Bearer {token}"})
    assert body == {"user": None}


@pytest.mark.parametrize(("payload", "field", "rule"), [
    ({"email": "not-an-email", "password": "a-long-passphrase", "name": "X"}, "email",
     "value_error"),
    ({"email": "a@example.test", "password": "short", "name": "X"}, "password",
     "string_too_short"),
    ({"email": "a@example.test", "password": "password123", "name": "X"}, "password",
     "password_strength"),
])
def test_register_rejects_bad_input(api, db, payload, field, rule):
    status, body = api.post("/auth/register", payload)
    assert status == 422
    assert body["errors"][0]["field"] == field and body["errors"][0]["rule"] == rule


def test_login_with_a_wrong_password_is_422(api, artist):
    artist.set_password("right-password-123")
    artist.save()
    status, body = api.post("/auth/login", {"email": artist.email, "password": "wrong"})
    assert status == 422 and body["errors"][0]["field"] == "password"


def test_studio_listing_and_resources(api, world, make_studio):
    make_studio(slug="elsewhere", name="Elsewhere", city="Montreal")
    status, body = api.get("/studios?city=montreal")
    assert [s["slug"] for s in body] == ["elsewhere"]
    status, body = api.get("/studios/northside")
    assert (status, body["time_zone"], body["currency"]) == (200, "America/Toronto", "CAD")
    assert [r["name"] for r in api.get("/studios/northside/rooms")[1]] == ["Studio A"]
    services = api.get("/studios/northside/services")[1]
    assert [(s["name"], s["base_price_cents"]) for s in services] == [("Recording", 6000)]
    staff = api.get("/studios/northside/staff")[1]
    assert [(s["display_name"], s["skills"]) for s in staff] == [("Eve Engineer",
                                                                   ["recording"])]
    assert api.get("/studios/nowhere")[0] == 404


def test_search_returns_the_whole_day_in_utc(api, world):
    status, body = api.post("/studios/northside/availability/search",
                            {"date": DAY, "duration_min": 120,
                             "service_id": world["service"].id})
    assert status == 200
    assert (body["time_zone"], body["currency"]) == ("America/Toronto", "CAD")
    starts = [s["start_at"] for s in body["slots"]]
    # 09:00 to 19:00 local on a 15-minute grid: 41 starts, 14:00Z to 00:00Z.
    assert len(starts) == 41
    assert starts[0] == "2026-11-24T14:00:00Z" and starts[-1] == "2026-11-25T00:00:00Z"
    assert body["slots"][0] == {"start_at": "2026-11-24T14:00:00Z",
                                "end_at": "2026-11-24T16:00:00Z",
                                "room_id": world["room"].id,
                                "staff_ids": [world["engineer"].id], "price_cents": 12000}


@pytest.mark.parametrize(("payload", "field"), [
    ({"duration_min": 120}, "body"),
    ({"date": DAY, "from": TEN_AM, "to": "2026-11-25T15:00:00Z", "duration_min": 60}, "body"),
    ({"from": "2026-11-25T15:00:00Z", "to": TEN_AM, "duration_min": 60}, "body"),
    ({"from": "2026-11-24T15:00:00", "to": "2026-11-25T15:00:00Z", "duration_min": 60},
     "from"),
    ({"from": TEN_AM, "to": "2027-11-25T15:00:00Z", "duration_min": 60}, "body"),
    ({"date": DAY, "duration_min": 0}, "duration_min"),
    ({"date": DAY, "duration_min": 90}, "duration_min"),
    ({"date": "2026-02-30", "duration_min": 60}, "date"),
])
def test_search_bad_input_names_the_field(api, world, payload, field):
    status, body = api.post("/studios/northside/availability/search", payload)
    assert status == 422, body
    assert body["errors"][0]["field"] == field
    assert api.last["Content-Type"] == "application/problem+json"


def test_search_with_unknown_ids_is_404(api, world, make_studio):
    other = make_studio(slug="other", name="Other")
    foreign = Room.objects.create(studio=other, name="Theirs", tags=["tracking"])
    for payload in ({"service_id": 99999}, {"room_id": foreign.id}):
        status, body = api.post("/studios/northside/availability/search",
                                {"date": DAY, "duration_min": 120,
                                 "service_id": world["service"].id} | payload)
        assert status == 404, body


def test_malformed_json_and_oversized_bodies(api, world, settings):
    status, body = api.call("post", "/studios/northside/availability/search", raw="{nope")
    assert (status, body["code"], body["errors"][0]["field"]) == (400, "malformed_json", "body")
    status, body = api.call("post", "/studios/northside/availability/search",
                            raw='{"x": "' + "a" * (settings.API_MAX_BODY_BYTES + 10) + '"}')
    assert (status, body["code"]) == (413, "body_too_large")


def test_quote_with_hst_and_an_add_on(api, world, make_service):
    from studiobook.studios.models import TaxRate

    TaxRate.objects.create(studio=world["studio"], name="HST", rate_ppm=130000)
    tape = make_service(name="Tape reel", is_add_on=True, price_unit="session",
                        base_price_minor=2550, requires_room=False)
    status, body = api.post("/studios/northside/quote",
                            {"service_id": world["service"].id, "start_at": TEN_AM,
                             "duration_min": 180,
                             "add_ons": [{"service_id": tape.id, "quantity": 2}]})
    assert status == 200
    assert body["lines"] == [
        {"description": "Recording, 3 h", "quantity": 1, "unit_price_cents": 18000,
         "total_cents": 18000},
        {"description": "Tape reel", "quantity": 2, "unit_price_cents": 2550,
         "total_cents": 5100}]
    # 13 % of 23 100 is 3 003; 25 % of 26 103 is 6 525.75 -> 6 526.
    assert {k: body[k] for k in ("subtotal_cents", "taxes_cents", "total_cents",
                                 "deposit_cents", "balance_cents")} == {
        "subtotal_cents": 23100, "taxes_cents": 3003, "total_cents": 26103,
        "deposit_cents": 6526, "balance_cents": 19577}
    assert body["taxes"] == [{"name": "HST", "rate_percent": "13", "rate_ppm": 130000,
                              "rate_basis_points": 1300, "amount_cents": 3003}]
    assert body["policy_summary"].startswith("Full refund if you cancel at least 48 h before")
    status, body = api.post("/studios/northside/quote",
                            {"service_id": world["service"].id, "start_at": TEN_AM,
                             "duration_min": 180,
                             "add_ons": [{"service_id": world["service"].id, "quantity": 1}]})
    assert (status, body["errors"][0]["field"]) == (422, "add_ons")


def test_hold_book_read_cancel(api, world):
    status, hold = api.post("/studios/northside/holds",
                            {"service_id": world["service"].id, "start_at": TEN_AM,
                             "duration_min": 120}, user=world["artist"])
    assert status == 201
    assert hold["expires_at"] == "2026-11-23T12:10:00Z"
    assert (hold["room_id"], hold["staff_ids"]) == (world["room"].id, [world["engineer"].id])

    status, booking = api.post("/bookings", {"hold_id": hold["hold_id"], "notes": "drums"},
                               user=world["artist"])
    assert status == 201, booking
    assert (booking["status"], booking["start_at"], booking["end_at"]) == (
        "confirmed", TEN_AM, "2026-11-24T17:00:00Z")
    assert booking["staff"] == [{"id": world["engineer"].id, "display_name": "Eve Engineer",
                                 "role": "engineer"}]
    assert booking["line_items"] == [{"description": "Recording, 2 h", "quantity": 1,
                                      "unit_price_cents": 12000, "total_cents": 12000}]
    code = booking["code"]
    assert api.get(f"/bookings/{code}", user=world["artist"])[1]["notes"] == "drums"
    mine = api.get("/me/bookings", user=world["artist"])[1]
    assert ([b["code"] for b in mine["upcoming"]], mine["past"]) == ([code], [])

    # The slot is gone from search.
    body = api.post("/studios/northside/availability/search",
                    {"date": DAY, "duration_min": 120, "service_id": world["service"].id})[1]
    assert TEN_AM not in [s["start_at"] for s in body["slots"]]

    status, canceled = api.post(f"/bookings/{code}/cancel", {"reason": "flu"},
                                user=world["artist"])
    assert (status, canceled["booking"]["status"], canceled["booking"]["status_reason"]) == (
        200, "canceled", "flu")
    assert canceled["preview"]["refund_cents"] == 0  # nothing paid yet (pay at the studio)
    status, body = api.post(f"/bookings/{code}/cancel", {}, user=world["artist"])
    assert (status, body["code"]) == (409, "illegal_transition")


def test_direct_booking_and_a_second_attempt_at_the_same_slot(api, world, make_user):
    payload = {"studio": "northside", "service_id": world["service"].id, "start_at": TEN_AM,
               "duration_min": 120}
    status, first = api.post("/bookings", payload, user=world["artist"])
    assert status == 201
    before = written()
    status, body = api.post("/bookings", payload, user=make_user())
    assert status == 409
    assert body["code"] == "slot_unavailable" and body["reason"] in {"busy", "no_engineer"}
    assert first["code"] not in body["detail"]  # another artist's code is not ours to see
    assert body["detail"].startswith(("Studio A is busy: another booking",
                                      "Eve Engineer is busy: another booking"))
    assert written() == before


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"studio": "northside"}, 422, "body"),
    ({"studio": "northside", "service_id": 0, "start_at": TEN_AM, "duration_min": 120}, 404,
     "service_id"),
    ({"studio": "nowhere", "service_id": 1, "start_at": TEN_AM, "duration_min": 120}, 404,
     None),
    ({"studio": "northside", "start_at": "2026-11-24T10:07:00-05:00", "duration_min": 120},
     409, "start_at"),
    ({"studio": "northside", "start_at": TEN_AM, "duration_min": 150}, 422, "duration_min"),
    ({"studio": "northside", "start_at": "2026-11-23T12:00:00Z", "duration_min": 120}, 409,
     "start_at"),
    ({"studio": "northside", "start_at": "2028-11-24T15:00:00Z", "duration_min": 120}, 409,
     "start_at"),
    ({"hold_id": "no-such-hold"}, 404, "hold_id"),
])
def test_bad_bookings_write_nothing(api, world, payload, status, field):
    if "service_id" not in payload and "hold_id" not in payload and "start_at" in payload:
        payload = payload | {"service_id": world["service"].id}
    before = written()
    got, body = api.post("/bookings", payload, user=world["artist"])
    assert got == status, body
    if field:
        assert body["errors"][0]["field"] == field
    assert written() == before


def test_unauthenticated_mutations_are_401(api, world):
    status, body = api.post("/studios/northside/holds",
                            {"service_id": world["service"].id, "start_at": TEN_AM,
                             "duration_min": 120})
    assert (status, body["code"]) == (401, "not_authenticated")
    assert api.post("/bookings", {"hold_id": "x"})[0] == 401


def test_artists_see_only_their_own_bookings(api, world, make_user):
    status, booking = api.post("/bookings", {"studio": "northside",
                                             "service_id": world["service"].id,
                                             "start_at": TEN_AM, "duration_min": 120},
                               user=world["artist"])
    stranger = make_user()
    assert api.get(f"/bookings/{booking['code']}", user=stranger)[0] == 404
    assert api.post(f"/bookings/{booking['code']}/cancel", {}, user=stranger)[0] == 404
    assert api.get("/me/bookings", user=stranger)[1] == {"upcoming": [], "past": []}
    assert api.get(f"/bookings/{booking['code']}", user=world["admin"])[0] == 200


def test_release_hold(api, world):
    hold = api.post("/studios/northside/holds", {"service_id": world["service"].id,
                                                 "start_at": TEN_AM, "duration_min": 120},
                    user=world["artist"])[1]
    status, _ = api.delete(f"/studios/northside/holds/{hold['hold_id']}", user=world["artist"])
    assert status == 200
    assert Hold.objects.get().status == "released"
    assert api.delete(f"/studios/northside/holds/{hold['hold_id']}",
                      user=world["artist"])[0] == 409


def test_hold_limit_is_409(api, world):
    for hours in (0, 2, 4):
        start = (utc(2026, 11, 24, 15) + timedelta(hours=hours)).isoformat()
        assert api.post("/studios/northside/holds", {"service_id": world["service"].id,
                                                     "start_at": start, "duration_min": 60},
                        user=world["artist"])[0] == 201
    status, body = api.post("/studios/northside/holds",
                            {"service_id": world["service"].id,
                             "start_at": "2026-11-25T15:00:00Z", "duration_min": 60},
                            user=world["artist"])
    assert (status, body["code"]) == (409, "hold_limit_reached")


class TestIdempotency:
    def payload(self, world):
        return {"studio": "northside", "service_id": world["service"].id, "start_at": TEN_AM,
                "duration_min": 120}

    def test_same_key_same_body_replays_and_books_once(self, api, world):
        key = {"HTTP_IDEMPOTENCY_KEY": "book-1"}
        first = api.post("/bookings", self.payload(world), user=world["artist"], headers=key)
        again = api.post("/bookings", self.payload(world), user=world["artist"], headers=key)
        assert first[0] == again[0] == 201
        assert first[1] == again[1]
        assert api.last["Idempotent-Replayed"] == "true"
        assert Booking.objects.count() == 1

    def test_same_key_other_body_is_422(self, api, world):
        key = {"HTTP_IDEMPOTENCY_KEY": "book-2"}
        api.post("/bookings", self.payload(world), user=world["artist"], headers=key)
        status, body = api.post("/bookings", self.payload(world) | {"notes": "changed"},
                                user=world["artist"], headers=key)
        assert (status, body["code"]) == (422, "idempotency_key_reused")
        assert Booking.objects.count() == 1

    def test_keys_are_per_user(self, api, world, make_user):
        key = {"HTTP_IDEMPOTENCY_KEY": "shared"}
        api.post("/bookings", self.payload(world), user=world["artist"], headers=key)
        status, body = api.post("/bookings", self.payload(world), user=make_user(), headers=key)
        assert (status, body["code"]) == (409, "slot_unavailable")
