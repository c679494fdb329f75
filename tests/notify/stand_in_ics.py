"""A stand-in for ``studiobook.calendars.ics`` (same functions, built with icalendar), so the
invite plumbing of the emails is tested whether or not the real module is installed yet.
SEQUENCE counts the booking's reschedules in its audit log."""

from __future__ import annotations

import sys
import types
from urllib.parse import urlencode

import icalendar

from studiobook.studios.models import AuditLog


def sequence(booking) -> int:
    return AuditLog.objects.filter(entity="booking", entity_id=booking.code,
                                   action="booking.reschedule").count()


def invite(booking, method: str) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Studiobook tests//stand-in//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = icalendar.Event()
    event.add("uid", f"{booking.code}@studiobook.test")
    event.add("sequence", sequence(booking))
    event.add("dtstamp", booking.updated_at)
    event.add("dtstart", booking.start_at)
    event.add("dtend", booking.end_at)
    event.add("summary", f"{booking.service.name} at {booking.studio.name}")
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()


def invite_mime_part(booking, method: str) -> tuple[bytes, str]:
    return invite(booking, method), f"text/calendar; method={method}; charset=UTF-8"


def google_calendar_link(booking) -> str:
    dates = f"{booking.start_at:%Y%m%dT%H%M%SZ}/{booking.end_at:%Y%m%dT%H%M%SZ}"
    return "https://calendar.google.com/calendar/render?" + urlencode(
        {"action": "TEMPLATE", "text": booking.code, "dates": dates})


def outlook_link(booking) -> str:
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(
        {"subject": booking.code, "startdt": booking.start_at.isoformat(),
         "enddt": booking.end_at.isoformat()})


def install(monkeypatch) -> None:
    """Make ``importlib.import_module("studiobook.calendars.ics")`` return this module."""
    package = sys.modules.get("studiobook.calendars") or types.ModuleType("studiobook.calendars")
    monkeypatch.setitem(sys.modules, "studiobook.calendars", package)
    monkeypatch.setitem(sys.modules, "studiobook.calendars.ics", sys.modules[__name__])
