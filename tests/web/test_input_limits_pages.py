"""The pages take dates, times and instants only inside ``studiobook.limits`` (issue 9):
a field error on the page, never a 500, and nothing written."""

from __future__ import annotations

import pytest

from studiobook.studios.models import AuditLog, Blackout, ScheduleRule

MANAGE = "/dashboard/northside/manage"


@pytest.fixture
def world(studio, make_room, make_service, admin_user):
    make_room(name="Studio A")
    return {"service": make_service(name="Tracking"), "admin": admin_user}


def counts() -> tuple[int, int, int]:
    return Blackout.objects.count(), ScheduleRule.objects.count(), AuditLog.objects.count()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_availability_page_refuses_a_day_outside_the_range(client, world, day):
    response = client.get(f"/studios/northside/availability?date={day}"
                          f"&service={world['service'].id}&duration=60")
    assert response.status_code == 422
    assert b"Must be a date between 1970-01-02 and 2099-12-30." in response.content


@pytest.mark.parametrize("query", ["?date=0001-01-01", "?date=9999-12-31"])
def test_the_board_refuses_a_day_outside_the_range(client, world, query):
    client.force_login(world["admin"])
    response = client.get(f"/dashboard/northside/{query}")
    assert response.status_code == 422
    assert b"Must be a date between 1970-01-02 and 2099-12-30." in response.content


@pytest.mark.parametrize(("start", "end"), [("0001-01-01T00:00", "2030-01-01T00:00"),
                                            ("2030-01-01T00:00", "9999-12-31T23:59")])
def test_the_blackout_form_refuses_instants_outside_the_range(client, world, start, end):
    client.force_login(world["admin"])
    before = counts()
    response = client.post(f"{MANAGE}/blackouts/new", {
        "target_type": "studio", "start_at": start, "end_at": end, "reason": "x"})
    assert response.status_code == 422
    assert b"Must be a date between 1970-01-02 and 2099-12-30." in response.content
    assert counts() == before


def test_the_hours_form_refuses_a_time_with_seconds(client, world):
    client.force_login(world["admin"])
    before = counts()
    response = client.post(f"{MANAGE}/hours/new", {
        "target_type": "studio", "weekdays": ["1"], "start_time": "09:00:30",
        "end_time": "18:00"})
    assert response.status_code == 422
    assert b"Must be a whole minute" in response.content
    assert counts() == before
