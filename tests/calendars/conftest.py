"""Calendar test set-up: URLs, loopback servers and task backends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import time_machine

from tests.calendars.servers import ics_server, radicale_server
from tests.support.factories import NOW

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture(autouse=True)
def calendar_settings(settings):
    # The test servers listen on 127.0.0.1, which production refuses (calendars/net.py).
    settings.STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS = True
    settings.STUDIOBOOK_CALENDARS_FETCH_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Northside Bookings <bookings@northside.example>"
    return settings


@pytest.fixture
def immediate_tasks(settings):
    """Tasks run as they are enqueued (django-tasks' ImmediateBackend)."""
    settings.TASKS = IMMEDIATE


@pytest.fixture
def dummy_tasks(settings):
    """Tasks are only recorded: ``dummy_tasks.results`` lists what was enqueued."""
    from django_tasks import default_task_backend

    settings.TASKS = DUMMY
    return default_task_backend


@pytest.fixture
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def radicale(tmp_path):
    with radicale_server(tmp_path, {"eve": "eve-app-password", "sam": "sam-app-password"}
                         ) as server:
        yield server


@pytest.fixture
def ics_files():
    with ics_server() as server:
        yield server


@pytest.fixture
def world(studio, make_room, make_staff, make_service, make_user, artist, admin_user):
    """Northside Sound (Toronto, 09:00-21:00 every day), rooms Studio A and B, engineers Eve
    and Sam, a recording service that needs an engineer and a rehearsal that does not."""
    studio.address, studio.city = "12 King St W", "Toronto"
    studio.save()
    eve = make_staff(user=make_user(email="eve@example.test", name="Eve Engineer"),
                     display_name="Eve Engineer")
    sam = make_staff(user=make_user(email="sam@example.test", name="Sam Sound"),
                     display_name="Sam Sound")
    return SimpleNamespace(
        studio=studio, room_a=make_room(name="Studio A"), room_b=make_room(name="Studio B"),
        eve=eve, sam=sam,
        recording=make_service(name="Recording", requires_engineer=True,
                               staff_skill_required="recording"),
        rehearsal=make_service(name="Rehearsal"),
        artist=artist, admin=admin_user)
