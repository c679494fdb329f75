"""Notification endpoints (django-ninja), mounted by ``api.app`` with
``api.add_router("", notify_api.router)``:

- ``POST /api/notifications/test`` ``{channel}``: a test message to yourself (PRD section 8)
- ``GET|PUT /api/me/notification-preferences``: your channels and language
- ``GET /api/me/notifications``: what was sent to you
- ``GET /api/studios/{slug}/admin/notifications?status=failed``: the studio's sends (team)
- ``POST /api/studios/{slug}/admin/notifications/{id}/resend``: retry a failed one (admins)
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Router, Schema, Status

from studiobook.api.auth import signed_in
from studiobook.api.routers.common import get_studio
from studiobook.notify import services
from studiobook.notify.models import Notification

router = Router(tags=["notifications"], auth=signed_in)


class SendTestIn(Schema):
    channel: Literal["email", "sms"]


class PreferencesIn(Schema):
    email: bool | None = None
    sms: bool | None = None
    language: str | None = None
    phone: str | None = Field(None, description="with its country code (stored in E.164, "
                                                "e.g. +14165550100); \"\" removes it")


class PreferencesOut(Schema):
    email: bool
    sms: bool
    language: str
    phone: str


class NotificationOut(Schema):
    id: int
    template: str
    channel: str
    status: str
    booking_code: str | None
    recipient: str
    attempts: int
    error: str
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None


def notification_out(notification: Notification, *, with_error: bool = True) -> dict:
    return {"id": notification.id, "template": notification.template,
            "channel": notification.channel, "status": notification.status,
            "booking_code": notification.booking.code if notification.booking_id else None,
            "recipient": notification.recipient, "attempts": notification.attempts,
            "error": notification.error if with_error else "",
            "created_at": notification.created_at, "sent_at": notification.sent_at,
            "next_attempt_at": notification.next_attempt_at}


def preferences_out(user) -> dict:
    preference = services.preference_of(user)
    return {"email": preference.email, "sms": preference.sms,
            "language": preference.language, "phone": user.phone}


@router.post("/notifications/test", response={202: NotificationOut})
def send_test(request, payload: SendTestIn):
    """Send yourself a test message over ``channel`` (whatever your preferences say). The
    answer is the queued notification; it is delivered in the background."""
    notification = services.send_test(actor=request.user, channel=payload.channel)
    return Status(202, notification_out(notification))


@router.get("/me/notification-preferences", response=PreferencesOut)
def get_preferences(request):
    return preferences_out(request.user)


@router.put("/me/notification-preferences", response=PreferencesOut)
def put_preferences(request, payload: PreferencesIn):
    """Change the fields given. Turning SMS on needs a phone number on your account (it may
    come in the same request); removing the number needs SMS off."""
    services.update_preferences(actor=request.user, email=payload.email, sms=payload.sms,
                                language=payload.language, phone=payload.phone)
    return preferences_out(request.user)


@router.get("/me/notifications", response=list[NotificationOut])
def my_notifications(request, limit: int = 50):
    rows = (Notification.objects.filter(user=request.user).select_related("booking")
            .order_by("-id")[:max(1, min(limit, 200))])
    return [notification_out(n, with_error=False) for n in rows]


@router.get("/studios/{slug}/admin/notifications", response=list[NotificationOut])
def studio_notifications(request, slug: str, status: str | None = None,
                         booking: str | None = None, limit: int = 100):
    rows = services.studio_notifications(actor=request.user, studio=get_studio(slug),
                                         status=status, booking_code=booking, limit=limit)
    return [notification_out(n) for n in rows]


@router.post("/studios/{slug}/admin/notifications/{notification_id}/resend",
             response={202: NotificationOut})
def resend(request, slug: str, notification_id: int):
    notification = services.resend_for_studio(actor=request.user, studio=get_studio(slug),
                                              notification_id=notification_id)
    return Status(202, notification_out(notification))
