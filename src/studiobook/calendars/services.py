"""Calendar operations: feed tokens, CalDAV accounts, external busy calendars, resyncs.

Keyword-only, one durable transaction each with its AuditLog row inside (CONVENTIONS.md);
network calls (CalDAV discovery, refreshes) happen outside transactions. Errors are the
domain errors of ``studiobook.studios.errors``: Forbidden (wrong role), NotFound (another
studio's room or engineer), InvalidInput (bad URL, zone, kind; unreachable CalDAV server),
Conflict (a concurrent rotation won).

Who may do what: studio admins everything at their studio; an engineer their own feed,
CalDAV account and external calendars; an artist their own feed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from studiobook import jobs
from studiobook.bookings.models import Booking
from studiobook.calendars import external as external_calendars
from studiobook.calendars import net
from studiobook.calendars.models import CalDAVAccount, ExternalCalendar, FeedToken
from studiobook.calendars.state import SHOWN_STATUSES
from studiobook.studios import audit
from studiobook.studios.errors import Conflict, Forbidden, InvalidInput, NotFound
from studiobook.studios.models import Room, StaffMember, Studio
from studiobook.studios.permissions import is_admin, require_admin

Kind = FeedToken.Kind


def hash_token(token: str) -> str:
    """SHA-256 hex digest: what FeedToken stores and looks tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def _require_self_or_admin(actor, staff: StaffMember) -> None:
    if getattr(actor, "id", None) == staff.user_id or is_admin(actor, staff.studio):
        return
    raise Forbidden("only the staff member or a studio admin may do this")


def feed_path(kind: str, target_id: int) -> str:
    """The path of a feed, without its token, e.g. ``/calendar/staff/7.ics``."""
    name, argument = {Kind.STAFF: ("staff-feed", "staff_id"),
                      Kind.ROOM: ("room-feed", "room_id"),
                      Kind.ARTIST: ("artist-feed", "user_id")}[kind]
    return reverse(f"calendars:{name}", kwargs={argument: target_id})


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


# --- feeds ------------------------------------------------------------------------------------

def rotate_feed_token(*, actor, staff: StaffMember | None = None, room: Room | None = None,
                      artist=None, base_url: str = "", now: datetime | None = None) -> str:
    """Issue a new secret for one feed and revoke the old one (its URL gives 404 from now
    on). Returns the new feed URL (``base_url`` + path + ``?token=...``): the only time the
    token is shown, since only its digest is stored.

    Exactly one of ``staff`` (the engineer themself or a studio admin), ``room`` (a studio
    admin) or ``artist`` (that user themself) names the feed. Staff and room rotations are
    audited at their studio; an artist's feed spans studios and has no studio audit log.
    Raises InvalidInput, Forbidden, Conflict (a concurrent rotation of the same feed won)."""
    now = now or timezone.now()
    if sum(x is not None for x in (staff, room, artist)) != 1:
        raise InvalidInput("name exactly one of staff, room or artist", field="kind",
                           rule="one_target")
    if staff is not None:
        _require_self_or_admin(actor, staff)
        kind, studio, target = Kind.STAFF, staff.studio, {"staff": staff}
        target_id = staff.id
    elif room is not None:
        require_admin(actor, room.studio)
        kind, studio, target = Kind.ROOM, room.studio, {"room": room}
        target_id = room.id
    else:
        if getattr(actor, "id", None) != artist.id:
            raise Forbidden("only the artist may rotate their own feed")
        kind, studio, target = Kind.ARTIST, None, {"user": artist}
        target_id = artist.id
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic(durable=True):
            revoked = (FeedToken.objects.select_for_update()
                       .filter(kind=kind, is_active=True, **target)
                       .update(is_active=False, revoked_at=now))
            FeedToken.objects.create(kind=kind, studio=studio, token_hash=hash_token(token),
                                     **target)
            if studio is not None:
                audit.record(studio=studio, actor=actor, action="calendar.feed_rotate",
                             entity=kind, entity_id=target_id,
                             diff={"revoked": revoked})
    except IntegrityError as error:
        raise Conflict("the feed was rotated at the same moment; try again") from error
    query = urlencode({"token": token})
    return f"{base_url.rstrip('/')}{feed_path(kind, target_id)}?{query}"


def feed_token_for(kind: str, target_id: int, token: str) -> FeedToken | None:
    """The active token of that feed matching ``token``, or None (wrong, rotated, revoked,
    or another feed's token: callers answer 404 for all of them alike)."""
    if not token:
        return None
    field = {Kind.STAFF: "staff_id", Kind.ROOM: "room_id", Kind.ARTIST: "user_id"}[kind]
    return FeedToken.objects.filter(kind=kind, is_active=True, token_hash=hash_token(token),
                                    **{field: target_id}).first()


# --- CalDAV accounts --------------------------------------------------------------------------

def _discover_calendar(url: str, username: str, password: str) -> str:
    with net.caldav_client(url, username=username, password=password) as client:
        calendars = client.principal().calendars()
        if not calendars:
            raise InvalidInput("the account has no calendar; create one or give its URL",
                               field="calendar_url", rule="caldav_no_calendar")
        return str(calendars[0].url)


def connect_caldav_account(*, actor, staff: StaffMember, url: str, username: str,
                           password: str, calendar_url: str = "",
                           now: datetime | None = None) -> CalDAVAccount:
    """Connect (or replace) the engineer's CalDAV calendar and push their upcoming confirmed
    sessions to it. With no ``calendar_url`` the first calendar of the account is used
    (discovered over the network before anything is written). The password is stored as
    given: use an app-specific password (docs/calendars.md). Raises Forbidden, InvalidInput
    (bad URL, server unreachable or refusing the credentials)."""
    _require_self_or_admin(actor, staff)
    now = now or timezone.now()
    try:
        url = net.check_url(url)
        calendar_url = net.check_url(calendar_url) if calendar_url else ""
    except net.UnsafeUrl as error:
        raise InvalidInput(str(error), field="url", rule="url") from error
    if not calendar_url:
        try:
            calendar_url = net.check_url(_discover_calendar(url, username, password))
        except InvalidInput:
            raise
        except Exception as error:  # whatever the server or network did, the input is bad
            raise InvalidInput(f"cannot reach the CalDAV account: "
                               f"{net.describe_error(error, url)}"[:500], field="url",
                               rule="caldav_unreachable") from error
    with transaction.atomic(durable=True):
        account, created = CalDAVAccount.objects.update_or_create(
            staff=staff, defaults={"url": url, "username": username, "password": password,
                                   "calendar_url": calendar_url, "is_active": True})
        audit.record(studio=staff.studio, actor=actor, action="calendar.caldav_connect",
                     entity="staff", entity_id=staff.id,
                     diff={"host": _host(calendar_url), "username": username,
                           "replaced": not created})
        _resync_upcoming(staff, now)
    return account


def _resync_upcoming(staff: StaffMember, now: datetime) -> None:
    from studiobook.calendars.tasks import sync_booking

    ids = Booking.objects.filter(assignments__staff=staff, status__in=SHOWN_STATUSES,
                                 end_at__gt=now).values_list("id", flat=True)
    for booking_id in ids:
        jobs.enqueue_after_commit(sync_booking, booking_id)


def disconnect_caldav_account(*, actor, staff: StaffMember) -> None:
    """Stop pushing to the engineer's CalDAV calendar and forget its credentials. Events
    already pushed stay in that calendar (Studiobook can no longer sign in to remove them).
    Raises Forbidden, NotFound."""
    _require_self_or_admin(actor, staff)
    with transaction.atomic(durable=True):
        deleted, _ = CalDAVAccount.objects.filter(staff=staff).delete()
        if not deleted:
            raise NotFound("no CalDAV account is connected", field="staff_id")
        audit.record(studio=staff.studio, actor=actor, action="calendar.caldav_disconnect",
                     entity="staff", entity_id=staff.id)


def resync_booking(*, actor, booking: Booking) -> None:
    """Enqueue a fresh sync of the booking to its engineers' calendars, attempts starting
    over (studio admins; the admin's "retry" action). Raises Forbidden."""
    from studiobook.calendars.tasks import sync_booking

    require_admin(actor, booking.studio)
    with transaction.atomic(durable=True):
        audit.record(studio=booking.studio, actor=actor, action="calendar.resync",
                     entity="booking", entity_id=booking.code)
        jobs.enqueue_after_commit(sync_booking, booking.id)


# --- external busy calendars -----------------------------------------------------------------

def _check_zone(zone: str) -> str:
    zone = (zone or "").strip()
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"{zone!r} is not an IANA time zone", field="zone",
                               rule="zone") from None
    return zone


def _require_calendar_owner(actor, studio: Studio, room: Room | None,
                            staff: StaffMember | None) -> None:
    if staff is not None:
        _require_self_or_admin(actor, staff)
    else:
        require_admin(actor, studio)


def add_external_calendar(*, actor, studio: Studio, url: str, room: Room | None = None,
                          staff: StaffMember | None = None, kind: str = "ics",
                          name: str = "", username: str = "", password: str = "",
                          zone: str = "") -> ExternalCalendar:
    """Subscribe a room (studio admins) or an engineer (themself or an admin) to an outside
    calendar whose busy events will block them. ``kind`` is ``ics`` (an http(s) or webcal
    address, e.g. Google's secret address) or ``caldav`` (a calendar collection URL with
    ``username``/``password``). ``zone`` is for all-day events when the calendar names no
    zone. The first refresh is enqueued after commit. Raises Forbidden, NotFound,
    InvalidInput."""
    if (room is None) == (staff is None):
        raise InvalidInput("name exactly one of room or staff", field="room_id",
                           rule="one_target")
    owner = room or staff
    if owner.studio_id != studio.id:
        raise NotFound(f"{'room' if room else 'staff'} {owner.id} not found at this studio",
                       field="room_id" if room else "staff_id")
    _require_calendar_owner(actor, studio, room, staff)
    if kind not in ExternalCalendar.Kind.values:
        raise InvalidInput(f"kind must be one of {ExternalCalendar.Kind.values}",
                           field="kind", rule="choice")
    try:
        url = net.normalize_url(url)
    except net.UnsafeUrl as error:
        raise InvalidInput(str(error), field="url", rule="url") from error
    zone = _check_zone(zone)
    from studiobook.calendars.tasks import refresh_external_calendar

    with transaction.atomic(durable=True):
        calendar = ExternalCalendar.objects.create(
            studio=studio, room=room, staff=staff, kind=kind, url=url, name=name[:120],
            username=username, password=password, zone=zone)
        audit.record(studio=studio, actor=actor, action="calendar.external_add",
                     entity="external_calendar", entity_id=calendar.id,
                     diff={"kind": kind, "host": _host(url), "room_id": calendar.room_id,
                           "staff_id": calendar.staff_id})
        jobs.enqueue_after_commit(refresh_external_calendar, calendar.id)
    return calendar


def remove_external_calendar(*, actor, external_calendar: ExternalCalendar) -> None:
    """Unsubscribe: delete the calendar and its busy times, which stop blocking at once.
    Raises Forbidden."""
    calendar = external_calendar
    _require_calendar_owner(actor, calendar.studio, calendar.room, calendar.staff)
    with transaction.atomic(durable=True):
        external_calendars.forget(calendar)
        audit.record(studio=calendar.studio, actor=actor, action="calendar.external_remove",
                     entity="external_calendar", entity_id=calendar.id,
                     diff={"host": _host(calendar.url)})
        calendar.delete()


def refresh_now(*, actor, external_calendar: ExternalCalendar,
                now: datetime | None = None) -> ExternalCalendar:
    """Refresh one external calendar now, in the request (the "refresh" button), and
    return it with its new status; a failure is reported on the calendar (``failing``,
    ``last_error``), not raised, and its last good copy keeps blocking. Raises Forbidden."""
    calendar = external_calendar
    _require_calendar_owner(actor, calendar.studio, calendar.room, calendar.staff)
    calendar = external_calendars.refresh(calendar, now=now)
    with transaction.atomic(durable=True):
        audit.record(studio=calendar.studio, actor=actor, action="calendar.external_refresh",
                     entity="external_calendar", entity_id=calendar.id,
                     diff={"status": calendar.status, "error": calendar.last_error[:200]})
    return calendar
