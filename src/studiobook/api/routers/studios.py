"""Public studio data, availability search, quotes and holds, under /api/studios/{slug}/."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from ninja import Router, Status

from studiobook.api.auth import signed_in
from studiobook.api.routers.common import get_in_studio, get_studio
from studiobook.api.schemas import (
    HoldOut,
    Message,
    QuoteOut,
    RoomOut,
    SearchIn,
    SearchOut,
    ServiceOut,
    SlotIn,
    StaffOut,
    StudioOut,
    basis_points_or_none,
)
from studiobook.bookings import policies, pricing, services
from studiobook.bookings.availability import search_slots, validate_duration
from studiobook.bookings.models import Hold
from studiobook.scheduling.money import format_percent_ppm
from studiobook.studios.errors import InvalidInput, NotFound
from studiobook.studios.models import Room, Service, StaffMember, Studio

router = Router(tags=["studios"])


@router.get("", response=list[StudioOut])
def list_studios(request, q: str = "", city: str = ""):
    """Studios, optionally filtered by name (``q``) and ``city`` (case-insensitive)."""
    studios = Studio.objects.all()
    if q:
        studios = studios.filter(name__icontains=q)
    if city:
        studios = studios.filter(city__icontains=city)
    return list(studios)


@router.get("/{slug}", response=StudioOut)
def studio_detail(request, slug: str):
    return get_studio(slug)


@router.get("/{slug}/rooms", response=list[RoomOut])
def list_rooms(request, slug: str):
    return list(Room.objects.for_studio(get_studio(slug)).filter(is_active=True))


@router.get("/{slug}/services", response=list[ServiceOut])
def list_services(request, slug: str):
    return list(Service.objects.for_studio(get_studio(slug)).filter(is_active=True))


@router.get("/{slug}/staff", response=list[StaffOut])
def list_staff(request, slug: str):
    return list(StaffMember.objects.for_studio(get_studio(slug)).filter(is_active=True))


def _service(studio: Studio, service_id: int | None) -> Service:
    if service_id is None:
        service = Service.objects.for_studio(studio).filter(is_active=True).first()
        if service is None:
            raise NotFound("this studio offers no services yet", field="service_id")
        return service
    service = get_in_studio(Service, studio, service_id, field="service_id")
    if not service.is_active:
        raise InvalidInput(f"{service.name} is no longer offered", field="service_id",
                           rule="active")
    return service


def _local_day(studio: Studio, day) -> tuple[datetime, datetime]:
    zone = ZoneInfo(studio.time_zone)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@router.post("/{slug}/availability/search", response=SearchOut)
def availability_search(request, slug: str, payload: SearchIn):
    """Free slots for a service and duration on a local ``date`` (the studio's zone) or in
    [from, to). Each slot names its room, the engineers free for it, and its price."""
    studio = get_studio(slug)
    service = _service(studio, payload.service_id)
    if payload.date is not None:
        start, end = _local_day(studio, payload.date)
    else:
        start, end = payload.from_, payload.to
    slots = search_slots(
        studio=studio, service=service, duration_minutes=payload.duration_min,
        range_start=start, range_end=end, now=timezone.now(), room_id=payload.room_id,
        staff_skill=payload.staff_skill,
    )
    return {
        "time_zone": studio.time_zone, "currency": studio.currency, "service_id": service.id,
        "duration_min": payload.duration_min,
        "slots": [{"start_at": s.start, "end_at": s.end, "room_id": s.room_id,
                   "staff_ids": list(s.staff_ids), "price_cents": s.price_minor}
                  for s in slots],
    }


def add_ons_of(studio: Studio, add_ons) -> list[tuple[Service, int]]:
    return [(get_in_studio(Service, studio, a.service_id, field="add_ons"), a.quantity)
            for a in add_ons]


def quote_out(quote, policy_summary: str) -> dict:
    def lines(items):
        return [{"description": i.description, "quantity": i.quantity,
                 "unit_price_cents": i.unit_price_minor, "total_cents": i.total_minor}
                for i in items]

    return {"currency": quote.currency, "lines": lines(quote.lines), "fees": lines(quote.fees),
            "subtotal_cents": quote.subtotal_minor,
            "taxes": [{"name": t.name, "rate_percent": format_percent_ppm(t.rate_ppm),
                       "rate_ppm": t.rate_ppm,
                       "rate_basis_points": basis_points_or_none(t.rate_ppm),
                       "amount_cents": t.amount_minor} for t in quote.taxes],
            "taxes_cents": quote.tax_total_minor, "total_cents": quote.total_minor,
            "deposit_cents": quote.deposit_minor, "balance_cents": quote.balance_minor,
            "policy_summary": policy_summary}


@router.post("/{slug}/quote", response=QuoteOut)
def quote(request, slug: str, payload: SlotIn):
    """The price of a prospective booking: lines, fees, each tax (half-even per line), total,
    deposit and balance, and the cancellation and reschedule policy in words."""
    studio = get_studio(slug)
    service = _service(studio, payload.service_id)
    validate_duration(service, payload.duration_min)
    result = pricing.quote_booking(studio=studio, service=service,
                                   duration_minutes=payload.duration_min,
                                   add_ons=add_ons_of(studio, payload.add_ons))
    summary = policies.snapshot(studio, service)["summary"]
    return quote_out(result, summary)


def hold_out(hold: Hold) -> dict:
    return {"hold_id": hold.token, "expires_at": hold.expires_at, "start_at": hold.start_at,
            "end_at": hold.end_at, "room_id": hold.room_id, "staff_ids": hold.staff_ids}


@router.post("/{slug}/holds", response={201: HoldOut}, auth=signed_in)
def place_hold(request, slug: str, payload: SlotIn):
    """Hold a slot for the studio's hold time (10 minutes by default)."""
    studio = get_studio(slug)
    hold = services.place_hold(
        actor=request.user, studio=studio, service=_service(studio, payload.service_id),
        start_at=payload.start_at, duration_minutes=payload.duration_min,
        room_id=payload.room_id, staff_ids=payload.staff_ids,
    )
    return Status(201, hold_out(hold))


@router.delete("/{slug}/holds/{hold_id}", response=Message, auth=signed_in)
def release_hold(request, slug: str, hold_id: str):
    """Give a hold back before it expires."""
    studio = get_studio(slug)
    hold = Hold.objects.filter(studio=studio, token=hold_id, user=request.user).first()
    if hold is None:
        raise NotFound(f"hold {hold_id} not found", field="hold_id")
    services.release_hold(actor=request.user, hold=hold)
    return {"detail": "hold released"}
