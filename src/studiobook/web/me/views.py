"""The artist's own pages: My bookings (Upcoming, Past), one booking (the submission or
confirmation screen, .ics), cancel and reschedule with their previews, notification settings.

Thin pages (ARCHITECTURE.md, "web/"): they find the booking the signed-in user may see
(``bookings.queries.visible_booking``: its artist or the studio's team, 404 for anyone
else), call the booking, payments, calendars and notify services, and render. Cancel and
reschedule post the figure the preview showed (``expected_refund`` / ``expected_fee``), so
the service applies exactly what the artist saw or answers with a conflict (409) and writes
nothing; the page then shows the new figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import dateformat, timezone
from django.views.decorators.http import require_http_methods, require_safe

from studiobook.accounts.services import display_phone
from studiobook.bookings import queries
from studiobook.bookings import services as booking_services
from studiobook.bookings.models import Booking
from studiobook.bookings.pricing import duration_label
from studiobook.bookings.strip import iso_utc
from studiobook.calendars import ics
from studiobook.calendars import services as calendar_services
from studiobook.calendars.models import FeedToken
from studiobook.calendars.state import SHOWN_STATUSES
from studiobook.notify import services as notify_services
from studiobook.payments.models import Payment
from studiobook.payments.services import (
    balance_due_minor,
    capture_deadline,
    open_payment,
    paid_minor,
    payment_state,
    retryable_payment,
)
from studiobook.scheduling.money import format_money
from studiobook.studios.errors import DomainError, http_status
from studiobook.studios.permissions import is_admin
from studiobook.web.common import add_domain_error, local_day_bounds, studio_zone
from studiobook.web.me.forms import (
    CancelForm,
    NewDateForm,
    PreferencesForm,
    RescheduleChoiceForm,
    RescheduleConfirmForm,
)

# One phrase per ``payments.services.payment_state``.
PAYMENT_LABELS = {
    "none": "Nothing to pay",
    "unpaid": "Not paid yet",
    "authorized": "Card authorized, not charged",
    "deposit_paid": "Deposit paid",
    "paid": "Paid",
    "action_needed": "Payment needs your action",
    "partially_refunded": "Partly refunded",
    "refunded": "Refunded",
}

# Stripe's PaymentIntent statuses (both gateways use them), as the artist reads them.
PAYMENT_STATUS_LABELS = {
    "requires_payment_method": "Not paid yet",
    "requires_confirmation": "Not paid yet",
    "requires_action": "Needs your action",
    "processing": "Processing",
    "requires_capture": "Authorized, not charged",
    "succeeded": "Paid",
    "canceled": "Canceled",
}

TIME_FORMAT = "%H:%M"


def _booking_or_404(request, code: str) -> Booking:
    booking = queries.visible_booking(
        request.user, code,
        Booking.objects.select_related(*queries.RELATED)
        .prefetch_related(*queries.PREFETCH, "payments"))
    if booking is None:
        raise Http404("no such booking")
    return booking


def _engineers(booking: Booking) -> list[str]:
    return ics.engineer_names(booking)


def _may_act(booking: Booking, user) -> bool:
    """The artist, or a studio admin: who the booking services let cancel or reschedule."""
    return booking.user_id == user.id or is_admin(user, booking.studio)


def _may_change(booking: Booking, user, now: datetime) -> bool:
    """Offer cancel and reschedule to whoever may act while the booking blocks its slot and
    has not started."""
    return queries.can_change(booking, now) and _may_act(booking, user)


def _money(amount_minor: int, booking: Booking) -> str:
    return format_money(amount_minor, booking.currency)


@dataclass(frozen=True)
class Card:
    """One booking as My bookings shows it."""

    booking: Booking
    engineers: list[str]
    payment_state: str
    payment_label: str
    may_change: bool


# --- My bookings ---------------------------------------------------------------------------

@login_required
@require_safe
def my_bookings(request):
    """``/me/bookings``: the signed-in artist's bookings, Upcoming (soonest first) or Past
    (``?tab=past``, latest first)."""
    tab = "past" if request.GET.get("tab") == "past" else "upcoming"
    now = timezone.now()
    cards = []
    # Only the tab shown is loaded, already in its order.
    for booking in queries.bookings_of(request.user, now, past=tab == "past"):
        state = payment_state(booking, list(booking.payments.all()))
        cards.append(Card(booking, _engineers(booking), state, PAYMENT_LABELS.get(state, state),
                          _may_change(booking, request.user, now)))
    return render(request, "web/me/my_bookings.html", {
        "nav": "my-bookings", "tab": tab, "cards": cards,
    })


# --- one booking ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentRow:
    purpose: str
    amount_minor: int
    status: str
    due_at: datetime | None


def _payment_note(booking: Booking, payments: list[Payment], state: str) -> tuple[str, str]:
    """``(kind, sentence)``: how the artist's money stands, for the booking page. ``kind`` is
    authorized | charge_on_approval | pay_at_studio | action_needed | nothing | other."""
    due_now = [p for p in payments if p.purpose != Payment.Purpose.BALANCE
               and p.status != "canceled"]
    if booking.total_minor == 0 or state == "none":
        return "nothing", "There is nothing to pay for this booking."
    authorized = sum(p.amount_minor for p in due_now if p.status == "requires_capture")
    if authorized:
        return "authorized", (
            f"Your card is authorized for {_money(authorized, booking)}: nothing is charged "
            "unless the studio approves, and the authorization is released if they do not.")
    saved = [p for p in due_now if p.capture_method == "setup" and p.status == "succeeded"]
    if saved and not any(p.amount_captured_minor for p in payments):
        amount = sum(p.amount_minor for p in saved)
        return "charge_on_approval", (
            f"Your card is saved: {_money(amount, booking)} is charged when the studio "
            "approves, and nothing if they do not.")
    if state == "action_needed":
        return "action_needed", "Your payment needs your action before it can go through."
    if due_now and all(p.gateway == "offline" for p in due_now) and state == "unpaid":
        amount = sum(p.amount_minor - p.amount_captured_minor for p in due_now)
        return "pay_at_studio", (
            f"Nothing is charged online: you pay {_money(amount, booking)} at the studio or "
            "by invoice.")
    return "other", PAYMENT_LABELS.get(state, state) + "."


def _payment_status(booking: Booking, payment: Payment, *, offline: bool) -> str:
    captured = payment.amount_captured_minor
    if 0 < captured < payment.amount_minor:
        return f"{_money(captured, booking)} paid"
    if offline and payment.status == "requires_payment_method":
        return "To pay at the studio"
    return PAYMENT_STATUS_LABELS.get(payment.status, payment.status)


def _payments_context(booking: Booking) -> dict:
    payments = list(booking.payments.all())
    state = payment_state(booking, payments)
    refunded = sum(p.amount_refunded_minor for p in payments)
    kind, note = _payment_note(booking, payments, state)
    offline = bool(payments) and all(p.gateway == "offline" for p in payments)
    rows = [PaymentRow(p.get_purpose_display(), p.amount_minor,
                       _payment_status(booking, p, offline=offline), p.due_at)
            for p in payments if p.status != "canceled" or p.amount_captured_minor]
    return {
        "payment_state": state, "payment_label": PAYMENT_LABELS.get(state, state),
        "payment_kind": kind, "payment_note": note, "payment_rows": rows,
        "paid_minor": paid_minor(booking, payments), "refunded_minor": refunded,
        "balance_minor": balance_due_minor(booking, payments),
        "capture_before": capture_deadline(booking, payments).deadline,
        # Only when the pay page has something to show: a payment to complete or to retry.
        "needs_payment": booking.is_blocking and (
            open_payment(booking, payments) or retryable_payment(booking, payments)) is not None,
    }


@login_required
@require_safe
def booking(request, code: str):
    """``/me/bookings/<code>``: the booking, as its artist sees it right after booking
    (awaiting approval: what happens next; confirmed: calendar links) and later. Its artist
    and the studio's team only (404 otherwise)."""
    booking = _booking_or_404(request, code)
    now = timezone.now()
    snapshot = booking.price_snapshot or {}
    policy = booking.policy_snapshot or {}
    is_confirmed = booking.status == Booking.Status.CONFIRMED
    context = {
        "nav": "my-bookings", "booking": booking, "studio": booking.studio,
        "engineers": _engineers(booking), "lines": list(booking.line_items.all()),
        "taxes": snapshot.get("taxes", []), "policy_summary": policy.get("summary", ""),
        "approval_window_hours": policy.get("approval_window_hours",
                                            booking.studio.approval_window_hours),
        "is_artist": booking.user_id == request.user.id,
        "may_change": _may_change(booking, request.user, now),
        "is_upcoming": queries.is_upcoming(booking, now),
        "google_link": ics.google_calendar_link(booking) if is_confirmed else "",
        "outlook_link": ics.outlook_link(booking) if is_confirmed else "",
        **_payments_context(booking),
    }
    return render(request, "web/me/booking.html", context)


@login_required
@require_safe
def booking_ics(request, code: str):
    """``/me/bookings/<code>.ics``: the session as an iCalendar file (METHOD:PUBLISH) with
    the UID and SEQUENCE of the emailed invites (``calendars.state``), for confirmed and
    completed bookings only (recording-studio-prd.md 7.14: calendar events exist only for
    approved bookings); 404 otherwise and for anyone but the artist and the studio team."""
    booking = _booking_or_404(request, code)
    if booking.status not in SHOWN_STATUSES:
        raise Http404("this booking is not on the calendar")
    response = HttpResponse(ics.download(booking), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="booking-{booking.code}.ics"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- cancel --------------------------------------------------------------------------------

def _cancel_page(request, booking: Booking, *, preview=None, form=None, error: str = "",
                 changed_from: int | None = None, status: int = 200):
    return render(request, "web/me/cancel.html", {
        "nav": "my-bookings", "booking": booking, "studio": booking.studio,
        "engineers": _engineers(booking), "preview": preview, "form": form, "error": error,
        "changed_from": changed_from,
    }, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def cancel(request, code: str):
    """``/me/bookings/<code>/cancel``: GET previews the refund (``preview_cancellation``);
    POST cancels with the previewed refund as ``expected_refund_minor``. A refund that
    changed meanwhile (a deadline passed) is a 409 showing the new preview; nothing is
    written."""
    booking = _booking_or_404(request, code)
    now = timezone.now()
    try:
        preview = booking_services.preview_cancellation(actor=request.user, booking=booking,
                                                        now=now)
    except DomainError as error:
        return _cancel_page(request, booking, error=_sentence(error.message),
                            status=http_status(error))

    if request.method != "POST":
        form = CancelForm(initial={"expected_refund": preview.refund_minor})
        return _cancel_page(request, booking, preview=preview, form=form)

    form = CancelForm(request.POST)
    if not form.is_valid():
        # The hidden figure was tampered with or lost: ask again with the current preview.
        if form.has_error("expected_refund"):
            form = CancelForm({"reason": request.POST.get("reason", "")[:500],
                               "expected_refund": preview.refund_minor})
            form.is_valid()
            form.add_error(None, "The refund shown was missing; check it and confirm again.")
        return _cancel_page(request, booking, preview=preview, form=form, status=422)
    expected = form.cleaned_data["expected_refund"]
    try:
        booking, preview = booking_services.cancel_booking(
            actor=request.user, booking=booking, reason=form.cleaned_data["reason"],
            expected_refund_minor=expected, now=now)
    except DomainError as error:
        if error.field == "expected_refund_cents":
            form = CancelForm({"reason": form.cleaned_data["reason"],
                               "expected_refund": preview.refund_minor})
            form.is_valid()
            return _cancel_page(request, booking, preview=preview, form=form,
                                changed_from=expected, status=409)
        return _cancel_page(request, booking, error=_sentence(error.message),
                            status=http_status(error))
    messages.success(request, f"Booking canceled — refund {_money(preview.refund_minor, booking)}")
    return redirect("web:booking", code=booking.code)


# --- reschedule ----------------------------------------------------------------------------

def _sentence(message: str) -> str:
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def _default_day(booking: Booking, now: datetime) -> date:
    zone = studio_zone(booking.studio)
    return max(booking.start_at, now).astimezone(zone).date()


@dataclass(frozen=True)
class StartChoice:
    value: str  # the UTC instant, ISO 8601 with "Z" (bookings.strip.iso_utc)
    label: str  # local wall-clock start, "10:00"
    end_label: str


def _choices(booking: Booking, day: date, now: datetime) -> list[StartChoice]:
    zone = studio_zone(booking.studio)
    start, end = local_day_bounds(booking.studio, day)
    slots = queries.reschedule_slots(booking=booking, range_start=start, range_end=end,
                                     now=now)
    return [StartChoice(iso_utc(s.start), s.start.astimezone(zone).strftime(TIME_FORMAT),
                        s.end.astimezone(zone).strftime(TIME_FORMAT)) for s in slots]


def _reschedule_page(request, booking: Booking, now: datetime, *, day: date | None,
                     date_form=None, preview=None, confirm_form=None, error: str = "",
                     changed_from: int | None = None, is_blocked: bool = False,
                     status: int = 200):
    """Step 1 (a date and its free start times) or, with ``preview``, step 2."""
    choices: list[StartChoice] | None = None
    search_error = ""
    if preview is None and day is not None:
        try:
            choices = _choices(booking, day, now)
        except DomainError as failure:
            search_error = _sentence(failure.message)
    if date_form is None:
        date_form = NewDateForm(initial={"date": day or _default_day(booking, now)})
    return render(request, "web/me/reschedule.html", {
        "nav": "my-bookings", "booking": booking, "studio": booking.studio,
        "engineers": _engineers(booking), "day": day, "date_form": date_form,
        "choices": choices, "search_error": search_error, "preview": preview,
        "confirm_form": confirm_form, "error": error, "changed_from": changed_from,
        "is_blocked": is_blocked,
        "policy_summary": (booking.policy_snapshot or {}).get("summary", ""),
        "duration_label": duration_label(booking.duration_minutes),
    }, status=status)


def _preview(request, booking: Booking, start: datetime, now: datetime):
    room_id, staff_ids = queries.move_targets(booking)
    return booking_services.preview_reschedule(actor=request.user, booking=booking,
                                               start_at=start, room_id=room_id,
                                               staff_ids=staff_ids, now=now)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def reschedule(request, code: str):
    """``/me/bookings/<code>/reschedule``: step 1 ``?date=`` lists the day's free start
    times for the same service, duration, room and engineers; step 2 ``?start=`` previews
    the move (``preview_reschedule``: new time, fee); POST moves the booking with the
    previewed fee as ``expected_fee_minor``. A slot taken meanwhile, a passed deadline or a
    changed fee answers 409 with the reason, and nothing is written."""
    booking = _booking_or_404(request, code)
    now = timezone.now()
    if not _may_act(booking, request.user):
        # The studio's staff may look at the booking but not move it (the service's rule).
        return _reschedule_page(request, booking, now, day=None, is_blocked=True, status=403,
                                error="Only the artist or a studio admin may reschedule this "
                                      "booking.")
    if not queries.can_change(booking, now):
        reason = (f"This booking is {booking.get_status_display().lower()}: it can no longer "
                  "be rescheduled." if not booking.is_blocking else
                  "This session has started: it can no longer be rescheduled.")
        return _reschedule_page(request, booking, now, day=None, error=reason, status=409,
                                is_blocked=True)

    if request.method == "POST":
        return _reschedule_confirm(request, booking, now)

    if "start" in request.GET:
        choice = RescheduleChoiceForm(request.GET)
        if not choice.is_valid():
            day = choice.cleaned_data.get("date") or _default_day(booking, now)
            return _reschedule_page(request, booking, now, day=day,
                                    error="Choose one of the listed start times.", status=422)
        day = choice.cleaned_data.get("date") or _default_day(booking, now)
        return _confirm_page(request, booking, now, day=day, start=choice.cleaned_data["start"])

    if "date" in request.GET:
        date_form = NewDateForm(request.GET)
        if not date_form.is_valid():
            return _reschedule_page(request, booking, now, day=None, date_form=date_form,
                                    status=422)
        return _reschedule_page(request, booking, now, day=date_form.cleaned_data["date"],
                                date_form=date_form)
    return _reschedule_page(request, booking, now, day=_default_day(booking, now))


def _confirm_page(request, booking: Booking, now: datetime, *, day: date, start: datetime,
                  changed_from: int | None = None, status: int = 200):
    """Step 2 for ``start``: the fee ``preview_reschedule`` gives now, and the form that
    confirms exactly that fee; the step-1 page with the service's error when the move is
    refused."""
    try:
        preview = _preview(request, booking, start, now)
    except DomainError as error:
        return _reschedule_page(request, booking, now, day=day,
                                error=_sentence(error.message), status=http_status(error))
    confirm = RescheduleConfirmForm(initial={"date": day, "start": iso_utc(start),
                                             "expected_fee": preview.fee_minor})
    return _reschedule_page(request, booking, now, day=day, preview=preview,
                            confirm_form=confirm, changed_from=changed_from, status=status)


def _reschedule_confirm(request, booking: Booking, now: datetime):
    form = RescheduleConfirmForm(request.POST)
    if not form.is_valid():
        day = form.cleaned_data.get("date") or _default_day(booking, now)
        return _reschedule_page(request, booking, now, day=day,
                                error="Choose one of the listed start times again.",
                                status=422)
    day = form.cleaned_data.get("date") or _default_day(booking, now)
    start, expected = form.cleaned_data["start"], form.cleaned_data["expected_fee"]
    room_id, staff_ids = queries.move_targets(booking)
    try:
        moved, preview = booking_services.reschedule_booking(
            actor=request.user, booking=booking, start_at=start, room_id=room_id,
            staff_ids=staff_ids, expected_fee_minor=expected, now=now)
    except DomainError as error:
        if error.field == "expected_fee_cents":
            # The fee changed since the preview (a deadline passed): show the new one.
            return _confirm_page(request, booking, now, day=day, start=start,
                                 changed_from=expected, status=409)
        return _reschedule_page(request, booking, now, day=day,
                                error=_sentence(error.message), status=http_status(error))
    when = dateformat.format(moved.start_at.astimezone(studio_zone(moved.studio)), "D j M Y, H:i")
    fee = f"fee {_money(preview.fee_minor, moved)}" if preview.fee_minor else "no fee"
    messages.success(request, f"Booking moved to {when} ({moved.studio.time_zone}) — {fee}")
    return redirect("web:booking", code=moved.code)


# --- settings ------------------------------------------------------------------------------

def _has_feed(user) -> bool:
    return FeedToken.objects.filter(kind=FeedToken.Kind.ARTIST, user=user,
                                    is_active=True).exists()


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def settings(request):
    """``/me/settings``: notification preferences (``notify.services.update_preferences``),
    links to allauth's password and email pages, and the personal calendar feed: POST
    ``action=rotate-feed`` issues a new secret URL (``calendars.services.rotate_feed_token``)
    shown on this response only; the old URL stops working."""
    user = request.user
    preference = notify_services.preference_of(user)
    initial = {"email": preference.email, "sms": preference.sms,
               "language": preference.language, "phone": display_phone(user.phone)}
    form = PreferencesForm(initial=initial)
    feed_url = feed_error = ""
    status = 200
    if request.method == "POST" and request.POST.get("action") == "rotate-feed":
        try:
            feed_url = calendar_services.rotate_feed_token(
                actor=user, artist=user, base_url=request.build_absolute_uri("/"))
        except DomainError as error:
            feed_error, status = _sentence(error.message), http_status(error)
    elif request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                notify_services.update_preferences(actor=user, email=data["email"],
                                                   sms=data["sms"], language=data["language"],
                                                   phone=data["phone"])
            except DomainError as error:
                add_domain_error(form, error)
                status = http_status(error)
            else:
                messages.success(request, "Notification settings saved.")
                return redirect("web:me-settings")
        else:
            status = 422
    return render(request, "web/me/settings.html", {
        "nav": "settings", "form": form, "feed_url": feed_url, "feed_error": feed_error,
        "webcal_url": _webcal(feed_url), "has_feed": bool(feed_url) or _has_feed(user),
    }, status=status)


def _webcal(url: str) -> str:
    """The feed URL with the webcal scheme, which calendar apps open as a subscription."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return "webcal://" + url[len(scheme):]
    return ""
