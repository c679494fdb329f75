"""Public pages: studio list, studio home, availability (the tape strip), the booking drawer,
the hold with its countdown, paying, and the studio's policies.

Thin: parse a form, call a service (``availability``/``strip`` for free time, ``pricing`` for
the quote, ``services.place_hold``/``release_hold``/``create_booking``), render. A service's
``DomainError`` is shown next to the field it names, with 422 (bad input) or 409 (a conflict);
nothing is written then. Times are computed in UTC and shown in the studio's zone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from studiobook.bookings import policies as booking_policies
from studiobook.bookings import pricing, services
from studiobook.bookings.availability import validate_duration
from studiobook.bookings.errors import SlotUnavailable
from studiobook.bookings.models import Booking, Hold
from studiobook.bookings.pricing import duration_label
from studiobook.bookings.strip import day_strip, iso_utc, session_label
from studiobook.payments import services as payments
from studiobook.scheduling import policies as core_policies
from studiobook.scheduling.money import format_percent_ppm
from studiobook.studios.errors import (
    DomainError,
    InvalidInput,
    PricingMisconfigured,
    http_status,
)
from studiobook.studios.models import Room, Service, StaffMember, Studio
from studiobook.web.common import (
    add_domain_error,
    get_studio_or_404,
    is_htmx,
    local_today,
    studio_zone,
)
from studiobook.web.public.forms import (
    AvailabilityForm,
    BookForm,
    add_on_services,
    bookable_services,
    parse_utc,
)

# Service field names -> form field names, for errors the services raise.
SEARCH_FIELDS = {"duration_min": "duration", "room_id": "room", "staff_ids": "staff",
                 "service_id": "service"}
BOOK_FIELDS = {**SEARCH_FIELDS, "start_at": "start"}

# What the artist reads when a slot cannot be held: the core's messages name other people's
# bookings and UTC instants, which are for logs and the API, not for this page.
SLOT_MESSAGES = {
    "busy": "Someone else has just taken this slot. Pick another time on the strip.",
    "lead_time": "This start is now too soon to book. Pick a later time.",
    "horizon": "This start is too far ahead to book yet. Pick an earlier day.",
    "off_grid": "This start is not one the studio offers. Pick a time on the strip.",
    "outside_hours": "This time is outside the opening hours. Pick a time on the strip.",
    "blackout": "The studio is closed at this time. Pick another time on the strip.",
    "no_engineer": "No engineer is free at this time any more. Pick another time on the strip.",
}
HOLD_ADD_ONS_KEY = "studiobook_hold_add_ons"


# --- helpers ------------------------------------------------------------------------------------

def availability_url(studio: Studio, **params) -> str:
    """``/studios/<slug>/availability`` with the non-empty ``params`` (date, service,
    duration, room, staff) as its query."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    url = reverse("web:availability", args=[studio.slug])
    return f"{url}?{query}" if query else url


def _duration_rule(service: Service) -> str:
    """The service's allowed lengths in words."""
    if service.min_duration_minutes == service.max_duration_minutes:
        return f"{service.name} lasts {service.min_duration_minutes} minutes."
    return (f"{service.name}: {service.min_duration_minutes} to "
            f"{service.max_duration_minutes} minutes, in steps of "
            f"{service.duration_step_minutes}.")


# When the first payment is taken, by the checkout plan's mode (scheduling.policies).
FIRST_PAYMENT_WHEN = {"automatic": "due now", "manual": "authorised now, charged on approval",
                      "setup": "charged when the studio approves", "none": ""}
TOTAL_BY_CARD = {
    "automatic": "The total is paid by card when you confirm.",
    "manual": "Your card is authorised for the total when you confirm and charged when the "
              "studio approves.",
    "setup": "Your card is saved when you confirm and charged the total when the studio "
             "approves.",
    "none": "",
}


def quote_rows(quote, plan) -> dict:
    """A ``scheduling.Quote`` and the checkout plan for it (``payments.services.
    checkout_plan``) as rows for the price table: ``lines`` and ``fees`` as (label, amount),
    ``taxes`` as (label with rate, amount); ``deposit`` and ``balance`` as checkout will take
    them (no balance when the session is within the balance lead: all is due at once);
    amounts in minor units."""
    return {
        "currency": quote.currency,
        "lines": [(line.description + (f" × {line.quantity}" if line.quantity > 1 else ""),
                   line.total_minor) for line in quote.lines],
        "fees": [(fee.description, fee.total_minor) for fee in quote.fees],
        "subtotal": quote.subtotal_minor,
        "taxes": [(f"{tax.name} ({format_percent_ppm(tax.rate_ppm)}%)", tax.amount_minor)
                  for tax in quote.taxes],
        "total": quote.total_minor,
        "deposit_percent": quote.deposit_percent,
        "deposit": quote.total_minor - plan.balance_minor if plan.balance_minor else 0,
        "balance": plan.balance_minor,
        "is_deposit_waived": bool(quote.deposit_minor and not plan.balance_minor),
        "first_when": FIRST_PAYMENT_WHEN[plan.mode],
        "total_by_card": TOTAL_BY_CARD[plan.mode],
    }


def _friendly(error: DomainError) -> DomainError:
    """``error`` worded for this page: a slot that cannot be held says why in the artist's
    terms, and the API's field names become words."""
    if isinstance(error, SlotUnavailable):
        message = SLOT_MESSAGES.get(error.extra.get("reason", ""), SLOT_MESSAGES["busy"])
        return SlotUnavailable(message, field=error.field, extra=error.extra)
    if isinstance(error, InvalidInput) and error.field == "duration_min":
        return InvalidInput(error.message.replace("duration_min", "The duration", 1),
                            field=error.field, rule=error.rule, extra=error.extra)
    return error


def card_payments_enabled() -> bool:
    """True when bookings are paid by card through Stripe (the gateway is Stripe and the
    browser has a publishable key for the Payment Element); else the offline gateway."""
    return (payments.get_gateway().name == "stripe"
            and bool(getattr(settings, "STRIPE_PUBLISHABLE_KEY", "")))


def _policy_context(studio: Studio, service: Service) -> dict:
    """What the drawer and the hold say of the terms: the studio's policies in words
    (``scheduling.policies.describe``) and whether this booking waits for approval."""
    cancellation, reschedule = booking_policies.studio_policies(studio)
    return {
        "policy_summary": _summary(studio, cancellation, reschedule),
        "requires_approval": bool(studio.requires_approval or service.requires_approval),
    }


def _first_booking_context(studio: Studio, service: Service, artist, quote) -> dict:
    """What the studio's first-booking rule does to ``artist``'s booking, for the hold page
    (``bookings.services.first_booking_wait``, as ``create_booking`` applies it):
    ``requires_approval`` when an admin must approve it, ``deposit_confirms`` when paying
    its due-now payment confirms it."""
    if not services.is_limited_artist(actor=artist, studio=studio):
        return {"deposit_confirms": False}
    waits, confirms = services.first_booking_wait(studio=studio, service=service,
                                                  artist=artist, total_minor=quote.total_minor)
    return {"deposit_confirms": confirms, **({"requires_approval": True}
                                             if waits and not confirms else {})}


def _summary(studio: Studio, cancellation: core_policies.CancellationPolicy,
             reschedule: core_policies.ReschedulePolicy) -> str:
    return core_policies.describe(cancellation, reschedule, studio.time_zone,
                                  currency=studio.currency)


def _tier_rows(policy: core_policies.CancellationPolicy) -> list[str]:
    """Each refund tier as a sentence, largest notice first."""
    rows = []
    for index, tier in enumerate(policy.tiers):
        when = (f"at least {tier.min_hours_before} hours before the start"
                if tier.min_hours_before else "up to the start")
        if index:
            previous = policy.tiers[index - 1].min_hours_before
            when = (f"{tier.min_hours_before} to {previous} hours before the start"
                    if tier.min_hours_before else f"less than {previous} hours before the start")
        refund = ("a full refund" if tier.refund_percent == 100 else "no refund"
                  if tier.refund_percent == 0 else f"a {tier.refund_percent}% refund")
        rows.append(f"Cancel {when}: {refund}.")
    last = policy.tiers[-1]
    if last.min_hours_before:
        rows.append(f"Cancel less than {last.min_hours_before} hours before the start: "
                    "no refund.")
    return rows


# --- home and studio ----------------------------------------------------------------------------

def home(request):
    """``/``: the studio's home in a single-studio deployment; else the studio list with
    search by name (``q``) and ``city``."""
    studios = Studio.objects.all()
    count = studios.count()
    if count == 1:
        return _studio_page(request, studios.get())
    q = request.GET.get("q", "").strip()
    city = request.GET.get("city", "").strip()
    found = studios
    if q:
        found = found.filter(name__icontains=q)
    if city:
        found = found.filter(city__icontains=city)
    cities = sorted({c for c in Studio.objects.exclude(city="").values_list("city", flat=True)})
    return render(request, "web/public/home.html", {
        "studios": list(found), "q": q, "city": city, "cities": cities,
        "has_studios": count > 0, "is_search": bool(q or city),
    })


def studio_home(request, slug: str):
    """``/studios/<slug>/``: rooms, services and prices, and the way to availability."""
    return _studio_page(request, get_studio_or_404(slug))


HEX_COLOR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")


def _studio_page(request, studio: Studio):
    rooms = list(Room.objects.for_studio(studio).filter(is_active=True))
    for room in rooms:
        # The room's calendar colour tints its photo placeholder; only a plain hex colour
        # reaches the style attribute.
        room.accent = room.color if HEX_COLOR.fullmatch(room.color or "") else ""
    return render(request, "web/public/studio.html", {
        "studio": studio, "rooms": rooms, "services": list(bookable_services(studio)),
        "add_ons": list(add_on_services(studio)),
        "availability_url": availability_url(studio),
    })


def policies(request, slug: str):
    """``/studios/<slug>/policies``: cancellation, rescheduling, holds, notice, horizon,
    approval and deposits in plain words."""
    studio = get_studio_or_404(slug)
    services_ = list(bookable_services(studio))
    cancellation, reschedule = booking_policies.studio_policies(studio)
    return render(request, "web/public/policies.html", {
        "studio": studio,
        "policy_summary": _summary(studio, cancellation, reschedule),
        "cancellation_tiers": _tier_rows(cancellation),
        "reschedule": reschedule,
        "reschedule_fee_text": core_policies.describe_reschedule_fee(reschedule, studio.currency),
        "lead_time_text": duration_label(studio.lead_time_minutes, words=True),
        "approval_services": [s for s in services_ if s.requires_approval],
        "deposit_services": [s for s in services_ if s.deposit_percent],
        "availability_url": availability_url(studio),
    })


# --- availability -------------------------------------------------------------------------------

def _search_data(params, services_: list[Service], today: date) -> dict[str, str]:
    """The search as the form should read it: what the URL says, else the defaults (today,
    the first service, its default length, any room, any engineer)."""
    data = {"date": today.isoformat(), "service": str(services_[0].id), "room": "",
            "staff": ""}
    for key in (*data, "duration"):
        if key in params:
            data[key] = params[key]
    if "duration" not in data:
        chosen = next((s for s in services_ if str(s.id) == data["service"]), services_[0])
        data["duration"] = str(chosen.default_duration_minutes)
    return data


@vary_on_headers("HX-Request")
def availability(request, slug: str):
    """``/studios/<slug>/availability``: the search form and the day's tape strip. An htmx
    request (``HX-Request``) gets only the strip (and, after bad input, the form again,
    out of band, with the errors next to its fields); bad input answers 422."""
    studio = get_studio_or_404(slug)
    services_ = list(bookable_services(studio))
    today = local_today(studio)
    context = {"studio": studio, "services": services_, "today": today,
               "stream_url": reverse("availability-stream", args=[studio.slug])}
    if not services_:
        return render(request, "web/public/availability.html", context)

    form = AvailabilityForm(_search_data(request.GET, services_, today), studio=studio,
                            today=today, services=services_)
    strip = None
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            strip = day_strip(studio=studio, service=data["service"], day=data["date"],
                              duration_minutes=data["duration"], now=timezone.now(),
                              room_id=data["room"], staff_id=data["staff"])
        except DomainError as error:
            add_domain_error(form, _friendly(error), field_map=SEARCH_FIELDS)
            status = http_status(error)
    else:
        status = 422
    service = form.cleaned_data.get("service") if strip else None
    chosen_service = service or next(
        (s for s in services_ if str(s.id) == str(form.data.get("service"))), services_[0])
    context.update(form=form, strip=strip, service=chosen_service,
                   duration_rule=_duration_rule(chosen_service),
                   durations_json=json.dumps({
                       str(s.id): {"default": s.default_duration_minutes,
                                   "rule": _duration_rule(s)} for s in services_}))
    if strip is not None:
        data = form.cleaned_data
        same = {"service": data["service"].id, "duration": data["duration"],
                "room": data["room"], "staff": data["staff"]}
        before, after = data["date"] - timedelta(days=1), data["date"] + timedelta(days=1)
        context.update(
            search=same,
            next_day_url=(availability_url(studio, date=after.isoformat(), **same)
                          if after <= form.last_day else ""),
            previous_day_url=(availability_url(studio, date=before.isoformat(), **same)
                              if before >= today else ""),
            zone_abbreviation=strip.window_start.astimezone(studio_zone(studio)).tzname(),
            book_url=reverse("web:book", args=[studio.slug]),
        )
    restoring = request.headers.get("HX-History-Restore-Request") == "true"
    if is_htmx(request) and not restoring:
        return render(request, "web/public/_strip.html", {**context, "oob_form": True},
                      status=status)
    return render(request, "web/public/availability.html", context, status=status)


# --- the booking drawer -------------------------------------------------------------------------

@dataclass
class Slot:
    """The slot the drawer is about: ``[start, end)`` in UTC, ``duration`` minutes, and the
    room and engineer rows the artist chose (None for "any")."""

    service: Service
    start: datetime
    end: datetime
    duration: int
    room: Room | None
    staff: StaffMember | None


SLOT_FIELDS = ("service", "start", "duration", "room", "staff")


def _slot(form: BookForm, studio: Studio) -> Slot | None:
    """The slot of a checked form (``is_valid()`` was called), or None when one of its fields
    is wrong; a room or engineer id that is not this studio's gets an error on the form."""
    if any(name in form.errors for name in SLOT_FIELDS):
        return None
    data = form.cleaned_data
    room = staff = None
    if data.get("room") is not None:
        room = Room.objects.for_studio(studio).filter(pk=data["room"]).first()
        if room is None:
            form.add_error("room", "That room is not one of this studio's.")
            return None
    if data.get("staff") is not None:
        staff = StaffMember.objects.for_studio(studio).filter(pk=data["staff"]).first()
        if staff is None:
            form.add_error("staff", "That engineer does not work at this studio.")
            return None
    try:
        validate_duration(data["service"], data["duration"])
    except InvalidInput as error:
        add_domain_error(form, _friendly(error), field_map=BOOK_FIELDS)
        return None
    return Slot(data["service"], data["start"],
                data["start"] + timedelta(minutes=data["duration"]), data["duration"], room,
                staff)


def _back_to_search(studio: Studio, params) -> str:
    """The availability page for the drawer's slot (its local day, service, length)."""
    start = parse_utc(params.get("start", "") or "")
    day = start.astimezone(studio_zone(studio)).date().isoformat() if start else ""
    return availability_url(studio, date=day, service=params.get("service", ""),
                            duration=params.get("duration", ""), room=params.get("room", ""),
                            staff=params.get("staff", ""))


def _drawer(request, studio: Studio, form: BookForm, slot: Slot | None, *,
            status: int = 200):
    """The drawer (an htmx request) or the same content as a page: the slot, its quote, the
    policy and the hold form, with whatever errors ``form`` carries."""
    params = request.POST if request.method == "POST" else request.GET
    back_url = _back_to_search(studio, params)
    context = {"studio": studio, "form": form, "back_url": back_url,
               "as_dialog": is_htmx(request), "slot": slot, "quote": None,
               "card_payments": card_payments_enabled(),
               "hold_minutes": studio.hold_minutes,
               "login_url": f"{reverse('account_login')}?{urlencode({'next': back_url})}",
               "signup_url": f"{reverse('account_signup')}?{urlencode({'next': back_url})}"}
    if slot is not None:
        add_ons = [] if any(f.errors for f in form.add_on_fields()) else form.chosen_add_ons()
        try:
            quote = pricing.quote_booking(studio=studio, service=slot.service,
                                          duration_minutes=slot.duration, add_ons=add_ons)
            context["quote"] = quote_rows(quote, payments.checkout_plan(
                studio=studio, service=slot.service, start_at=slot.start, quote=quote))
        except DomainError as problem:
            add_domain_error(form, problem, field_map=BOOK_FIELDS)
            status = max(status, http_status(problem))
        name = (slot.room.name if slot.room else
                slot.staff.display_name if slot.staff else slot.service.name)
        context.update(
            heading=session_label(name, slot.start, slot.end, studio.time_zone),
            start_iso=iso_utc(slot.start),
            duration_text=duration_label(slot.duration, words=True),
            balance_lead_hours=studio.balance_lead_hours,
            approval_window_hours=studio.approval_window_hours,
            **_policy_context(studio, slot.service),
        )
    if form.errors and status == 200:
        status = 422
    template = "web/public/_drawer.html" if is_htmx(request) else "web/public/book.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def book(request, slug: str):
    """``/studios/<slug>/book``: GET the drawer for a slot (service, start as UTC ISO 8601,
    duration, room, staff): the quote, the policy, the agreement box; POST holds the slot
    (``services.place_hold``) and goes to the hold page. Anonymous visitors are asked to
    sign in (the links come back to the availability page)."""
    studio = get_studio_or_404(slug)
    if request.method == "GET":
        form = BookForm(request.GET, studio=studio, require_agreement=False)
        form.is_valid()
        return _drawer(request, studio, form, _slot(form, studio))

    back_url = _back_to_search(studio, request.POST)
    if not request.user.is_authenticated:
        login = f"{reverse('account_login')}?{urlencode({'next': back_url})}"
        return _hx_redirect(login) if is_htmx(request) else redirect_to_login(back_url)
    form = BookForm(request.POST, studio=studio, require_agreement=True)
    form.is_valid()
    slot = _slot(form, studio)
    if slot is None or form.errors:
        return _drawer(request, studio, form, slot, status=422)
    try:
        hold = services.place_hold(
            actor=request.user, studio=studio, service=slot.service, start_at=slot.start,
            duration_minutes=slot.duration, room_id=slot.room.id if slot.room else None,
            staff_ids=[slot.staff.id] if slot.staff else None)
    except DomainError as error:
        error = _friendly(error)
        add_domain_error(form, error, field_map=BOOK_FIELDS)
        return _drawer(request, studio, form, slot, status=http_status(error))
    _remember_add_ons(request, hold, form.chosen_add_ons())
    url = reverse("web:hold", args=[hold.token])
    return _hx_redirect(url) if is_htmx(request) else redirect(url)


def _hx_redirect(url: str) -> HttpResponse:
    """Tell htmx to load ``url`` as a whole page (a plain redirect would be swapped into the
    drawer)."""
    response = HttpResponse(status=200)
    response["HX-Redirect"] = url
    return response


def _remember_add_ons(request, hold: Hold, add_ons: list[tuple[Service, int]]) -> None:
    # A hold has no add-on rows (the hold service takes none); the extras picked in the drawer
    # ride in the session until the booking is made from the hold (or the hold is released).
    if not add_ons:
        _forget_add_ons(request, hold)
        return
    chosen = dict(request.session.get(HOLD_ADD_ONS_KEY, {}))
    chosen[hold.token] = [[a.id, quantity] for a, quantity in add_ons]
    request.session[HOLD_ADD_ONS_KEY] = chosen


def _forget_add_ons(request, hold: Hold) -> None:
    """Drop the extras kept for ``hold``; the session is written only when it had some."""
    chosen = dict(request.session.get(HOLD_ADD_ONS_KEY, {}))
    if chosen.pop(hold.token, None) is not None:
        request.session[HOLD_ADD_ONS_KEY] = chosen


def _add_ons_of(request, hold: Hold) -> list[tuple[Service, int]]:
    chosen = dict(request.session.get(HOLD_ADD_ONS_KEY, {}).get(hold.token, []))
    if not chosen:
        return []
    rows = add_on_services(hold.studio).filter(id__in=list(chosen))
    return [(row, int(chosen[row.id])) for row in rows]


# --- the hold -------------------------------------------------------------------------------------

def _own_hold(request, token: str) -> Hold:
    hold = (Hold.objects.select_related("studio", "service", "room")
            .filter(token=token, user=request.user).first())
    if hold is None:
        raise Http404("no such hold")
    return hold


def _hold_state(hold: Hold, now) -> str:
    """live | expired (active, but past ``expires_at``) | converted | released."""
    if hold.is_live(now):
        return "live"
    return "expired" if hold.status == Hold.Status.ACTIVE else hold.status


def _hold_search_url(hold: Hold, *, with_room: bool) -> str:
    """The availability page for the held slot's local day, service and length (and room)."""
    day = hold.start_at.astimezone(studio_zone(hold.studio)).date().isoformat()
    room = (hold.room_id or "") if with_room else ""
    return availability_url(hold.studio, date=day, service=hold.service_id,
                            duration=hold.duration_minutes, room=room)


def _render_hold(request, hold: Hold, *, status: int = 200, error: str = ""):
    """The hold page. The price, the pay step and the terms are shown (and computed) only
    while the hold is live; an ended hold says how it ended."""
    now = timezone.now()
    studio = hold.studio
    state = _hold_state(hold, now)
    staff_ids = hold.staff_ids
    context = {
        "hold": hold, "studio": studio, "service": hold.service, "state": state,
        "engineers": list(StaffMember.objects.filter(id__in=staff_ids)) if staff_ids else [],
        "duration": hold.duration_minutes,
        "duration_text": duration_label(hold.duration_minutes, words=True),
        "booking": getattr(hold, "booking", None) if state == "converted" else None,
        "availability_url": _hold_search_url(hold, with_room=True), "error": error,
    }
    if state == "live":
        try:
            quote = pricing.quote_booking(studio=studio, service=hold.service,
                                          duration_minutes=hold.duration_minutes,
                                          add_ons=_add_ons_of(request, hold))
        except PricingMisconfigured as problem:  # a fee or tax stored out of range
            context.update(state="unpriced", error=problem.message)
            return render(request, "web/public/hold.html", context,
                          status=http_status(problem))
        remaining = max(0, int((hold.expires_at - now).total_seconds()))
        card = card_payments_enabled() and quote.total_minor > 0
        context.update({
            "quote": quote_rows(quote, payments.checkout_plan(
                studio=studio, service=hold.service, start_at=hold.start_at, quote=quote,
                artist=hold.user, now=now)),
            "remaining_seconds": remaining, "remaining_minutes": -(-remaining // 60),
            "card_payments": card,
            "confirm_label": "Continue to payment" if card else "Confirm booking",
            **_policy_context(studio, hold.service),
            **_first_booking_context(studio, hold.service, hold.user, quote),
            "balance_lead_hours": studio.balance_lead_hours,
            "approval_window_hours": studio.approval_window_hours,
        })
    return render(request, "web/public/hold.html", context, status=status)


@require_http_methods(["GET", "POST"])
def hold(request, token: str):
    """``/holds/<token>``: the held slot, its countdown and the pay step; POST books it
    (``services.create_booking``) and goes to the booking page, or to the Stripe payment
    page when cards are taken. Only the hold's artist may see it (404 for anyone else)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    held = _own_hold(request, token)
    if request.method == "GET":
        return _render_hold(request, held)
    now = timezone.now()
    if not held.is_live(now):
        return _render_hold(request, held, status=409,
                            error="This hold has ended, so it can no longer be booked.")
    try:
        booking = services.create_booking(actor=request.user, studio=held.studio, hold=held,
                                          add_ons=_add_ons_of(request, held), now=now)
    except DomainError as error:
        held.refresh_from_db()
        return _render_hold(request, held, status=http_status(error),
                            error=_friendly(error).message)
    _forget_add_ons(request, held)
    if card_payments_enabled() and booking.total_minor:
        # The pay page shows the Payment Element, or a retry when opening the payment failed,
        # and sends the artist on to the booking when nothing is left to pay.
        return redirect("web:pay", booking.code)
    return redirect("web:booking", booking.code)


@require_POST
def release_hold(request, token: str):
    """``POST /holds/<token>/release``: give the slot back and return to availability."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("web:hold", args=[token]))
    held = _own_hold(request, token)
    try:
        services.release_hold(actor=request.user, hold=held)
    except DomainError as error:
        return _render_hold(request, held, status=http_status(error),
                            error="This hold had already ended.")
    _forget_add_ons(request, held)
    messages.success(request, "Hold released: the slot is free for others again.")
    return redirect(_hold_search_url(held, with_room=False))


# --- paying by card -----------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def pay(request, code: str):
    """``/bookings/<code>/pay``: Stripe's Payment Element for the booking's open payment
    (PaymentIntent, or SetupIntent when the card is charged on approval); it returns to the
    booking page. Without Stripe it redirects there. POST retries a payment whose opening
    failed. Only the booking's artist may see it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    booking = (Booking.objects.select_related("studio", "service")
               .filter(code=code, user=request.user).first())
    if booking is None:
        raise Http404("no such booking")
    if not card_payments_enabled():
        return redirect("web:booking", booking.code)
    status, error = 200, ""
    if request.method == "POST":
        try:
            payments.retry_checkout(actor=request.user, booking=booking)
        except DomainError as problem:
            status, error = http_status(problem), problem.message
        else:
            return redirect("web:pay", booking.code)
    payment = payments.open_payment(booking)
    failed = payments.retryable_payment(booking)
    if payment is None and failed is None and not error:
        return redirect("web:booking", booking.code)
    return render(request, "web/public/pay.html", {
        "booking": booking, "studio": booking.studio, "payment": payment, "failed": failed,
        "error": error,
        "is_setup": payment is not None and payment.capture_method == "setup",
        "return_url": request.build_absolute_uri(reverse("web:booking", args=[booking.code])),
    }, status=status)
