"""The calendar board (rooms or staff, day or week), the approval queue and the bookings
table with each booking's actions.

Pages are thin: they read ``bookings.board.calendar_board`` and ``bookings.queue``, call the
booking and payment services, and lay the result out. The board's layout maths (where an
item sits on its lane, in percent of the shown range) is done here on UTC instants, so a
23- or 25-hour day (a DST change) is drawn as long as it really is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Q
from django.forms import Form
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studiobook.bookings import services
from studiobook.bookings.board import BoardItem, calendar_board
from studiobook.bookings.models import Booking
from studiobook.bookings.queue import (
    APPROVE,
    REJECT,
    SyncWarnings,
    approval_queue,
    calendar_sync_warnings,
    decide_booking,
    decide_bookings,
)
from studiobook.bookings.strip import clock_label, day_label, session_label, span_label
from studiobook.payments import services as payments
from studiobook.studios.errors import DomainError, http_status
from studiobook.studios.models import AuditLog, Membership, Studio
from studiobook.studios.permissions import is_admin
from studiobook.web.common import (
    add_domain_error,
    local_day_bounds,
    local_today,
    studio_zone,
    team_required,
)
from studiobook.web.dashboard.board_forms import (
    ADMIN_BOOKING,
    HOLD,
    ApproveForm,
    AssignStaffForm,
    BoardQueryForm,
    BookingFilterForm,
    CancelForm,
    DecisionForm,
    EmptyForm,
    NewBookingForm,
    OfflinePaymentForm,
    RefundForm,
    RejectForm,
)

BOOKINGS_PER_PAGE = 25
# Service field names -> form field names, for errors placed next to the field.
NEW_BOOKING_FIELDS = {"start_at": "start_time", "duration_min": "duration_minutes",
                      "room_id": "room", "staff_ids": "staff", "service_id": "service"}
MONEY_FIELDS = {"amount_cents": "amount"}


# --- /dashboard/ -----------------------------------------------------------------------------

@require_GET
def index(request):
    """``/dashboard/``: the first studio (by name) whose team the user is on; an empty state
    when there is none; anonymous users sign in first."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    membership = (Membership.objects.filter(user=request.user).select_related("studio")
                  .order_by("studio__name").first())
    if membership is not None:
        return redirect("web:dashboard", membership.studio.slug)
    return render(request, "web/dashboard/board_no_studio.html", {"nav": "dashboard"})


# --- the calendar board ----------------------------------------------------------------------

@dataclass
class Tick:
    left: str
    label: str
    is_day: bool = False


@dataclass
class Block:
    """One thing drawn on a lane: a booking, a hold, a blackout or a buffer."""

    kind: str
    left: str
    width: str
    row: int
    title: str
    when: str
    status: str = ""
    code: str = ""
    url: str = ""
    is_conflict: bool = False
    is_sync_failing: bool = False
    starts_before: bool = False


@dataclass
class Lane:
    id: int
    name: str
    kind: str
    rows: int = 1
    blocks: list[Block] = field(default_factory=list)
    blackouts: list[Block] = field(default_factory=list)
    has_failing_calendar: bool = False
    new_url: str = ""


@dataclass(frozen=True)
class BoardState:
    """What the board shows: ``by`` room or staff, a ``view`` of a day or a week holding
    ``day`` (local dates from ``first_day``), over ``[start, end)`` in UTC. UTC matters:
    Python subtracts and compares two datetimes of the same zone by wall clock, which would
    make every local day 24 hours long."""

    by: str
    view: str
    day: date
    first_day: date
    start: datetime
    end: datetime

    def params(self, **changes) -> dict:
        values = {"by": self.by, "view": self.view, "date": self.day.isoformat()} | changes
        return {k: v for k, v in values.items() if v not in (None, "")}


def _board_state(studio: Studio, data) -> tuple[BoardState, BoardQueryForm]:
    form = BoardQueryForm(data)
    form.is_valid()
    cleaned = form.cleaned_data
    by = cleaned.get("by") or "room"
    view = cleaned.get("view") or "day"
    day = cleaned.get("date") or local_today(studio)
    first = day - timedelta(days=day.weekday()) if view == "week" else day  # ISO weeks
    last = first + timedelta(days=6) if view == "week" else day
    start = local_day_bounds(studio, first)[0].astimezone(UTC)
    end = local_day_bounds(studio, last)[1].astimezone(UTC)
    return BoardState(by, view, day, first, start, end), form


def _percent(instant: datetime, state: BoardState) -> float:
    total = (state.end - state.start).total_seconds()
    offset = (instant - state.start).total_seconds()
    return min(100.0, max(0.0, offset * 100 / total))


def _ticks(state: BoardState, studio: Studio) -> list[Tick]:
    """Hour marks for a day (every real hour: 23 or 25 across a DST change), day marks for
    a week."""
    zone = studio_zone(studio)
    ticks = []
    if state.view == "day":
        instant = state.start
        while instant < state.end:
            ticks.append(Tick(f"{_percent(instant, state):.4f}%", clock_label(instant, zone)))
            instant += timedelta(hours=1)
    else:
        for offset in range(7):
            day = state.first_day + timedelta(days=offset)
            day_start = local_day_bounds(studio, day)[0].astimezone(UTC)
            ticks.append(Tick(f"{_percent(day_start, state):.4f}%", day_label(day),
                              is_day=True))
    return ticks


def _block(kind: str, start: datetime, end: datetime, state: BoardState, studio: Studio, *,
           row: int = 0, title: str, **extra) -> Block:
    left, right = _percent(start, state), _percent(end, state)
    return Block(kind=kind, left=f"{left:.4f}%", width=f"{max(right - left, 0.0):.4f}%",
                 row=row, title=title,
                 when=span_label(start, end, studio.time_zone, with_day=state.view == "week"),
                 starts_before=start < state.start, **extra)


def _assign_rows(items: list[BoardItem]) -> dict[int, int]:
    """Overlapping items (an override, a hold beside a booking) go on separate rows of the
    lane so none hides another: the first row whose last item ended by then."""
    row_ends: list[datetime] = []
    rows = {}
    for item in sorted(items, key=lambda i: (i.blocked_from, i.start_at)):
        for index, ended in enumerate(row_ends):
            if ended <= item.blocked_from:
                row_ends[index] = item.blocked_to
                rows[id(item)] = index
                break
        else:
            rows[id(item)] = len(row_ends)
            row_ends.append(item.blocked_to)
    return rows


def _lanes(request, studio: Studio, state: BoardState, warnings: SyncWarnings) -> list[Lane]:
    board_lanes = calendar_board(actor=request.user, studio=studio, start=state.start,
                                 end=state.end, group_by=state.by, now=timezone.now())
    failing_lanes = warnings.failing_lanes(state.by)
    failing_codes = {rows[0].booking.code for rows in warnings.failed_syncs.values()}
    board_url = reverse("web:dashboard", args=[studio.slug])
    lanes = []
    for board_lane in board_lanes:
        lane = Lane(id=board_lane.id, name=board_lane.name, kind=state.by,
                    has_failing_calendar=board_lane.id in failing_lanes,
                    new_url=f"{board_url}?{urlencode(state.params(new=board_lane.id))}"
                            "#new-booking")
        occupying = [i for i in board_lane.items if i.kind != "blackout"]
        rows = _assign_rows(occupying)
        lane.rows = max([*rows.values(), 0]) + 1
        for item in board_lane.items:
            if item.kind == "blackout":
                lane.blackouts.append(_block("blackout", item.start_at, item.end_at, state,
                                             studio, title=item.label))
                continue
            row = rows[id(item)]
            if item.blocked_from < item.start_at:
                lane.blocks.append(_block("buffer", item.blocked_from, item.start_at, state,
                                          studio, row=row, title=f"Buffer before {item.label}"))
            lane.blocks.append(_block(
                item.kind, item.start_at, item.end_at, state, studio, row=row,
                title=item.label, status=item.status or "", code=item.booking_code or "",
                url=reverse("web:dashboard-booking", args=[studio.slug, item.booking_code])
                if item.booking_code else "",
                is_conflict=item.is_conflict,
                is_sync_failing=bool(item.booking_code and item.booking_code in failing_codes)))
            if item.blocked_to > item.end_at:
                lane.blocks.append(_block("buffer", item.end_at, item.blocked_to, state,
                                          studio, row=row, title=f"Buffer after {item.label}"))
        lanes.append(lane)
    return lanes


def _new_booking_initial(request, state: BoardState) -> dict:
    initial = {"date": state.day, "duration_minutes": 60, "kind": HOLD}
    lane_id = request.GET.get("new", "")
    if lane_id.isdigit():
        # Only the studio's active rooms and engineers are options: another id selects none.
        initial["room" if state.by == "room" else "staff"] = int(lane_id)
    return initial


def _render_board(request, studio: Studio, state: BoardState, query_form: BoardQueryForm,
                  new_form: NewBookingForm, *, status: int = 200):
    warnings = calendar_sync_warnings(studio=studio, ending_after=timezone.now())
    lanes = _lanes(request, studio, state, warnings)
    step = timedelta(days=7 if state.view == "week" else 1)
    board_url = reverse("web:dashboard", args=[studio.slug])

    def link(**changes) -> str:
        return f"{board_url}?{urlencode(state.params(**changes))}"

    context = {
        "studio": studio, "section": "board", "nav": "dashboard",
        "state": state, "query_form": query_form, "form": new_form,
        "lanes": lanes, "ticks": _ticks(state, studio), "warnings": warnings,
        "is_admin": request.studio_role == "admin",
        "range_label": _range_label(state),
        "start_ms": int(state.start.timestamp() * 1000),
        "end_ms": int(state.end.timestamp() * 1000),
        "links": {
            "previous": link(date=(state.day - step).isoformat()),
            "next": link(date=(state.day + step).isoformat()),
            "today": link(date=local_today(studio).isoformat()),
            "by_room": link(by="room"), "by_staff": link(by="staff"),
            "day": link(view="day"), "week": link(view="week"),
        },
        "new_action": reverse("web:dashboard-board-new", args=[studio.slug]),
        "grid_minutes": studio.slot_grid_minutes,
    }
    return render(request, "web/dashboard/board.html", context, status=status)


def _range_label(state: BoardState) -> str:
    if state.view == "day":
        return dateformat.format(state.day, "l j F Y")  # not strftime: no process locale
    last = state.first_day + timedelta(days=6)
    return f"{day_label(state.first_day)} – {day_label(last)} {last.year}"


@require_GET
@team_required
def board(request, studio: Studio):
    """``/dashboard/<slug>/?by=room|staff&view=day|week&date=YYYY-MM-DD``: the calendar
    board, with the "New booking here" form (``?new=<lane id>`` preselects a lane)."""
    state, query_form = _board_state(studio, request.GET)
    new_form = NewBookingForm(initial=_new_booking_initial(request, state),
                              studio=studio)
    return _render_board(request, studio, state, query_form, new_form,
                         status=422 if query_form.errors else 200)


@require_POST
@team_required
def board_new(request, studio: Studio):
    """POST from the board: a hold placed by the acting user (``place_hold``), or an admin
    booking (``create_booking(source=admin)``, admins only; "Override conflicts" is
    ``override=True``). Errors go next to the fields with 422 (input) or 409 (conflict),
    and nothing is written."""
    # The form's own "date" is the session's; the board it came from travels as board_*.
    state, query_form = _board_state(studio, {
        name: request.POST.get(f"board_{name}", "") for name in ("by", "view", "date")})
    form = NewBookingForm(request.POST, studio=studio)
    if not form.is_valid():
        return _render_board(request, studio, state, query_form, form, status=422)
    data = form.cleaned_data
    room, staff = data.get("room"), data.get("staff")
    where = {"room_id": room.id if room else None, "staff_ids": [staff.id] if staff else None}
    try:
        if data["kind"] == ADMIN_BOOKING:
            booking = services.create_booking(
                actor=request.user, studio=studio, service=data["service"],
                start_at=data["start_at"], duration_minutes=data["duration_minutes"],
                artist=data.get("artist"), override=data["override"],
                source=Booking.Source.ADMIN, **where)
            when = session_label(booking.service.name, booking.start_at, booking.end_at,
                                 studio.time_zone)
            messages.success(request, f"Booked {booking.code}: {when}.")
        else:
            hold = services.place_hold(
                actor=request.user, studio=studio, service=data["service"],
                start_at=data["start_at"], duration_minutes=data["duration_minutes"], **where)
            when = session_label(hold.service.name, hold.start_at, hold.end_at,
                                 studio.time_zone)
            expires = clock_label(hold.expires_at, studio_zone(studio))
            messages.success(request, f"Hold placed: {when}. It expires at {expires}.")
    except DomainError as error:
        add_domain_error(form, error, field_map=NEW_BOOKING_FIELDS)
        return _render_board(request, studio, state, query_form, form,
                             status=http_status(error))
    day = data["start_at"].astimezone(studio_zone(studio)).date()
    url = reverse("web:dashboard", args=[studio.slug])
    return redirect(f"{url}?{urlencode(state.params(date=day.isoformat()))}")


# --- the approval queue ----------------------------------------------------------------------

def _announce_decisions(request, results) -> None:
    for result in results:
        verb = "Approved" if result.decision == APPROVE else "Rejected"
        if result.is_done:
            messages.success(request, f"{verb} {result.code}.")
        else:
            messages.error(request, f"Could not {result.decision} {result.code}: "
                                    f"{result.message}.")


@require_http_methods(["GET", "POST"])
@team_required
def approvals(request, studio: Studio):
    """``/dashboard/<slug>/approvals``: bookings awaiting approval, newest first, with
    authorization-expiry warnings; admins approve or reject the selected ones at once
    (``bookings.queue.decide_bookings``), then see one result per booking."""
    form = DecisionForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                results = decide_bookings(
                    actor=request.user, studio=studio, codes=data["codes"],
                    decision=data["decision"], internal_note=data["internal_note"],
                    message_to_artist=data["message_to_artist"])
            except DomainError as error:
                add_domain_error(form, error)
                status = http_status(error)
            else:
                _announce_decisions(request, results)
                return redirect("web:dashboard-approvals", studio.slug)
        else:
            status = 422
    rows = approval_queue(actor=request.user, studio=studio)
    selected = set(getattr(form, "cleaned_data", {}).get("codes") or ())
    return render(request, "web/dashboard/approvals.html", {
        "studio": studio, "section": "approvals", "nav": "dashboard", "rows": rows,
        "form": form, "selected": selected, "is_admin": request.studio_role == "admin",
    }, status=status)


# --- the bookings table ----------------------------------------------------------------------

@require_GET
@team_required
def bookings(request, studio: Studio):
    """``/dashboard/<slug>/bookings``: every booking of the studio, latest session first,
    filtered by status, local date range, room, engineer and a search on code or artist
    email; 25 a page."""
    form = BookingFilterForm(request.GET or None, studio=studio)
    rows = (Booking.objects.filter(studio=studio)
            .select_related("user", "service", "room")
            .prefetch_related("assignments__staff", "payments")
            .order_by("-start_at", "-id"))
    status = 200
    is_filtered = False
    if form.is_bound:
        if not form.is_valid():
            status = 422
        data = form.cleaned_data  # the valid filters still apply
        if data.get("status"):
            rows = rows.filter(status=data["status"])
        if data.get("date_from"):
            rows = rows.filter(start_at__gte=local_day_bounds(studio, data["date_from"])[0])
        if data.get("date_to"):
            rows = rows.filter(start_at__lt=local_day_bounds(studio, data["date_to"])[1])
        if data.get("room"):
            rows = rows.filter(room=data["room"])
        if data.get("engineer"):
            rows = rows.filter(assignments__staff=data["engineer"])
        if data.get("q"):
            text = data["q"].strip()
            rows = rows.filter(Q(code__icontains=text) | _email_search(request.user, studio,
                                                                      text))
        is_filtered = any(data.get(name) for name in form.fields)
    page = Paginator(rows, BOOKINGS_PER_PAGE).get_page(request.GET.get("page"))
    for booking in page.object_list:
        booking.payment_state_label = payments.payment_state(booking,
                                                             list(booking.payments.all()))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "web/dashboard/bookings.html", {
        "studio": studio, "section": "bookings", "nav": "dashboard", "form": form,
        "page": page, "query": query.urlencode(), "is_filtered": is_filtered,
    }, status=status)


def _email_search(user, studio: Studio, text: str) -> Q:
    """The artist-email part of the bookings search: over every booking for an admin, over
    the user's own sessions for other staff, who may not see other artists' addresses
    (``can_view_contact``), so the search cannot tell them either."""
    matches = Q(user__email__icontains=text)
    if is_admin(user, studio):
        return matches
    return matches & Q(pk__in=Booking.objects.filter(studio=studio,
                                                     assignments__staff__user=user)
                       .values("pk"))


# --- one booking -----------------------------------------------------------------------------

def _booking_or_404(studio: Studio, code: str) -> Booking:
    booking = (Booking.objects.filter(studio=studio, code=code)
               .select_related("studio", "user", "service", "room", "approved_by")
               .prefetch_related("assignments__staff", "line_items", "payments__refunds")
               .first())
    if booking is None:
        raise Http404("no such booking at this studio")
    return booking


@dataclass(frozen=True)
class Acting:
    """Who acts (``actor``, an admin or not) on which ``booking``. The booking page also knows
    what is ``paid`` and ``due`` and whether a calendar push failed, to decide which actions
    to offer; a POST of an action needs none of that (its service decides)."""

    actor: Any
    is_admin: bool
    studio: Studio
    booking: Booking
    paid: int = 0
    due: int = 0
    has_failed_sync: bool = False

    def can(self, transition: str) -> bool:
        """Whether the state machine allows ``transition`` now (``services.can_transition``:
        completed and no-show only once the session has started)."""
        return services.can_transition(self.booking, transition, timezone.now())


@dataclass(frozen=True)
class Action:
    """An action on a booking. ``is_offered``: whether the booking page shows it (admin-only
    actions are left out for staff: their services would refuse with Forbidden); ``form``:
    its form, bound to the POST or, with ``data`` None, unbound as the page shows it;
    ``run``: calls the service with the cleaned data and returns the confirmation."""

    is_offered: Callable[[Acting], bool]
    form: Callable[[Acting, Any], Form]
    run: Callable[[Acting, dict], str]


def _money(amount_minor: int, booking: Booking) -> str:
    from studiobook.scheduling.money import format_money

    return format_money(amount_minor, booking.currency)


def _decide(decision: str) -> Callable[[Acting, dict], str]:
    def run(on: Acting, data: dict) -> str:
        decide_booking(actor=on.actor, booking=on.booking, decision=decision,
                       internal_note=data.get("internal_note", ""),
                       message_to_artist=data.get("message_to_artist", ""))
        return f"{'Approved' if decision == APPROVE else 'Rejected'} {on.booking.code}."
    return run


def _complete(on: Acting, data: dict) -> str:
    services.complete_booking(actor=on.actor, booking=on.booking)
    return f"Marked {on.booking.code} completed."


def _no_show(on: Acting, data: dict) -> str:
    services.mark_no_show(actor=on.actor, booking=on.booking)
    return f"Marked {on.booking.code} as a no-show."


def _assign_staff_form(on: Acting, data) -> AssignStaffForm:
    return AssignStaffForm(data, studio=on.studio, initial={
        "staff": [a.staff_id for a in on.booking.assignments.all()]})


def _assign_staff(on: Acting, data: dict) -> str:
    services.assign_staff(actor=on.actor, booking=on.booking,
                          staff_ids=[s.id for s in data["staff"]], override=data["override"])
    return f"Engineers of {on.booking.code} updated."


def _cancel_form(on: Acting, data) -> CancelForm:
    """Bound, the form as posted; unbound, with the refund the cancellation would make now
    (``preview``, shown and sent back as ``expected_refund_minor``)."""
    if data is not None:
        return CancelForm(data)
    preview = services.preview_cancellation(actor=on.actor, booking=on.booking)
    form = CancelForm(initial={"expected_refund_minor": preview.refund_minor})
    form.preview = preview
    return form


def _cancel(on: Acting, data: dict) -> str:
    _, preview = services.cancel_booking(
        actor=on.actor, booking=on.booking, reason=data["reason"].strip(),
        expected_refund_minor=data["expected_refund_minor"])
    return f"Canceled {on.booking.code}; refund {_money(preview.refund_minor, on.booking)}."


def _payment(on: Acting, data: dict) -> str:
    payments.record_offline_payment(actor=on.actor, booking=on.booking,
                                    amount_minor=data["amount"], note=data["note"])
    return f"Recorded a payment of {_money(data['amount'], on.booking)}."


def _refund(on: Acting, data: dict) -> str:
    payments.admin_refund(actor=on.actor, booking=on.booking, amount_minor=data["amount"],
                          reason=data["reason"])
    return f"Refunded {_money(data['amount'], on.booking)}."


def _resync(on: Acting, data: dict) -> str:
    from studiobook.calendars.services import resync_booking

    resync_booking(actor=on.actor, booking=on.booking)
    return "Calendar sync queued again."


# Slug (in the action's URL, and its key in the page's forms) -> action, in page order.
ACTIONS: dict[str, Action] = {
    "approve": Action(lambda on: on.is_admin and on.can("approve"),
                      lambda on, data: ApproveForm(data), _decide(APPROVE)),
    "reject": Action(lambda on: on.is_admin and on.can("reject"),
                     lambda on, data: RejectForm(data), _decide(REJECT)),
    "complete": Action(lambda on: on.can("complete"),
                       lambda on, data: EmptyForm(data), _complete),
    "no-show": Action(lambda on: on.can("mark_no_show"),
                      lambda on, data: EmptyForm(data), _no_show),
    "assign-staff": Action(lambda on: on.is_admin and on.booking.is_blocking,
                           _assign_staff_form, _assign_staff),
    "cancel": Action(lambda on: on.is_admin and on.can("cancel"), _cancel_form, _cancel),
    "payment": Action(lambda on: on.due > 0,
                      lambda on, data: OfflinePaymentForm(data, currency=on.booking.currency),
                      _payment),
    "refund": Action(lambda on: on.is_admin and on.paid > 0,
                     lambda on, data: RefundForm(data, currency=on.booking.currency), _refund),
    "resync": Action(lambda on: on.is_admin and on.has_failed_sync,
                     lambda on, data: EmptyForm(data), _resync),
}


def _render_booking(request, studio: Studio, booking: Booking, *, bound: tuple | None = None,
                    status: int = 200):
    """The booking page; ``bound`` is ``(slug, form)`` of an action posted with errors."""
    from studiobook.calendars.models import CalendarState, CalendarSync

    booking_payments = list(booking.payments.all())
    # The limits record_offline_payment and refund apply, from the rows already loaded.
    money = {"paid": payments.paid_minor(booking, booking_payments),
             "due": payments.due_minor(booking_payments)}
    syncs = list(CalendarSync.objects.filter(booking=booking).select_related("staff"))
    is_admin = request.studio_role == "admin"
    on = Acting(request.user, is_admin, studio, booking, paid=money["paid"], due=money["due"],
                has_failed_sync=any(s.status == CalendarSync.Status.FAILED for s in syncs))
    forms = {slug: action.form(on, None) for slug, action in ACTIONS.items()
             if action.is_offered(on)}
    action_errors: list[str] = []
    if bound is not None:
        slug, form = bound
        if slug in forms:
            if slug == "cancel":
                form.preview = forms["cancel"].preview
            forms[slug] = form
        else:
            # The action is not offered (any more): its error goes above the actions.
            action_errors = [str(e) for errors in form.errors.values() for e in errors]
    context = {
        "studio": studio, "section": "bookings", "nav": "dashboard", "booking": booking,
        "payments": booking_payments, "money": money,
        "payment_state": payments.payment_state(booking, booking_payments),
        "authorization": payments.capture_deadline(booking, booking_payments),
        "staff": [a.staff for a in booking.assignments.all()],
        "audit": _audit_trail(studio, booking),
        "calendar_state": CalendarState.objects.filter(booking=booking).first(),
        "syncs": syncs, "forms": forms, "is_admin": is_admin,
        "action_errors": action_errors,
    }
    return render(request, "web/dashboard/booking.html", context, status=status)


def _audit_trail(studio: Studio, booking: Booking) -> list[dict]:
    """The booking's audit rows, oldest first, each diff as ("field", "old → new") pairs."""
    entries = []
    for row in AuditLog.objects.filter(studio=studio, entity="booking",
                                       entity_id=booking.code).select_related("actor"):
        changes = []
        for key, value in (row.diff or {}).items():
            if value in ("", None, [], {}):
                continue
            if isinstance(value, list) and len(value) == 2:
                value = f"{'—' if value[0] is None else value[0]} → {value[1]}"
            changes.append((key.replace("_", " "), value))
        entries.append({"created_at": row.created_at, "actor": row.actor,
                        "action": row.action, "changes": changes})
    return entries


@require_GET
@team_required
def booking(request, studio: Studio, code: str):
    """``/dashboard/<slug>/bookings/<code>``: the booking's details (quote lines, payments,
    refunds, audit trail, calendar sync) and the actions its state allows."""
    return _render_booking(request, studio, _booking_or_404(studio, code))


@require_POST
@team_required
def booking_action(request, studio: Studio, code: str, action: str):
    """POST ``/dashboard/<slug>/bookings/<code>/<action>``, ``action`` a slug of ``ACTIONS``.
    The service decides who may (a staff member asking for an admin action gets its
    Forbidden as 403) and whether the state allows it (409); bad input is 422; nothing is
    written then."""
    booking = _booking_or_404(studio, code)
    if action not in ACTIONS:
        raise Http404("no such action")
    on = Acting(request.user, request.studio_role == "admin", studio, booking)
    form = ACTIONS[action].form(on, request.POST)
    if not form.is_valid():
        return _render_booking(request, studio, booking, bound=(action, form), status=422)
    try:
        confirmation = ACTIONS[action].run(on, form.cleaned_data)
    except DomainError as error:
        add_domain_error(form, error, field_map={**MONEY_FIELDS, "staff_ids": "staff"})
        return _render_booking(request, studio, _booking_or_404(studio, code),
                               bound=(action, form), status=http_status(error))
    messages.success(request, confirmation)
    return redirect("web:dashboard-booking", studio.slug, code)


urlpatterns = [
    path("", board, name="dashboard"),
    path("board/new", board_new, name="dashboard-board-new"),
    path("approvals", approvals, name="dashboard-approvals"),
    path("bookings", bookings, name="dashboard-bookings"),
    path("bookings/<str:code>", booking, name="dashboard-booking"),
    path("bookings/<str:code>/<slug:action>", booking_action,
         name="dashboard-booking-action"),
]
