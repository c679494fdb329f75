"""Where the WSGI endpoint sends a stream (in-process: the view needs no database)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from studiobook.live.views import stream_redirect

PATH = "/api/studios/northside/availability/stream"


@pytest.fixture(autouse=True)
def studio_hosts(settings):
    # There is no wildcard default: the hosts these requests name are the site's own.
    settings.ALLOWED_HOSTS = ["studio.example", "localhost", "127.0.0.1", "[::1]"]


@pytest.fixture(autouse=True)
def no_stream_environment(monkeypatch):
    monkeypatch.delenv("STUDIOBOOK_STREAM_URL", raising=False)
    monkeypatch.delenv("STUDIOBOOK_STREAM_PORT", raising=False)


def redirect(host: str, path: str = PATH, **extra) -> str:
    request = RequestFactory().get(path, HTTP_HOST=host, **extra)
    response = stream_redirect(request, slug="northside")
    assert response.status_code == 307
    assert response["Cache-Control"] == "no-store"
    return response["Location"]


def test_by_default_the_same_host_on_the_next_port():
    assert redirect("127.0.0.1:8000") == f"http://127.0.0.1:8001{PATH}"
    assert redirect("studio.example:9000", PATH + "?room_id=3&staff_id=4") == (
        f"http://studio.example:9001{PATH}?room_id=3&staff_id=4")
    assert redirect("[::1]:8000") == f"http://[::1]:8001{PATH}"


def test_without_a_port_in_host_the_scheme_default_plus_one():
    assert redirect("studio.example") == f"http://studio.example:81{PATH}"
    assert redirect("studio.example", secure=True) == f"https://studio.example:444{PATH}"


def test_the_stream_port_set_by_serve(monkeypatch):
    monkeypatch.setenv("STUDIOBOOK_STREAM_PORT", "9100")
    assert redirect("localhost:8000") == f"http://localhost:9100{PATH}"


def test_a_configured_stream_url_wins(settings, monkeypatch):
    monkeypatch.setenv("STUDIOBOOK_STREAM_PORT", "9100")
    settings.STUDIOBOOK_STREAM_URL = "https://stream.example.com/"
    assert redirect("localhost:8000", PATH + "?last_event_id=7") == (
        f"https://stream.example.com{PATH}?last_event_id=7")
