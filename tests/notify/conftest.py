"""Fixtures for the notification tests: a frozen clock, tasks run at once (retries recorded),
a real SMTP server (aiosmtpd on 127.0.0.1), and a studio in Toronto with an artist."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from studiobook.bookings import services as bookings
from studiobook.notify.channels import use_sms_channel
from studiobook.payments import services as payments
from studiobook.studios.models import TaxRate
from tests.notify import backends
from tests.support.factories import NOW, utc
from tests.support.smtp import running_smtp_server

# Saturday 2026-11-28 15:00 UTC = 10:00 in Toronto (EST, UTC-5); 4 h, so 14:00 local.
START = utc(2026, 11, 28, 15, 0)
MINUTES = 240


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def tasks_run_at_once(settings):
    """django-tasks runs each task as it is enqueued; retries (run_after) are recorded in
    ``backends.DEFERRED``; a task that raised fails the test unless it empties
    ``backends.FAILED``."""
    settings.TASKS = {"default": {"BACKEND": "tests.notify.backends.ImmediateRecordingBackend"}}
    backends.DEFERRED.clear()
    backends.FAILED.clear()
    yield
    errors = [error.traceback for result in backends.FAILED for error in result.errors]
    backends.FAILED.clear()
    assert not errors, "a task raised:\n" + "\n".join(errors)


@pytest.fixture(autouse=True)
def mail_settings(settings):
    settings.DEFAULT_FROM_EMAIL = "Studiobook <bookings@studiobook.test>"
    settings.STUDIOBOOK_SITE_URL = "https://book.example.test"
    settings.SMS_BACKEND = "console"
    use_sms_channel(None)
    payments.use_gateway(None)
    yield
    use_sms_channel(None)


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1:<free port>, and Django's SMTP backend pointed at it."""
    with running_smtp_server() as inbox:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", inbox.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5
        yield inbox


@pytest.fixture
def world(studio, make_room, make_staff, make_service, make_user, admin_user):
    studio.address, studio.city = "12 Queen St W", "Toronto"
    studio.save()
    TaxRate.objects.create(studio=studio, name="HST", rate_ppm=130000)
    room = make_room(name="Studio A")
    make_staff(display_name="Eve Engineer")
    service = make_service(name="Lockout", requires_engineer=True, requires_approval=True,
                           staff_skill_required="recording", deposit_percent=50)
    instant = make_service(name="Vocal booth", requires_approval=False)
    artist = make_user(email="ari@example.test", name="Ari Artist", phone="+14165550123")
    return {"studio": studio, "room": room, "service": service, "instant": instant,
            "artist": artist, "admin": admin_user}


@pytest.fixture
def book(world, django_capture_on_commit_callbacks):
    """Book ``world``'s approval-requiring service at START (or ``start``), committing and
    running the after-commit handlers."""

    def make(*, start=START, minutes=MINUTES, service=None, actor=None):
        with django_capture_on_commit_callbacks(execute=True):
            return bookings.create_booking(
                actor=actor or world["artist"], studio=world["studio"],
                service=service or world["service"], start_at=start,
                duration_minutes=minutes, now=NOW)

    return make


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``committed(fn, **kwargs)``: call a service and run its after-commit work."""

    def run(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    return run


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
