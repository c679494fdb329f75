"""Calendar connections: feed URLs (rotate to revoke), CalDAV accounts, external busy
calendars, and a booking's calendar sync. Thin: the rules are in studiobook.calendars."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Router, Schema, Status

from studiobook.api.auth import signed_in
from studiobook.api.routers.common import get_booking_for, get_in_studio, get_studio
from studiobook.api.schemas import Message
from studiobook.calendars import services
from studiobook.calendars.models import CalendarSync, ExternalCalendar
from studiobook.studios.models import Room, StaffMember
from studiobook.studios.permissions import require_team

router = Router(tags=["calendars"], auth=signed_in)
ADMIN = "/studios/{slug}/admin"


class FeedUrlOut(Schema):
    url: str


class CalDAVIn(Schema):
    url: Annotated[str, Field(min_length=1, max_length=1000)]
    username: Annotated[str, Field(max_length=200)] = ""
    password: Annotated[str, Field(max_length=500)] = ""
    calendar_url: Annotated[str, Field(max_length=1000)] = ""


class ExternalCalendarIn(Schema):
    url: Annotated[str, Field(min_length=1, max_length=1000)]
    room_id: int | None = None
    staff_id: int | None = None
    kind: Literal["ics", "caldav"] = "ics"
    name: Annotated[str, Field(max_length=120)] = ""
    username: Annotated[str, Field(max_length=200)] = ""
    password: Annotated[str, Field(max_length=500)] = ""
    zone: Annotated[str, Field(max_length=64)] = ""


class ExternalCalendarOut(Schema):
    id: int
    name: str
    kind: str
    room_id: int | None
    staff_id: int | None
    status: str
    refreshed_at: datetime | None
    last_success_at: datetime | None
    last_error: str


class CalendarSyncOut(Schema):
    staff_id: int
    provider: str
    status: str
    attempts: int
    error: str
    last_attempt_at: datetime | None


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@router.post(ADMIN + "/staff/{staff_id}/feed-token", response=FeedUrlOut)
def rotate_staff_feed(request, slug: str, staff_id: int):
    """A new subscription URL for the engineer's feed; the old URL stops working."""
    staff = get_in_studio(StaffMember, get_studio(slug), staff_id, field="staff_id")
    return {"url": services.rotate_feed_token(actor=request.user, staff=staff,
                                              base_url=_base_url(request))}


@router.post(ADMIN + "/rooms/{room_id}/feed-token", response=FeedUrlOut)
def rotate_room_feed(request, slug: str, room_id: int):
    room = get_in_studio(Room, get_studio(slug), room_id, field="room_id")
    return {"url": services.rotate_feed_token(actor=request.user, room=room,
                                              base_url=_base_url(request))}


@router.post("/me/feed-token", response=FeedUrlOut)
def rotate_my_feed(request):
    """A new subscription URL for the signed-in artist's own bookings."""
    return {"url": services.rotate_feed_token(actor=request.user, artist=request.user,
                                              base_url=_base_url(request))}


@router.put(ADMIN + "/staff/{staff_id}/caldav", response=Message)
def connect_caldav(request, slug: str, staff_id: int, payload: CalDAVIn):
    """Push the engineer's confirmed sessions to their CalDAV calendar (use an app
    password)."""
    staff = get_in_studio(StaffMember, get_studio(slug), staff_id, field="staff_id")
    services.connect_caldav_account(actor=request.user, staff=staff, url=payload.url,
                                    username=payload.username, password=payload.password,
                                    calendar_url=payload.calendar_url)
    return {"detail": "connected"}


@router.delete(ADMIN + "/staff/{staff_id}/caldav", response=Message)
def disconnect_caldav(request, slug: str, staff_id: int):
    staff = get_in_studio(StaffMember, get_studio(slug), staff_id, field="staff_id")
    services.disconnect_caldav_account(actor=request.user, staff=staff)
    return {"detail": "disconnected"}


@router.get(ADMIN + "/external-calendars", response=list[ExternalCalendarOut])
def list_external(request, slug: str):
    studio = get_studio(slug)
    require_team(request.user, studio)
    return list(ExternalCalendar.objects.filter(studio=studio, is_active=True))


@router.post(ADMIN + "/external-calendars", response={201: ExternalCalendarOut})
def add_external(request, slug: str, payload: ExternalCalendarIn):
    """Block a room or engineer with the busy events of an outside calendar (an ICS address
    such as Google's secret address, or a CalDAV calendar)."""
    studio = get_studio(slug)
    room = get_in_studio(Room, studio, payload.room_id, "room_id") if payload.room_id else None
    staff = (get_in_studio(StaffMember, studio, payload.staff_id, "staff_id")
             if payload.staff_id else None)
    calendar = services.add_external_calendar(
        actor=request.user, studio=studio, url=payload.url, room=room, staff=staff,
        kind=payload.kind, name=payload.name, username=payload.username,
        password=payload.password, zone=payload.zone)
    return Status(201, calendar)


@router.post(ADMIN + "/external-calendars/{calendar_id}/refresh", response=ExternalCalendarOut)
def refresh_external(request, slug: str, calendar_id: int):
    calendar = get_in_studio(ExternalCalendar, get_studio(slug), calendar_id, "calendar_id")
    return services.refresh_now(actor=request.user, external_calendar=calendar)


@router.delete(ADMIN + "/external-calendars/{calendar_id}", response=Message)
def remove_external(request, slug: str, calendar_id: int):
    calendar = get_in_studio(ExternalCalendar, get_studio(slug), calendar_id, "calendar_id")
    services.remove_external_calendar(actor=request.user, external_calendar=calendar)
    return {"detail": "removed"}


@router.get(ADMIN + "/bookings/{code}/calendar-sync", response=list[CalendarSyncOut])
def calendar_sync_status(request, slug: str, code: str):
    """Where the booking's CalDAV copies stand (failures show here and in the admin)."""
    studio = get_studio(slug)
    require_team(request.user, studio)
    booking = get_booking_for(request.user, code, studio=studio)
    return list(CalendarSync.objects.filter(booking=booking))


@router.post(ADMIN + "/bookings/{code}/calendar-sync", response=Message)
def resync(request, slug: str, code: str):
    booking = get_booking_for(request.user, code, studio=get_studio(slug))
    services.resync_booking(actor=request.user, booking=booking)
    return {"detail": "sync enqueued"}
