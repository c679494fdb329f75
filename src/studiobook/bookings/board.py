"""The studio calendar board (recording-studio-prd.md section 16, /admin/calendar): bookings,
live holds and blackouts per room or engineer over a range, with conflicts flagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from studiobook.bookings.models import Allocation
from studiobook.studios.models import Blackout, Room, StaffMember, Studio, Target
from studiobook.studios.permissions import require_team


@dataclass
class BoardItem:
    kind: str  # booking | hold | blackout
    start_at: datetime
    end_at: datetime
    label: str
    blocked_from: datetime | None = None  # the span widened by buffers
    blocked_to: datetime | None = None
    booking_code: str | None = None
    status: str | None = None
    is_conflict: bool = False


@dataclass
class BoardLane:
    id: int
    name: str
    items: list[BoardItem] = field(default_factory=list)


def calendar_board(*, actor, studio: Studio, start: datetime, end: datetime, group_by: str,
                   now: datetime) -> list[BoardLane]:
    """One lane per active room (``group_by="room"``) or engineer (``"staff"``) with what
    occupies it in [start, end) (UTC). An item whose blocked span overlaps another blocking
    item of the same lane (an admin override) has ``is_conflict``. Staff and admins only."""
    require_team(actor, studio)
    by_room = group_by == "room"
    resources = (Room if by_room else StaffMember).objects.for_studio(studio).filter(
        is_active=True)
    lanes = {r.id: BoardLane(r.id, str(r)) for r in resources}
    resource_field = "room_id" if by_room else "staff_id"
    allocations = (
        Allocation.objects.blocking(now)
        .filter(studio=studio, start_at__lt=end, end_at__gt=start,
                **{f"{resource_field}__in": list(lanes)})
        .select_related("booking", "hold", "booking__service", "hold__service")
        .order_by("start_at", "id")
    )
    for allocation in allocations:
        owner = allocation.booking or allocation.hold
        is_booking = allocation.booking is not None
        lanes[getattr(allocation, resource_field)].items.append(BoardItem(
            kind="booking" if is_booking else "hold",
            start_at=owner.start_at, end_at=owner.end_at,
            blocked_from=allocation.start_at, blocked_to=allocation.end_at,
            label=f"{owner.service.name} ({owner.code})" if is_booking
            else f"Hold: {owner.service.name}",
            booking_code=owner.code if is_booking else None,
            status=owner.status,
        ))
    target = Target.ROOM if by_room else Target.STAFF
    blackouts = Blackout.objects.for_studio(studio).filter(
        Q(target_type=Target.STUDIO) | Q(target_type=target),
        start_at__lt=end, end_at__gt=start)
    for blackout in blackouts:
        lane_ids = list(lanes) if blackout.target_type == Target.STUDIO else [
            blackout.room_id if by_room else blackout.staff_id]
        for lane_id in lane_ids:
            if lane_id in lanes:
                lanes[lane_id].items.append(BoardItem(
                    kind="blackout", start_at=blackout.start_at, end_at=blackout.end_at,
                    label=blackout.reason or "Blackout"))
    for lane in lanes.values():
        _flag_conflicts(lane.items)
        lane.items.sort(key=lambda i: (i.start_at, i.kind))
    return list(lanes.values())


def _flag_conflicts(items: list[BoardItem]) -> None:
    blocking = sorted((i for i in items if i.kind != "blackout"),
                      key=lambda i: i.blocked_from)
    latest_end, latest_item = None, None
    for item in blocking:
        if latest_end is not None and item.blocked_from < latest_end:
            item.is_conflict = latest_item.is_conflict = True
        if latest_end is None or item.blocked_to > latest_end:
            latest_end, latest_item = item.blocked_to, item
