"""Subscription feeds: ``/calendar/staff/<id>.ics``, ``/calendar/rooms/<id>.ics`` and
``/calendar/me/<user id>.ics``, each opened by ``?token=`` (``services.rotate_feed_token``).

A wrong, rotated or missing token, another feed's token and an unknown id all give the same
404, so a URL never tells which part was wrong. A feed holds the confirmed and completed
bookings overlapping [now - 180 days, now + 180 days]; canceled, rejected and unapproved
bookings are simply absent (clients treat STATUS:CANCELLED in subscriptions
inconsistently). The body depends only on the bookings (DTSTAMP is each booking's last
change), so it carries a strong ETag and answers ``If-None-Match`` with 304.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.views.decorators.http import require_safe

from studiobook.bookings.models import Booking
from studiobook.calendars import ics
from studiobook.calendars.models import FeedToken
from studiobook.calendars.services import feed_token_for
from studiobook.calendars.state import SHOWN_STATUSES

WINDOW = timedelta(days=180)
CONTENT_TYPE = "text/calendar; charset=utf-8"


def _bookings_in_window(**filters):
    now = timezone.now()
    return (Booking.objects.filter(status__in=SHOWN_STATUSES, start_at__lt=now + WINDOW,
                                   end_at__gt=now - WINDOW, **filters)
            .select_related("studio", "service", "room", "user")
            .prefetch_related("assignments__staff")
            .order_by("start_at", "id"))


def _token(request, kind: str, target_id: int) -> FeedToken:
    token = feed_token_for(kind, target_id, request.GET.get("token", ""))
    if token is None:
        raise Http404("no such calendar")
    return token


def _respond(request, body: bytes, filename: str) -> HttpResponse:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type=CONTENT_TYPE)
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["ETag"] = etag
    # The URL is a secret: keep it out of shared caches and search engines.
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_safe
def staff_feed(request, staff_id: int):
    """An engineer's sessions (every room), as the studio sees them."""
    token = _token(request, FeedToken.Kind.STAFF, staff_id)
    staff = token.staff
    body = ics.feed(_bookings_in_window(assignments__staff_id=staff_id),
                    f"{staff.display_name} · {token.studio.name}", audience=ics.STUDIO)
    return _respond(request, body, f"staff-{staff_id}.ics")


@require_safe
def room_feed(request, room_id: int):
    """A room's sessions, as the studio sees them."""
    token = _token(request, FeedToken.Kind.ROOM, room_id)
    body = ics.feed(_bookings_in_window(room_id=room_id),
                    f"{token.room.name} · {token.studio.name}", audience=ics.STUDIO)
    return _respond(request, body, f"room-{room_id}.ics")


@require_safe
def artist_feed(request, user_id: int):
    """An artist's own bookings at every studio, as the artist sees them."""
    _token(request, FeedToken.Kind.ARTIST, user_id)
    body = ics.feed(_bookings_in_window(user_id=user_id), "My Studiobook sessions",
                    audience=ics.ARTIST)
    return _respond(request, body, "my-sessions.ics")
