"""No input can break a studio (issue 9, section 1): every instant, date, clock time, id and
string the API and pages take is bounded by ``studiobook.limits``, and a value stored before
those limits (a BC timestamp on PostgreSQL) no longer makes the studio's reads fail."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import time_machine
from django.db import connection
from django.test import Client

from studiobook import limits
from studiobook.bookings.models import Booking, Hold
from studiobook.studios.models import AuditLog, Blackout, ScheduleRule

ADMIN = "/studios/northside/admin"
TEN_AM = "2026-11-24T15:00:00Z"
TOO_EARLY = ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z")
TOO_LATE = ("9999-12-31T23:59:59Z", "2100-01-01T00:00:01Z")


@pytest.fixture
def world(studio, make_room, make_service, artist, admin_user):
    room = make_room(name="Studio A")
    service = make_service(name="Tracking", default_duration_minutes=60)
    return {"studio": studio, "room": room, "service": service, "artist": artist,
            "admin": admin_user}


def counts() -> dict[str, int]:
    return {"blackouts": Blackout.objects.count(), "rules": ScheduleRule.objects.count(),
            "holds": Hold.objects.count(), "bookings": Booking.objects.count(),
            "audit": AuditLog.objects.count()}


def fields_of(body) -> list[tuple[str, str]]:
    return [(e["field"], e["rule"]) for e in body["errors"]]


# --- instants and dates -------------------------------------------------------------------

@pytest.mark.parametrize("start", TOO_EARLY + TOO_LATE)
def test_a_blackout_outside_the_range_is_refused_naming_the_field(api, world, start):
    before = counts()
    status, body = api.post(f"{ADMIN}/blackouts", {
        "target_type": "studio", "start_at": start, "end_at": "2030-01-01T00:00:00Z"},
        user=world["admin"])
    assert status == 422, body
    assert fields_of(body) == [("start_at", "value_error")]
    assert "between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z" in body["detail"]
    assert counts() == before


def test_the_range_bounds_themselves_are_accepted(api, world):
    status, body = api.post(f"{ADMIN}/blackouts", {
        "target_type": "studio", "start_at": "1970-01-01T00:00:00Z",
        "end_at": "2100-01-01T00:00:00Z"}, user=world["admin"])
    assert status == 201, body
    assert (body["start_at"], body["end_at"]) == ("1970-01-01T00:00:00Z",
                                                  "2100-01-01T00:00:00Z")


def test_the_service_refuses_an_out_of_range_blackout_whatever_the_caller(world):
    from studiobook.studios import services
    from studiobook.studios.errors import InvalidInput

    before = counts()
    with pytest.raises(InvalidInput) as caught:
        services.save(actor=world["admin"], studio=world["studio"], model=Blackout,
                      data={"target_type": "studio",
                            "start_at": datetime(1, 1, 1, tzinfo=UTC),
                            "end_at": datetime(2030, 1, 1, tzinfo=UTC)})
    assert (caught.value.field, caught.value.rule) == ("start_at", "instant_range")
    assert counts() == before


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1970-01-01", "2099-12-31"])
def test_search_on_a_date_outside_the_range_is_a_422(api, world, day):
    status, body = api.post("/studios/northside/availability/search",
                            {"date": day, "duration_min": 60})
    assert status == 422, body
    assert fields_of(body) == [("date", "value_error")]


@pytest.mark.parametrize("field", ["from", "to"])
def test_search_from_or_to_outside_the_range_is_a_422(api, world, field):
    body = {"from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z",
            "duration_min": 60} | {field: "9999-12-31T00:00:00Z"}
    status, body = api.post("/studios/northside/availability/search", body)
    assert status == 422, body
    assert fields_of(body)[0] == (field, "value_error")


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00Z", "9999-12-31T22:00:00Z"])
def test_holds_bookings_and_reschedules_in_year_1_or_9999_are_422s(api, world, start):
    slot = {"service_id": world["service"].id, "start_at": start, "duration_min": 60}
    before = counts()
    status, body = api.post("/studios/northside/holds", slot, user=world["artist"])
    assert (status, fields_of(body)) == (422, [("start_at", "value_error")])
    status, body = api.post("/bookings", {"studio": "northside", **slot},
                            user=world["artist"])
    assert (status, fields_of(body)) == (422, [("start_at", "value_error")])
    status, body = api.post("/studios/northside/quote", slot)
    assert (status, fields_of(body)) == (422, [("start_at", "value_error")])
    assert counts() == before


def test_the_booking_service_refuses_a_start_outside_the_range(world):
    from studiobook.bookings import services
    from studiobook.studios.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        services.place_hold(actor=world["artist"], studio=world["studio"],
                            service=world["service"], duration_minutes=60,
                            start_at=datetime(9999, 12, 31, 22, tzinfo=UTC))
    assert (caught.value.field, caught.value.rule) == ("start_at", "instant_range")


def test_a_reschedule_to_year_9999_is_a_422(api, world):
    status, booking = api.post("/bookings", {"studio": "northside",
                                             "service_id": world["service"].id,
                                             "start_at": TEN_AM, "duration_min": 60},
                               user=world["artist"])
    assert status == 201, booking
    status, body = api.post(f"/bookings/{booking['code']}/reschedule",
                            {"start_at": "9999-12-31T22:00:00Z"}, user=world["artist"])
    assert (status, fields_of(body)) == (422, [("start_at", "value_error")])
    assert Booking.objects.get(code=booking["code"]).start_at == datetime(2026, 11, 24, 15,
                                                                          tzinfo=UTC)


def test_board_and_payout_ranges_outside_the_limits_are_422s(api, world):
    for path in (f"{ADMIN}/calendar?start=0001-01-01T00:00:00Z&end=2026-01-01T00:00:00Z",
                 f"{ADMIN}/payouts.csv?start=2026-01-01T00:00:00Z&end=9999-01-01T00:00:00Z"):
        status, body = api.get(path, user=world["admin"])
        assert status == 422, (path, body)


# --- schedule rule times ----------------------------------------------------------------

@pytest.mark.parametrize("value", ["00:00:01Z", "09:00:30", "09:00Z", "09:00+02:00",
                                   "09:00:00.5"])
def test_a_rule_time_that_is_not_a_whole_wall_clock_minute_is_a_422(api, world, value):
    before = counts()
    status, body = api.post(f"{ADMIN}/schedule-rules", {
        "target_type": "studio", "weekdays": [1], "start_time": value, "end_time": "18:00"},
        user=world["admin"])
    assert status == 422, body
    assert fields_of(body) == [("start_time", "value_error")]
    assert counts() == before


def test_rule_effective_dates_outside_the_range_are_422s(api, world):
    status, body = api.post(f"{ADMIN}/schedule-rules", {
        "target_type": "studio", "weekdays": [1], "start_time": "09:00", "end_time": "18:00",
        "effective_from": "0001-01-01"}, user=world["admin"])
    assert (status, fields_of(body)) == (422, [("effective_from", "value_error")])


def test_a_whole_minute_rule_is_accepted(api, world):
    status, body = api.post(f"{ADMIN}/schedule-rules", {
        "target_type": "studio", "weekdays": [1], "start_time": "09:00:00",
        "end_time": "18:30"}, user=world["admin"])
    assert status == 201, body
    assert (body["start_time"], body["end_time"]) == ("09:00:00", "18:30:00")


# --- NUL characters -----------------------------------------------------------------------

def test_a_nul_in_a_query_parameter_is_a_422_naming_it(api, world):
    status, body = api.get("/studios?q=a%00b")
    assert status == 422, body
    assert fields_of(body) == [("q", "nul")]


def test_a_nul_in_a_path_slug_is_a_404(api, world):
    status, body = api.get("/studios/north%00side")
    assert (status, body["code"]) == (404, "not_found")
    status, body = api.post("/studios/north%00side/availability/search",
                            {"date": "2026-11-24", "duration_min": 60})
    assert status == 404


def test_a_nul_in_any_json_string_is_a_422_naming_the_field(api, world):
    before = counts()
    status, body = api.post(f"{ADMIN}/rooms", {"name": "A\u0000B"}, user=world["admin"])
    assert (status, fields_of(body)) == (422, [("name", "nul")])
    status, body = api.post("/bookings", {"studio": "northside",
                                          "service_id": world["service"].id,
                                          "start_at": TEN_AM, "duration_min": 60,
                                          "notes": "late\u0000"}, user=world["artist"])
    assert (status, fields_of(body)) == (422, [("notes", "nul")])
    status, body = api.post("/bookings", {"studio": "north\u0000side",
                                          "service_id": world["service"].id,
                                          "start_at": TEN_AM, "duration_min": 60},
                            user=world["artist"])
    assert (status, fields_of(body)) == (422, [("studio", "nul")])
    status, body = api.post(f"{ADMIN}/rooms", {"name": "A", "tags": ["x", "y\u0000"]},
                            user=world["admin"])
    assert (status, fields_of(body)) == (422, [("tags.1", "nul")])
    assert counts() == before


def test_a_nul_in_a_page_query_or_form_post_is_a_400_naming_the_field(world):
    client = Client()
    response = client.get("/?q=a%00b")
    assert response.status_code == 400
    assert b"q: must not contain a NUL" in response.content
    client.force_login(world["admin"])
    before = counts()
    response = client.post("/studios/northside/book", {"notes": "a\x00b"})
    assert response.status_code == 400
    assert b"notes: must not contain a NUL" in response.content
    assert counts() == before


# --- ids beyond 64 bits -------------------------------------------------------------------

@pytest.mark.parametrize("huge", [2**63, 2**64 + 5, 10**30])
def test_a_path_id_beyond_64_bits_is_a_404(api, world, huge):
    status, body = api.put(f"{ADMIN}/rooms/{huge}", {"name": "X"}, user=world["admin"])
    assert (status, body["code"]) == (404, "not_found")
    status, body = api.delete(f"{ADMIN}/blackouts/{huge}", user=world["admin"])
    assert status == 404


@pytest.mark.parametrize("huge", [2**63, -(2**63) - 1, 10**30])
def test_a_body_or_query_id_beyond_64_bits_is_a_422_naming_it(api, world, huge):
    before = counts()
    status, body = api.post("/studios/northside/availability/search",
                            {"date": "2026-11-24", "duration_min": 60, "service_id": huge})
    assert (status, fields_of(body)) == (422, [("service_id", "int64_range")])
    status, body = api.post("/studios/northside/holds", {
        "service_id": world["service"].id, "start_at": TEN_AM, "duration_min": 60,
        "staff_ids": [1, huge]}, user=world["artist"])
    assert (status, fields_of(body)) == (422, [("staff_ids.1", "int64_range")])
    status, body = api.get(f"{ADMIN}/bookings?limit={huge}", user=world["admin"])
    assert (status, fields_of(body)) == (422, [("limit", "int64_range")])
    assert counts() == before


@pytest.mark.parametrize("segment", ["%C2%B2", "%D9%A3", "1%C2%B2"])  # ², Arabic-Indic 3
def test_a_path_of_non_ascii_digits_is_a_plain_404(api, world, segment):
    status, body = api.post(f"{ADMIN}/bookings/{segment}/no-show", user=world["admin"])
    assert (status, body["code"]) == (404, "not_found")
    status, body = api.put(f"{ADMIN}/rooms/{segment}", {"name": "X"}, user=world["admin"])
    assert (status, fields_of(body)) == (422, [("item_id", "int_parsing")]), body


def test_the_largest_64_bit_id_is_a_plain_404(api, world):
    status, body = api.put(f"{ADMIN}/rooms/{limits.MAX_ID}", {"name": "X"},
                           user=world["admin"])
    assert (status, body["code"]) == (404, "not_found")


# --- a day that does not exist in the zone ------------------------------------------------

def test_a_local_day_the_zone_skips_has_no_slots(api, make_studio, make_room, make_service):
    # Samoa moved across the date line: 2011-12-30 never happened in Pacific/Apia.
    with time_machine.travel(datetime(2011, 12, 1, tzinfo=UTC), tick=False):
        studio = make_studio(slug="apia", time_zone="Pacific/Apia")
        make_room(studio=studio, name="Fale")
        service = make_service(studio=studio, name="Tracking")
        status, body = api.post("/studios/apia/availability/search",
                                {"date": "2011-12-30", "duration_min": 60,
                                 "service_id": service.id})
        assert status == 200, body
        assert body["slots"] == []
        status, body = api.post("/studios/apia/availability/search",
                                {"date": "2011-12-31", "duration_min": 60,
                                 "service_id": service.id})
        assert status == 200, body
        assert body["slots"][0]["start_at"] == "2011-12-30T19:00:00Z"  # 09:00 at +14:00


# --- values already stored out of range ---------------------------------------------------

def _store_raw_blackout_start(blackout: Blackout, value: str) -> None:
    """Write ``value`` as the blackout's start behind Django's back, as an old row would be."""
    table = Blackout._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET start_at = %s WHERE id = %s",
                       [value, blackout.id])


def stored_values() -> list[str]:
    if connection.vendor == "postgresql":
        # year 1 at +14:00 is 1 BC in UTC: what the unbounded API stored; and -infinity.
        return ["0001-01-01 00:00:00+14", "-infinity"]
    return ["0001-01-01 00:00:00"]


@pytest.mark.parametrize("value", stored_values())
def test_a_studio_with_a_stored_bc_blackout_still_reads_and_can_delete_it(
        api, world, make_blackout, value):
    blackout = make_blackout(start_at=datetime(2026, 1, 1, tzinfo=UTC),
                             end_at=datetime(2026, 11, 24, 16, tzinfo=UTC))
    _store_raw_blackout_start(blackout, value)

    status, body = api.get(f"{ADMIN}/blackouts", user=world["admin"])
    assert status == 200, body
    expected_start = ("1970-01-01T00:00:00Z" if connection.vendor == "postgresql"
                      else "0001-01-01T00:00:00Z")
    assert [(b["id"], b["start_at"], b["end_at"]) for b in body] == [
        (blackout.id, expected_start, "2026-11-24T16:00:00Z")]

    status, body = api.post("/studios/northside/availability/search",
                            {"date": "2026-11-24", "duration_min": 60,
                             "service_id": world["service"].id})
    assert status == 200, body
    # The blackout still blocks until 11:00 local (16:00Z); the first slot starts there.
    assert body["slots"][0]["start_at"] == "2026-11-24T16:00:00Z"

    status, body = api.post("/studios/northside/holds", {
        "service_id": world["service"].id, "start_at": TEN_AM, "duration_min": 60},
        user=world["artist"])
    assert (status, body["code"]) == (409, "slot_unavailable")

    page = Client().get(f"/studios/northside/availability?date=2026-11-24"
                        f"&service={world['service'].id}&duration=60")
    assert page.status_code == 200

    status, body = api.get(f"{ADMIN}/calendar?start={quote('2026-11-24T00:00:00Z')}"
                           f"&end={quote('2026-11-25T00:00:00Z')}", user=world["admin"])
    assert status == 200, body

    status, body = api.delete(f"{ADMIN}/blackouts/{blackout.id}", user=world["admin"])
    assert (status, body) == (200, {"detail": "removed"})
    assert not Blackout.objects.filter(pk=blackout.pk).exists()


# --- ids past PostgreSQL's int4 in the advisory locks (found by the fuzz test) ---------------

@pytest.mark.parametrize("staff_id", [2**40, -(2**40), -5])
def test_staff_ids_past_int4_are_not_found_not_a_lock_error(api, world, staff_id):
    status, booking = api.post("/bookings", {"studio": "northside",
                                             "service_id": world["service"].id,
                                             "start_at": TEN_AM, "duration_min": 60},
                               user=world["artist"])
    assert status == 201, booking
    before = counts()
    status, body = api.post(f"{ADMIN}/bookings/{booking['code']}/assign-staff",
                            {"staff_ids": [staff_id]}, user=world["admin"])
    assert (status, body["code"]) == (404, "not_found"), body
    status, body = api.post("/studios/northside/holds", {
        "service_id": world["service"].id, "start_at": "2026-11-25T15:00:00Z",
        "duration_min": 60, "staff_ids": [staff_id]}, user=world["artist"])
    assert (status, fields_of(body)) == (422, [("staff_ids", "not_applicable")]), body
    assert counts() == before
