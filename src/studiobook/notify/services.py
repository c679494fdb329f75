"""Notification operations: queue a message (once), render it, send it through its channel,
send the due 24-hour reminders, resend, and send a test message.

``notify`` is the one way in: it writes the ``Notification`` row (its unique ``key`` makes
it idempotent), records ``skipped`` when the user's preferences or contact details rule the
channel out, and enqueues ``tasks.deliver`` after commit (ARCHITECTURE.md principle 6). The
template variables are those of recording-studio-prd.md section 13 (``artist_name,
booking_code, room_name, date, start_time, end_time, total, deposit, address,
policies_url``), computed once at queue time in the studio's zone and the user's language
and kept in ``payload``, so a retry sends what was first queued. Calendar invites (.ics) and
"add to calendar" links come from ``studiobook.calendars.ics``, imported when used.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import dateformat, timezone, translation

from studiobook import jobs
from studiobook.accounts.services import normalize_phone
from studiobook.bookings.models import Booking
from studiobook.calendars import ics
from studiobook.notify.channels import (
    Attachment,
    EmailChannel,
    EmailMessageSpec,
    get_sms_channel,
)
from studiobook.notify.models import Channel, Notification, NotificationPreference, Template
from studiobook.scheduling.money import format_money
from studiobook.studios.errors import InvalidInput

logger = logging.getLogger(__name__)

Status = Notification.Status

# Which channels each template goes out on (the user's preferences then decide).
CHANNELS: dict[str, tuple[str, ...]] = {
    Template.SUBMITTED: (Channel.EMAIL,),
    Template.APPROVED: (Channel.EMAIL, Channel.SMS),
    Template.REJECTED: (Channel.EMAIL,),
    Template.REMINDER: (Channel.EMAIL, Channel.SMS),
    Template.RESCHEDULED: (Channel.EMAIL, Channel.SMS),
    Template.CANCELED: (Channel.EMAIL, Channel.SMS),
    Template.PAYMENT_FAILED: (Channel.EMAIL, Channel.SMS),
    Template.TEST: (Channel.EMAIL, Channel.SMS),
}

# Messages about the booking's current time: skipped at delivery if the booking has moved
# since they were queued (a newer "rescheduled" message says where it went).
ABOUT_CURRENT_TIME = (Template.SUBMITTED, Template.APPROVED, Template.REMINDER,
                      Template.RESCHEDULED)
# Messages that carry an invite (METHOD:REQUEST), and so call for a CANCEL later.
INVITING = (Template.APPROVED, Template.RESCHEDULED)
CALENDAR_LINKS = (Template.APPROVED, Template.RESCHEDULED, Template.REMINDER)

DATE_FORMAT = "l j F Y"       # Saturday 28 November 2026 (day and month names translated)
SHORT_DATE_FORMAT = "D j M"   # Sat 28 Nov
TIME_FORMAT = "H:i"           # 10:00


# --- settings read at call time ------------------------------------------------------------

def site_url() -> str:
    """The public base URL for links in messages (``settings.STUDIOBOOK_SITE_URL``)."""
    return settings.STUDIOBOOK_SITE_URL.rstrip("/")


def absolute_url(url: str) -> str:
    return url if not url or re.match(r"^[a-z][a-z0-9+.-]*:", url) else site_url() + "/" + \
        url.lstrip("/")


def reminder_lead() -> timedelta:
    """How long before a session its reminder goes out (``NOTIFY_REMINDER_LEAD_HOURS``,
    default 24, recording-studio-prd.md section 13)."""
    return timedelta(hours=settings.NOTIFY_REMINDER_LEAD_HOURS)


# --- preferences ---------------------------------------------------------------------------

def preference_of(user) -> NotificationPreference:
    """The user's preferences; an unsaved row with the defaults when there is none."""
    preference = NotificationPreference.objects.filter(user=user).first()
    return preference or NotificationPreference(user=user)


def update_preferences(*, actor, email: bool | None = None, sms: bool | None = None,
                       language: str | None = None,
                       phone: str | None = None) -> NotificationPreference:
    """Change ``actor``'s own preferences (only the fields given; ``phone=""`` removes the
    number). ``phone`` is stored on the user in E.164 (``accounts.services.normalize_phone``).
    SMS needs a phone number: turning it on without one, or removing the number while SMS
    stays on, is refused (rule ``phone_required``). A language must be one of
    ``settings.LANGUAGES``. Raises InvalidInput; nothing is written then."""
    if phone is not None:
        phone = normalize_phone(phone)
    if language and language not in {code for code, _ in settings.LANGUAGES}:
        raise InvalidInput(f"unknown language {language!r}", field="language", rule="choice")
    with transaction.atomic():
        preference, _ = NotificationPreference.objects.select_for_update().get_or_create(
            user=actor)
        number = actor.phone if phone is None else phone
        if sms and not number:
            raise InvalidInput("add a phone number before turning SMS on", field="sms",
                               rule="phone_required")
        if phone == "" and sms is None and preference.sms:
            raise InvalidInput("turn SMS off before removing your phone number",
                               field="phone", rule="phone_required")
        if phone is not None and phone != actor.phone:
            actor.phone = phone
            actor.save(update_fields=["phone"])
        for name, value in (("email", email), ("sms", sms), ("language", language)):
            if value is not None:
                setattr(preference, name, value)
        preference.save()
    return preference


def language_for(preference: NotificationPreference, studio=None) -> str:
    """The user's language, else the studio's (when studios carry one), else the site's."""
    return (preference.language or getattr(studio, "language", "")
            or settings.LANGUAGE_CODE)


# --- template variables --------------------------------------------------------------------

def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return timezone.localtime(instant, zone)


def _when(start: datetime, end: datetime, zone: ZoneInfo) -> dict:
    start_local, end_local = _local(start, zone), _local(end, zone)
    end_time = dateformat.format(end_local, TIME_FORMAT)
    if end_local.date() != start_local.date():
        end_time += f" ({dateformat.format(end_local, SHORT_DATE_FORMAT)})"
    return {"date": dateformat.format(start_local, DATE_FORMAT),
            "short_date": dateformat.format(start_local, SHORT_DATE_FORMAT),
            "start_time": dateformat.format(start_local, TIME_FORMAT),
            "end_time": end_time,
            "utc_offset": dateformat.format(start_local, "O")}


def booking_context(booking: Booking, *, language: str) -> dict:
    """The PRD's template variables for ``booking``, wall-clock times in the studio's zone,
    names of days and months in ``language``; plus ``*_utc`` instants for the record."""
    studio = booking.studio
    zone = ZoneInfo(studio.time_zone)
    with translation.override(language):
        when = _when(booking.start_at, booking.end_at, zone)
    address = ", ".join(part for part in (studio.address, studio.city) if part)
    return {
        "language": language,
        "artist_name": booking.user.name or booking.user.email,
        "booking_code": booking.code,
        "studio_name": studio.name,
        "service_name": booking.service.name,
        "room_name": booking.room.name if booking.room_id else "",
        **when,
        "time_zone": studio.time_zone,
        "total": format_money(booking.total_minor, booking.currency),
        "deposit": format_money(booking.deposit_minor, booking.currency),
        "deposit_minor": booking.deposit_minor,
        "address": address,
        "policies_url": f"{site_url()}/studios/{studio.slug}/policies",
        "policy_summary": (booking.policy_snapshot or {}).get("summary", ""),
        "status_reason": booking.status_reason,
        "start_at_utc": booking.start_at.isoformat(),
        "end_at_utc": booking.end_at.isoformat(),
    }


def _extra_context(template: str, booking: Booking, data: dict, language: str) -> dict:
    """Template-specific variables from the event's ``data``, formatted for display."""
    currency = booking.currency
    zone = ZoneInfo(booking.studio.time_zone)
    extra: dict = {}
    if "reason" in data:
        extra["reason"] = data["reason"] or ""
    for name in ("refund_minor", "released_minor", "payment_minor"):
        if name in data:
            extra[name] = data[name]
            extra[name.removesuffix("_minor")] = format_money(data[name], currency)
    if template == Template.RESCHEDULED and data.get("old_start_at"):
        old_start = datetime.fromisoformat(data["old_start_at"])
        old_end = datetime.fromisoformat(data["old_end_at"])
        with translation.override(language):
            old = _when(old_start, old_end, zone)
        extra |= {f"old_{name}": value for name, value in old.items()}
    if "action_url" in data:
        extra["action_url"] = absolute_url(data["action_url"] or f"/bookings/{booking.code}/pay")
        extra["error_code"] = data.get("code", "")
    return extra


# --- queueing ------------------------------------------------------------------------------

def notification_key(*, booking_id: int | None, template: str, channel: str,
                     key_extra: str = "") -> str:
    return ":".join(str(p) for p in (booking_id, template, channel, key_extra) if p != "")


def notify(*, template: str, booking: Booking, channel: str, key_extra: str = "",
           data: dict | None = None) -> Notification | None:
    """Queue ``template`` about ``booking`` to its artist over ``channel``, once.

    The row's key is ``"<booking id>:<template>:<channel>[:<key_extra>]"``: when it exists
    already it is returned and nothing is enqueued (a second call, a replayed event, a second
    reminder run). Otherwise the row is created ``queued`` and ``tasks.deliver`` enqueued
    after commit, or ``skipped`` with the reason when the user turned the channel off or has
    no phone number for SMS. ``data`` adds template variables (``reason``,
    ``refund_minor``, ``old_start_at`` ...). Returns None when ``template`` does not go out
    on ``channel``."""
    if channel not in CHANNELS[template]:
        return None
    key = notification_key(booking_id=booking.id, template=template, channel=channel,
                           key_extra=key_extra)
    existing = Notification.objects.filter(key=key).first()
    if existing is not None:
        return existing
    user = booking.user
    preference = preference_of(user)
    status, error = Status.QUEUED, ""
    if not preference.allows(channel):
        status, error = Status.SKIPPED, f"{channel} notifications are off in the preferences"
    elif channel == Channel.SMS and not user.phone:
        status, error = Status.SKIPPED, "no phone number for SMS"
    language = language_for(preference, booking.studio)
    payload = booking_context(booking, language=language) | _extra_context(
        template, booking, data or {}, language)
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                user=user, studio_id=booking.studio_id, booking=booking, channel=channel,
                template=template, key=key, payload=payload, status=status, error=error)
    except IntegrityError:
        # Lost a race with the same event handled elsewhere: theirs is the one.
        return Notification.objects.get(key=key)
    if status == Status.QUEUED:
        from studiobook.notify.tasks import deliver

        jobs.enqueue_after_commit(deliver, notification.id)
    return notification


def notify_all(*, template: str, booking: Booking, key_extra: str = "",
               data: dict | None = None) -> list[Notification]:
    """``notify`` on every channel ``template`` goes out on."""
    sent = (notify(template=template, booking=booking, channel=channel, key_extra=key_extra,
                   data=data) for channel in CHANNELS[template])
    return [n for n in sent if n is not None]


def resend(notification: Notification) -> Notification:
    """Send a failed notification again now (an admin's "retry"). A sent or skipped one is
    left alone: resending is idempotent."""
    if notification.status == Status.FAILED:
        from studiobook.notify.tasks import deliver

        jobs.enqueue_after_commit(deliver, notification.id)
    return notification


def send_test(*, actor, channel: str) -> Notification:
    """A test message to ``actor`` over ``channel`` (recording-studio-prd.md section 8, ``POST
    /api/notifications/test``), whatever the preferences say: it checks that the channel is
    set up. Each call is a new message. Raises InvalidInput for an unknown channel or SMS
    without a phone number."""
    if channel not in Channel.values:
        raise InvalidInput(f"channel must be one of {', '.join(Channel.values)}",
                           field="channel", rule="choice")
    if channel == Channel.SMS and not actor.phone:
        raise InvalidInput("add a phone number to your account first", field="channel",
                           rule="phone_required")
    language = language_for(preference_of(actor))
    with translation.override(language):
        sent_at = dateformat.format(timezone.now(), "j F Y H:i e")
    notification = Notification.objects.create(
        user=actor, channel=channel, template=Template.TEST,
        key=f"test:{actor.id}:{channel}:{secrets.token_hex(8)}",
        payload={"language": language, "artist_name": actor.name or actor.email,
                 "requested_at": sent_at})
    from studiobook.notify.tasks import deliver

    jobs.enqueue_after_commit(deliver, notification.id)
    return notification


# --- reminders -----------------------------------------------------------------------------

def send_due_reminders(*, now: datetime | None = None) -> int:
    """Queue the reminder of every confirmed booking that starts within ``reminder_lead()``
    (24 h) from ``now`` and has not had one for its current start: the key carries the start
    time, so each booking gets one reminder, and a rescheduled booking a new one for its new
    time. Registered as the periodic job ``notify.send_due_reminders`` (every 5 minutes).
    Returns how many notifications were created."""
    now = now or timezone.now()
    due = list(Booking.objects.filter(
        status=Booking.Status.CONFIRMED, start_at__gt=now,
        start_at__lte=now + reminder_lead()).select_related("studio", "user", "room",
                                                             "service"))
    done = set(Notification.objects.filter(
        booking__in=due, template=Template.REMINDER).values_list("key", flat=True))
    created = 0
    for booking in due:
        extra = reminder_key_extra(booking)
        for channel in CHANNELS[Template.REMINDER]:
            key = notification_key(booking_id=booking.id, template=Template.REMINDER,
                                   channel=channel, key_extra=extra)
            if key in done:
                continue
            if notify(template=Template.REMINDER, booking=booking, channel=channel,
                      key_extra=extra) is not None:
                created += 1
    return created


def reminder_key_extra(booking: Booking) -> str:
    return compact_instant(booking.start_at)


def compact_instant(instant: datetime) -> str:
    return instant.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


# --- rendering and sending (called by tasks.deliver) ---------------------------------------

@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str


def render(template: str, context: dict, *, channel: str) -> Rendered:
    """Render ``notify/<template>.*`` with ``context`` in ``context["language"]``."""
    with translation.override(context.get("language") or settings.LANGUAGE_CODE):
        if channel == Channel.SMS:
            sms = render_to_string(f"notify/{template}.sms.txt", context)
            return Rendered("", "", "", " ".join(sms.split()))
        subject = render_to_string(f"notify/{template}.subject.txt", context)
        return Rendered(subject=" ".join(subject.split()),
                        text=_tidy(render_to_string(f"notify/{template}.txt", context)),
                        html=render_to_string(f"notify/{template}.html", context),
                        sms="")


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def stale_reason(notification: Notification, booking: Booking | None) -> str:
    """Why the message no longer applies to the booking as it is now ('' if it does)."""
    if booking is None:
        return ""
    template = notification.template
    if template == Template.SUBMITTED and booking.status != Booking.Status.AWAITING_APPROVAL:
        return f"the booking is already {booking.status}"
    if template in (Template.APPROVED, Template.REMINDER) and \
            booking.status != Booking.Status.CONFIRMED:
        return f"the booking is now {booking.status}"
    if template == Template.RESCHEDULED and not booking.is_blocking:
        return f"the booking is now {booking.status}"
    if template in ABOUT_CURRENT_TIME and \
            notification.payload.get("start_at_utc") not in (None, booking.start_at.isoformat()):
        return "the booking has moved since this message was queued"
    return ""


def invite_for(notification: Notification, booking: Booking | None) -> str:
    """The calendar invite METHOD to attach ('' for none): REQUEST with the approval or a
    reschedule of a confirmed booking (calendars only hold approved bookings, PRD 7.14);
    CANCEL with a cancellation when the artist was sent an invite before."""
    if booking is None or notification.channel != Channel.EMAIL:
        return ""
    if notification.template in INVITING and booking.status == Booking.Status.CONFIRMED:
        return "REQUEST"
    if notification.template == Template.CANCELED and Notification.objects.filter(
            booking=booking, channel=Channel.EMAIL, status=Status.SENT,
            ics_method="REQUEST").exists():
        return "CANCEL"
    return ""


@dataclass(frozen=True)
class Delivery:
    recipient: str
    provider_message_id: str
    ics_method: str
    payload: dict


def send(notification: Notification) -> Delivery:
    """Render and send ``notification`` now, through its channel. Raises what the channel
    raises; the caller records the outcome."""
    booking = (Booking.objects.select_related("studio", "user", "room", "service")
               .prefetch_related("assignments__staff")
               .filter(pk=notification.booking_id).first() if notification.booking_id else None)
    user = notification.user
    payload = dict(notification.payload)
    if notification.channel == Channel.SMS:
        body = render(notification.template, payload, channel=Channel.SMS).sms
        message_id = get_sms_channel().send(to=user.phone, body=body)
        return Delivery(user.phone, message_id, "", payload)
    if booking is not None and notification.template in CALENDAR_LINKS and \
            booking.status == Booking.Status.CONFIRMED:
        payload["google_calendar_link"] = ics.google_calendar_link(booking)
        payload["outlook_link"] = ics.outlook_link(booking)
    method = invite_for(notification, booking)
    attachments: tuple[Attachment, ...] = ()
    if method:
        content, content_type = ics.invite_mime_part(booking, method)
        attachments = (Attachment(f"{booking.code}.ics", content, content_type),)
        payload["ics_method"] = method
    rendered = render(notification.template, payload, channel=Channel.EMAIL)
    studio_name = payload.get("studio_name", "")
    message_id = EmailChannel().send(EmailMessageSpec(
        to=user.email, subject=rendered.subject, text=rendered.text, html=rendered.html,
        sender_name=studio_name, attachments=attachments,
        headers={"X-Studiobook-Notification": notification.key,
                 "Auto-Submitted": "auto-generated"}))
    return Delivery(user.email, message_id, method, payload)


# --- the studio's view ---------------------------------------------------------------------

def studio_notifications(*, actor, studio, status: str | None = None,
                         booking_code: str | None = None, limit: int = 100
                         ) -> list[Notification]:
    """The studio's latest notifications, newest first, for its team: a failed send is
    visible here with its error. Raises Forbidden."""
    from studiobook.studios.permissions import require_team

    require_team(actor, studio)
    query = Notification.objects.filter(studio=studio).select_related("booking")
    if status:
        query = query.filter(status=status)
    if booking_code:
        query = query.filter(booking__code=booking_code)
    return list(query.order_by("-id")[:max(1, min(limit, 500))])


def resend_for_studio(*, actor, studio, notification_id: int) -> Notification:
    """Retry a failed notification of ``studio`` now (admins). A sent or skipped one is left
    as it is. Raises Forbidden, NotFound."""
    from studiobook.studios.errors import NotFound
    from studiobook.studios.permissions import require_admin

    require_admin(actor, studio)
    notification = Notification.objects.filter(studio=studio, pk=notification_id).first()
    if notification is None:
        raise NotFound(f"notification {notification_id} not found at this studio",
                       field="notification_id")
    return resend(notification)
