"""The studio admin API: approval queue, approve/reject, assign staff, calendar, CRUD, roles."""

from __future__ import annotations

import pytest
import time_machine

from studiobook.bookings.models import Booking
from studiobook.studios.models import AuditLog, Blackout, BufferRule, Room, ScheduleRule, Service

TEN_AM = "2026-11-24T15:00:00Z"
ADMIN = "/studios/northside/admin"


@pytest.fixture
def world(studio, make_room, make_staff, make_service, artist, admin_user):
    room = make_room(name="Studio A")
    engineer = make_staff(display_name="Eve Engineer")
    second = make_staff(display_name="Sam Second")
    service = make_service(name="Lockout", requires_engineer=True, requires_approval=True,
                           staff_skill_required="recording")
    return {"studio": studio, "room": room, "engineer": engineer, "second": second,
            "service": service, "artist": artist, "admin": admin_user}


def submit(api, world, start=TEN_AM):
    status, body = api.post("/bookings", {"studio": "northside",
                                          "service_id": world["service"].id,
                                          "start_at": start, "duration_min": 120},
                            user=world["artist"])
    assert status == 201, body
    return body


def test_queue_approve_reject(api, world):
    first = submit(api, world)
    second = submit(api, world, "2026-11-25T15:00:00Z")
    assert first["status"] == "awaiting_approval"
    queue = api.get(f"{ADMIN}/bookings?status=awaiting_approval", user=world["admin"])[1]
    assert [b["code"] for b in queue] == [second["code"], first["code"]]  # newest first

    status, body = api.post(f"{ADMIN}/bookings/{first['code']}/approve", {"message": "Welcome"},
                            user=world["admin"])
    assert (status, body["status"]) == (200, "confirmed")
    status, body = api.post(f"{ADMIN}/bookings/{second['code']}/reject", {"reason": "closed"},
                            user=world["admin"])
    assert (status, body["status"], body["status_reason"]) == (200, "rejected", "closed")
    status, body = api.post(f"{ADMIN}/bookings/{second['code']}/approve", {},
                            user=world["admin"])
    assert (status, body["code"]) == (409, "illegal_transition")
    assert api.get(f"{ADMIN}/bookings?status=bogus", user=world["admin"])[0] == 422


def test_complete_and_no_show(api, world):
    code = submit(api, world)["code"]
    api.post(f"{ADMIN}/bookings/{code}/approve", {}, user=world["admin"])
    with time_machine.travel("2026-11-24T15:30:00Z", tick=False):  # the session has started
        assert api.post(f"{ADMIN}/bookings/{code}/complete",
                        user=world["admin"])[1]["status"] == "completed"
        assert api.post(f"{ADMIN}/bookings/{code}/no-show", user=world["admin"])[0] == 409


def test_artists_and_other_studios_cannot_administer(api, world, make_studio, make_user):
    code = submit(api, world)["code"]
    status, body = api.post(f"{ADMIN}/bookings/{code}/approve", {}, user=world["artist"])
    assert status in (403, 404)
    assert Booking.objects.get().status == "awaiting_approval"
    assert api.get(f"{ADMIN}/rooms", user=world["artist"])[0] == 403
    # An admin of another studio sees neither this studio's bookings nor its rooms.
    other = make_studio(slug="other", name="Other")
    from studiobook.studios.models import Membership

    outsider = make_user()
    Membership.objects.create(studio=other, user=outsider, role="admin")
    assert api.post(f"{ADMIN}/bookings/{code}/approve", {}, user=outsider)[0] == 404
    assert api.get(f"{ADMIN}/rooms", user=outsider)[0] == 403
    assert api.put(f"/studios/other/admin/rooms/{world['room'].id}",
                   {"name": "Stolen"}, user=outsider)[0] == 404


def test_assign_staff(api, world):
    code = submit(api, world)["code"]
    status, body = api.post(f"{ADMIN}/bookings/{code}/assign-staff",
                            {"staff_ids": [world["second"].id]}, user=world["admin"])
    assert status == 200 and [s["id"] for s in body["staff"]] == [world["second"].id]
    status, body = api.post(f"{ADMIN}/bookings/{code}/assign-staff",
                            {"staff_ids": [424242]}, user=world["admin"])
    assert (status, body["errors"][0]["field"]) == (404, "staff_ids")


def test_calendar_board_by_room_and_staff_with_override_conflict(api, world):
    code = submit(api, world)["code"]
    status, forced = api.post("/bookings", {"studio": "northside",
                                            "service_id": world["service"].id,
                                            "start_at": TEN_AM, "duration_min": 60,
                                            "room_id": world["room"].id,
                                            "staff_ids": [world["second"].id],
                                            "override": True}, user=world["admin"])
    assert status == 201 and forced["is_override"]
    status, board = api.get(f"{ADMIN}/calendar?start=2026-11-24T00:00:00Z"
                            "&end=2026-11-25T00:00:00Z&group_by=room", user=world["admin"])
    assert status == 200
    (lane,) = board["lanes"]
    assert lane["name"] == "Studio A"
    assert [(i["booking_code"], i["is_conflict"]) for i in lane["items"]] == [
        (code, True), (forced["code"], True)]
    status, board = api.get(f"{ADMIN}/calendar?start=2026-11-24T00:00:00Z"
                            "&end=2026-11-25T00:00:00Z&group_by=staff", user=world["admin"])
    assert [(lane["name"], [i["is_conflict"] for i in lane["items"]])
            for lane in board["lanes"]] == [("Eve Engineer", [False]), ("Sam Second", [False])]
    status, body = api.get(f"{ADMIN}/calendar?start=2026-11-25T00:00:00Z"
                           "&end=2026-11-24T00:00:00Z", user=world["admin"])
    assert (status, body["errors"][0]["field"]) == (422, "end")


def test_room_crud_with_audit(api, world):
    status, room = api.post(f"{ADMIN}/rooms", {"name": "Booth", "tags": ["vocal"],
                                               "equipment": ["U87"]}, user=world["admin"])
    assert status == 201 and room["tags"] == ["vocal"]
    status, body = api.post(f"{ADMIN}/rooms", {"name": "Booth"}, user=world["admin"])
    assert (status, body["errors"][0]) == (422, {"field": "name", "rule": "unique",
                                                 "message": body["errors"][0]["message"]})
    status, room = api.put(f"{ADMIN}/rooms/{room['id']}", {"name": "Vocal Booth",
                                                           "capacity": 2}, user=world["admin"])
    assert (room["name"], room["capacity"]) == ("Vocal Booth", 2)
    assert api.delete(f"{ADMIN}/rooms/{room['id']}", user=world["admin"])[0] == 200
    assert Room.objects.get(pk=room["id"]).is_active is False
    assert list(AuditLog.objects.filter(entity="room").values_list("action", flat=True)) == [
        "room.create", "room.update", "room.retire"]


def test_service_crud_validates_durations(api, world):
    base = {"name": "Mix", "default_duration_minutes": 90, "min_duration_minutes": 60,
            "max_duration_minutes": 240, "duration_step_minutes": 30, "base_price_cents": 5000}
    status, service = api.post(f"{ADMIN}/services", base, user=world["admin"])
    assert status == 201 and service["base_price_cents"] == 5000
    before = Service.objects.count()
    status, body = api.post(f"{ADMIN}/services", base | {"name": "Bad",
                                                          "default_duration_minutes": 300},
                            user=world["admin"])
    assert (status, body["errors"][0]["rule"]) == (422, "within_min_max")
    status, body = api.post(f"{ADMIN}/services",
                            base | {"name": "Bad", "max_duration_minutes": 250},
                            user=world["admin"])
    assert (status, body["errors"][0]["field"]) == (422, "max_duration_minutes")
    status, body = api.post(f"{ADMIN}/services", base | {"name": "Bad", "deposit_percent": 101},
                            user=world["admin"])
    assert status == 422
    assert Service.objects.count() == before


def test_staff_crud(api, world):
    status, staff = api.post(f"{ADMIN}/staff", {"email": "Mo@Example.test",
                                                "display_name": "Mo", "skills": ["mixing"],
                                                "hourly_rate_cents": 4500}, user=world["admin"])
    assert status == 201 and staff["hourly_rate_cents"] == 4500
    assert api.post(f"{ADMIN}/staff", {"email": "mo@example.test", "display_name": "Mo"},
                    user=world["admin"])[0] == 422
    status, staff = api.put(f"{ADMIN}/staff/{staff['id']}", {"skills": ["mixing", "mastering"]},
                            user=world["admin"])
    assert (staff["display_name"], staff["skills"]) == ("Mo", ["mixing", "mastering"])


def test_schedule_rules_blackouts_buffers(api, world):
    status, rule = api.post(f"{ADMIN}/schedule-rules",
                            {"target_type": "room", "room_id": world["room"].id,
                             "weekdays": [1, 2, 3], "start_time": "10:00", "end_time": "18:00"},
                            user=world["admin"])
    assert status == 201 and rule["weekdays"] == [1, 2, 3]
    for bad, field in (({"weekdays": [0]}, "weekdays.0"),
                       ({"end_time": "10:00"}, "end_time"),
                       ({"target_type": "staff"}, "staff_id"),
                       ({"room_id": 999999}, "room_id")):
        status, body = api.post(f"{ADMIN}/schedule-rules",
                                {"target_type": "room", "room_id": world["room"].id,
                                 "weekdays": [1], "start_time": "10:00",
                                 "end_time": "18:00"} | bad, user=world["admin"])
        assert status in (404, 422) and body["errors"][0]["field"] == field, (bad, body)
    assert ScheduleRule.objects.filter(target_type="room").count() == 1

    status, blackout = api.post(f"{ADMIN}/blackouts",
                                {"target_type": "studio", "start_at": "2026-12-25T05:00:00Z",
                                 "end_at": "2026-12-26T05:00:00Z", "reason": "Christmas"},
                                user=world["admin"])
    assert status == 201
    status, body = api.post(f"{ADMIN}/blackouts",
                            {"target_type": "studio", "start_at": "2026-12-26T05:00:00Z",
                             "end_at": "2026-12-25T05:00:00Z"}, user=world["admin"])
    assert (status, body["errors"][0]["field"]) == (422, "end_at")
    assert Blackout.objects.count() == 1

    status, buffer = api.post(f"{ADMIN}/buffers", {"scope": "room", "room_id": world["room"].id,
                                                   "after_minutes": 30}, user=world["admin"])
    assert status == 201 and buffer["after_minutes"] == 30
    status, body = api.post(f"{ADMIN}/buffers", {"scope": "room",
                                                 "service_id": world["service"].id},
                            user=world["admin"])
    assert status == 422
    assert api.delete(f"{ADMIN}/buffers/{buffer['id']}", user=world["admin"])[0] == 200
    assert BufferRule.objects.count() == 0

    # The blackout now hides Christmas Day from search.
    body = api.post("/studios/northside/availability/search",
                    {"date": "2026-12-25", "duration_min": 120,
                     "service_id": world["service"].id})[1]
    assert body["slots"] == []
