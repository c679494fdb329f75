"""Factory fixtures: ``make_x(**overrides)`` beside sensible defaults (CONVENTIONS.md, Tests).

The default world: studio "northside" in America/Toronto, open every day 09:00-21:00 local,
no lead time, a 365-day horizon, a 15-minute grid; ``now`` is 2026-11-23 12:00 UTC (a Monday).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from studiobook.accounts.models import ApiToken, User
from studiobook.studios.models import (
    Blackout,
    BufferRule,
    Membership,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    Studio,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ALL_DAYS = [1, 2, 3, 4, 5, 6, 7]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(**overrides) -> User:
        n = next(counter)
        fields = {"email": f"user{n}@example.test", "name": f"User {n}"} | overrides
        return User.objects.create_user(password=None, **fields)

    return make


@pytest.fixture
def make_studio(db):
    def make(*, hours: tuple[time, time] | None = (time(9), time(21)), **overrides) -> Studio:
        fields = {"slug": "northside", "name": "Northside Sound", "time_zone": "America/Toronto",
                  "currency": "CAD", "lead_time_minutes": 0, "horizon_days": 365,
                  "max_active_holds": 3,
                  # Permissive, as lead time and horizon are: the tests of the unpaid-booking
                  # limits (tests/bookings/test_unpaid_limits.py) set their own.
                  "max_unpaid_bookings": 100, "max_unpaid_hours": 24 * 31} | overrides
        studio = Studio.objects.create(**fields)
        if hours:
            ScheduleRule.objects.create(studio=studio, target_type="studio", weekdays=ALL_DAYS,
                                        start_time=hours[0], end_time=hours[1])
        return studio

    return make


@pytest.fixture
def studio(make_studio) -> Studio:
    return make_studio()


@pytest.fixture
def make_room(studio):
    def make(**overrides) -> Room:
        fields = {"studio": studio, "name": f"Room {Room.objects.count() + 1}",
                  "tags": ["tracking"]} | overrides
        return Room.objects.create(**fields)

    return make


@pytest.fixture
def make_staff(studio, make_user):
    def make(*, role: str = "staff", **overrides) -> StaffMember:
        user = overrides.pop("user", None) or make_user()
        Membership.objects.get_or_create(studio=overrides.get("studio", studio), user=user,
                                         defaults={"role": role})
        fields = {"studio": studio, "user": user, "display_name": user.name,
                  "skills": ["recording"]} | overrides
        return StaffMember.objects.create(**fields)

    return make


@pytest.fixture
def make_service(studio):
    def make(**overrides) -> Service:
        fields = {"studio": studio, "name": f"Service {Service.objects.count() + 1}",
                  "default_duration_minutes": 120, "min_duration_minutes": 60,
                  "max_duration_minutes": 480, "duration_step_minutes": 60,
                  "price_unit": "hour", "base_price_minor": 6000, "requires_room": True,
                  "room_tags": ["tracking"]} | overrides
        return Service.objects.create(**fields)

    return make


@pytest.fixture
def make_rule(studio):
    def make(**overrides) -> ScheduleRule:
        fields = {"studio": studio, "target_type": "studio", "weekdays": ALL_DAYS,
                  "start_time": time(9), "end_time": time(21)} | overrides
        return ScheduleRule.objects.create(**fields)

    return make


@pytest.fixture
def make_blackout(studio):
    def make(**overrides) -> Blackout:
        fields = {"studio": studio, "target_type": "studio", "reason": "Holiday"} | overrides
        return Blackout.objects.create(**fields)

    return make


@pytest.fixture
def make_buffer(studio):
    def make(**overrides) -> BufferRule:
        return BufferRule.objects.create(studio=studio, **overrides)

    return make


@pytest.fixture
def artist(make_user) -> User:
    return make_user(email="artist@example.test", name="Ari Artist")


@pytest.fixture
def admin_user(studio, make_user) -> User:
    user = make_user(email="admin@example.test", name="Ada Admin")
    Membership.objects.create(studio=studio, user=user, role="admin")
    return user


@pytest.fixture
def token_for(db):
    def issue(user: User) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user)}"}

    return issue
