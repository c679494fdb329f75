"""Studio administration under /api/studios/{slug}/admin/: the approval queue, approve,
reject, assign staff, complete, no-show, the calendar board, and CRUD for rooms, services,
staff, schedule rules, blackouts and buffer rules. Roles are checked by the services."""


from typing import Literal

from django.http import HttpResponse
from django.utils import timezone
from ninja import Router, Status

from studiobook.api.auth import signed_in
from studiobook.api.routers.common import (
    booking_out,
    bookings_queryset,
    get_booking_for,
    get_in_studio,
    get_studio,
)
from studiobook.api.schemas import (
    ApproveIn,
    AssignStaffIn,
    BlackoutIn,
    BlackoutOut,
    BookingOut,
    BufferIn,
    BufferOut,
    CalendarOut,
    FeeIn,
    FeeOut,
    Message,
    OfflinePaymentIn,
    ReasonIn,
    RefundIn,
    RoomIn,
    RoomOut,
    ScheduleRuleIn,
    ScheduleRuleOut,
    ServiceIn,
    ServiceOut,
    StaffIn,
    StaffOut,
    StaffUpdateIn,
    StudioOut,
    StudioSettingsIn,
    TaxRateIn,
    TaxRateOut,
)
from studiobook.api.types import Instant
from studiobook.bookings import services
from studiobook.bookings.board import calendar_board
from studiobook.bookings.models import Booking
from studiobook.payments import reports
from studiobook.payments import services as payments
from studiobook.studios import services as studio_services
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import (
    Blackout,
    BufferRule,
    Fee,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    TaxRate,
)
from studiobook.studios.permissions import require_admin, require_team

router = Router(tags=["admin"], auth=signed_in)
PREFIX = "/{slug}/admin"
MAX_BOARD_DAYS = 42


# --- bookings ------------------------------------------------------------------------------

@router.get(PREFIX + "/bookings", response=list[BookingOut])
def list_bookings(request, slug: str, status: str = "", limit: int = 200):
    """Bookings of the studio, newest first; ``status=awaiting_approval`` is the approval
    queue. Staff and admins."""
    studio = get_studio(slug)
    require_team(request.user, studio)
    rows = bookings_queryset().filter(studio=studio).order_by("-created_at", "-id")
    if status:
        if status not in Booking.Status.values:
            raise InvalidInput(f"status must be one of {', '.join(Booking.Status.values)}",
                               field="status", rule="choice")
        rows = rows.filter(status=status)
    return [booking_out(b, viewer=request.user) for b in rows[: max(1, min(limit, 500))]]


def _act(request, slug: str, code: str, action, **kwargs) -> dict:
    studio = get_studio(slug)
    booking = get_booking_for(request.user, code, studio=studio)
    action(actor=request.user, booking=booking, **kwargs)
    return booking_out(bookings_queryset().get(pk=booking.pk), viewer=request.user)


@router.post(PREFIX + "/bookings/{code}/approve", response=BookingOut)
def approve(request, slug: str, code: str, payload: ApproveIn):
    return _act(request, slug, code, services.approve_booking, note=payload.message)


@router.post(PREFIX + "/bookings/{code}/reject", response=BookingOut)
def reject(request, slug: str, code: str, payload: ReasonIn):
    return _act(request, slug, code, services.reject_booking, reason=payload.reason)


@router.post(PREFIX + "/bookings/{code}/complete", response=BookingOut)
def complete(request, slug: str, code: str):
    return _act(request, slug, code, services.complete_booking)


@router.post(PREFIX + "/bookings/{code}/no-show", response=BookingOut)
def no_show(request, slug: str, code: str):
    return _act(request, slug, code, services.mark_no_show)


@router.post(PREFIX + "/bookings/{code}/assign-staff", response=BookingOut)
def assign_staff(request, slug: str, code: str, payload: AssignStaffIn):
    return _act(request, slug, code, services.assign_staff, staff_ids=payload.staff_ids,
                override=payload.override)


@router.post(PREFIX + "/bookings/{code}/refund", response=BookingOut)
def refund(request, slug: str, code: str, payload: RefundIn):
    """A full or partial refund with a reason (at most what was captured and not refunded)."""
    studio = get_studio(slug)
    booking = get_booking_for(request.user, code, studio=studio)
    payments.admin_refund(actor=request.user, booking=booking,
                          amount_minor=payload.amount_cents, reason=payload.reason)
    return booking_out(bookings_queryset().get(pk=booking.pk), viewer=request.user)


@router.post(PREFIX + "/bookings/{code}/payments", response=BookingOut)
def record_payment(request, slug: str, code: str, payload: OfflinePaymentIn):
    """Record money received at the studio or by invoice (offline gateway)."""
    studio = get_studio(slug)
    booking = get_booking_for(request.user, code, studio=studio)
    payments.record_offline_payment(actor=request.user, booking=booking,
                                    amount_minor=payload.amount_cents, note=payload.note)
    return booking_out(bookings_queryset().get(pk=booking.pk), viewer=request.user)


@router.get(PREFIX + "/payouts.csv")
def payouts_csv(request, slug: str, start: Instant, end: Instant):
    """Per booking with money moved in [start, end): captured, refunded, taxes, platform
    fee and the studio's net, as CSV (minor units)."""
    studio = get_studio(slug)
    require_admin(request.user, studio)
    if end <= start:
        raise InvalidInput("end must be after start", field="end", rule="after_start")
    response = HttpResponse(reports.payout_csv(studio=studio, start=start, end=end),
                            content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="payouts-{slug}.csv"'
    return response


@router.put(PREFIX + "/settings", response=StudioOut)
def update_settings(request, slug: str, payload: StudioSettingsIn):
    """Change booking and payment settings; only the fields given (a field sent as null is
    a 422: leave it out to keep its value)."""
    studio = get_studio(slug)
    data = payload.dict(exclude_unset=True)
    for name, value in data.items():
        if value is None:
            raise InvalidInput(f"{name} may not be null; leave it out to keep its value",
                               field=name, rule="not_null")
    return studio_services.update_settings(actor=request.user, studio=studio, data=data)


@router.get(PREFIX + "/calendar", response=CalendarOut)
def calendar_view(request, slug: str, start: Instant, end: Instant,
                  group_by: Literal["room", "staff"] = "room"):
    """The board for [start, end) (UTC instants, at most 42 days), one lane per room or
    engineer, bookings, live holds and blackouts, conflicts flagged."""
    studio = get_studio(slug)
    if end <= start:
        raise InvalidInput("end must be after start", field="end", rule="after_start")
    if (end - start).days > MAX_BOARD_DAYS:
        raise InvalidInput(f"at most {MAX_BOARD_DAYS} days", field="end", rule="max_range")
    lanes = calendar_board(actor=request.user, studio=studio, start=start, end=end,
                           group_by=group_by, now=timezone.now())
    return {"time_zone": studio.time_zone, "group_by": group_by,
            "lanes": [{"id": lane.id, "name": lane.name,
                       "items": [vars(item) for item in lane.items]} for lane in lanes]}


# --- CRUD ----------------------------------------------------------------------------------

def _data(payload, *, exclude_unset: bool = False) -> dict:
    """The service's ``data`` from a payload: its own ``service_data()`` when it has one (a
    tax rate turns its percent into parts per million), else its fields."""
    if hasattr(payload, "service_data"):
        return payload.service_data()
    return payload.dict(exclude_unset=exclude_unset)


def _crud(path: str, model, schema_in, schema_out, *, create: bool = True) -> None:
    """list, create, update (PUT, the whole object) and delete for a studio resource."""

    def listing(request, slug: str):
        studio = get_studio(slug)
        require_team(request.user, studio)
        return list(model.objects.for_studio(studio))

    def creating(request, slug: str, payload: schema_in):
        studio = get_studio(slug)
        require_admin(request.user, studio)
        return Status(201, studio_services.save(actor=request.user, studio=studio, model=model,
                                                data=_data(payload)))

    def updating(request, slug: str, item_id: int, payload: schema_in):
        studio = get_studio(slug)
        require_admin(request.user, studio)
        instance = get_in_studio(model, studio, item_id)
        return studio_services.save(actor=request.user, studio=studio, model=model,
                                    data=_data(payload, exclude_unset=schema_in is StaffUpdateIn),
                                    instance=instance)

    def deleting(request, slug: str, item_id: int):
        studio = get_studio(slug)
        require_admin(request.user, studio)
        studio_services.remove(actor=request.user, studio=studio,
                               instance=get_in_studio(model, studio, item_id))
        return {"detail": "removed"}

    name = model._meta.model_name
    for function, verb in ((listing, "list"), (creating, "create"), (updating, "update"),
                           (deleting, "delete")):
        function.__name__ = f"{verb}_{name}"
    router.get(f"{PREFIX}/{path}", response=list[schema_out])(listing)
    if create:
        router.post(f"{PREFIX}/{path}", response={201: schema_out})(creating)
    router.put(f"{PREFIX}/{path}/{{item_id}}", response=schema_out)(updating)
    router.delete(f"{PREFIX}/{path}/{{item_id}}", response=Message)(deleting)


_crud("rooms", Room, RoomIn, RoomOut)
_crud("services", Service, ServiceIn, ServiceOut)
_crud("staff", StaffMember, StaffUpdateIn, StaffOut, create=False)
_crud("schedule-rules", ScheduleRule, ScheduleRuleIn, ScheduleRuleOut)
_crud("blackouts", Blackout, BlackoutIn, BlackoutOut)
_crud("buffers", BufferRule, BufferIn, BufferOut)
_crud("taxes", TaxRate, TaxRateIn, TaxRateOut)
_crud("fees", Fee, FeeIn, FeeOut)


@router.post(PREFIX + "/staff", response={201: StaffOut})
def create_staff(request, slug: str, payload: StaffIn):
    """Add an engineer by email (the account is created when it does not exist)."""
    studio = get_studio(slug)
    return Status(201, studio_services.add_staff_member(
        actor=request.user, studio=studio, email=payload.email,
        display_name=payload.display_name, skills=payload.skills,
        hourly_rate_minor=payload.hourly_rate_minor, role=payload.role))

