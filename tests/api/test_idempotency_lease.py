"""An Idempotency-Key whose request died is usable again after its lease (issue 9 section 3).

A request that never finishes (its process was killed) is simulated by a BaseException from
inside the view: it passes through Django's handler and the middleware like a kill, leaving
the record in progress. Before the lease, the key is refused with 409 and Retry-After; after
it, one retry takes the key over and runs the request; while it does, a concurrent retry is
refused.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import RequestFactory

from studiobook.api.middleware import IdempotencyMiddleware
from studiobook.api.models import IdempotencyRecord
from studiobook.bookings import services
from studiobook.bookings.models import Booking
from tests.support.factories import NOW

TEN_AM = "2026-11-24T15:00:00Z"


@pytest.fixture
def world(studio, make_room, make_staff, make_service, artist):
    make_room(name="Studio A")
    make_staff(display_name="Eve Engineer")
    service = make_service(name="Recording", requires_engineer=True,
                           staff_skill_required="recording")
    return {"studio": studio, "service": service, "artist": artist}


class ProcessKilled(BaseException):
    """Stands for kill -9: nothing in the request gets to clean up."""


def payload(world):
    return {"studio": "northside", "service_id": world["service"].id, "start_at": TEN_AM,
            "duration_min": 120}


@pytest.fixture
def died_once(api, world, monkeypatch):
    """Send a booking with key ``died`` whose process dies inside the view."""
    real = services.create_booking

    def dying(**kwargs):
        raise ProcessKilled

    monkeypatch.setattr(services, "create_booking", dying)
    with pytest.raises(ProcessKilled):
        api.post("/bookings", payload(world), user=world["artist"],
                 headers={"HTTP_IDEMPOTENCY_KEY": "died"})
    monkeypatch.setattr(services, "create_booking", real)
    record = IdempotencyRecord.objects.get(key="died")
    assert record.status_code is None
    assert record.lease_expires_at == NOW + timedelta(seconds=120)
    return record


def test_within_the_lease_a_retry_is_409_with_retry_after(api, world, died_once):
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        status, body = api.post("/bookings", payload(world), user=world["artist"],
                                headers={"HTTP_IDEMPOTENCY_KEY": "died"})
    assert (status, body["code"]) == (409, "idempotency_in_progress")
    assert api.last["Retry-After"] == "90"
    assert Booking.objects.count() == 0


def test_after_the_lease_a_retry_takes_the_key_over_and_is_replayed_after(api, world,
                                                                           died_once):
    later = NOW + timedelta(seconds=121)
    with time_machine.travel(later, tick=False):
        first = api.post("/bookings", payload(world), user=world["artist"],
                         headers={"HTTP_IDEMPOTENCY_KEY": "died"})
        again = api.post("/bookings", payload(world), user=world["artist"],
                         headers={"HTTP_IDEMPOTENCY_KEY": "died"})
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert api.last["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1
    record = IdempotencyRecord.objects.get(key="died")
    assert (record.status_code, record.lease_expires_at) == (201, later + timedelta(seconds=120))


def test_an_expired_key_is_not_taken_over_by_another_request(api, world, died_once):
    with time_machine.travel(NOW + timedelta(seconds=121), tick=False):
        status, body = api.post("/bookings", payload(world) | {"notes": "other"},
                                user=world["artist"], headers={"HTTP_IDEMPOTENCY_KEY": "died"})
    assert (status, body["code"]) == (422, "idempotency_key_reused")
    assert Booking.objects.count() == 0


def test_two_retries_after_the_lease_cannot_both_take_the_key(db):
    """The second retry arrives while the first (which took the key over) is running."""
    IdempotencyRecord.objects.create(scope="user:7", key="k", fingerprint="", status_code=None,
                                     lease_expires_at=NOW - timedelta(seconds=1))
    factory = RequestFactory()
    seen = []

    def build():
        request = factory.post("/api/bookings", data=b"{}", content_type="application/json",
                               headers={"Idempotency-Key": "k"})
        request.user = type("U", (), {"is_authenticated": True, "pk": 7})()
        return request

    from django.http import HttpResponse

    def view(request):
        # While the first retry runs, the second one comes in.
        inner = IdempotencyMiddleware(lambda r: HttpResponse(b"second ran", status=201))
        seen.append(inner(build()))
        return HttpResponse(b"first ran", status=201)

    import hashlib

    fingerprint = hashlib.sha256(b"POST\n/api/bookings\n{}").hexdigest()
    IdempotencyRecord.objects.filter(key="k").update(fingerprint=fingerprint)
    with time_machine.travel(NOW, tick=False):
        response = IdempotencyMiddleware(view)(build())
    assert (response.status_code, response.content) == (201, b"first ran")
    [second] = seen
    assert second.status_code == 409
    assert second["Retry-After"] == "120"
    record = IdempotencyRecord.objects.get(key="k")
    assert (record.status_code, bytes(record.body)) == (201, b"first ran")
