"""The read side of the outbox, as the stream server needs it: plain synchronous ORM
functions (the stream server runs them in its database threads) that return ``Change``
objects whose SSE bytes are encoded once, however many clients receive them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

FIELDS = ("id", "studio_id", "room_ids", "staff_ids", "start_at", "end_at", "created_at")


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    studio_id: int
    room_ids: frozenset[int]
    staff_ids: frozenset[int]
    payload: bytes  # the whole SSE event: id, event and data lines, blank line


@dataclass(frozen=True, slots=True)
class CatchUp:
    changes: list[Change]
    # None, or why the client must start over: "expired" (its Last-Event-ID was pruned),
    # "unknown" (an id this database never gave), "too_many" (more missed than we replay).
    reset: str | None
    newest_id: int


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_data(row: dict) -> dict:
    """The JSON of an ``availability`` event (docs/live-availability.md)."""
    return {"id": row["id"], "room_ids": list(row["room_ids"]),
            "staff_ids": list(row["staff_ids"]), "start": _utc(row["start_at"]),
            "end": _utc(row["end_at"]), "at": _utc(row["created_at"])}


def sse(event: str, data: dict, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def to_change(row: dict) -> Change:
    return Change(id=row["id"], studio_id=row["studio_id"],
                  room_ids=frozenset(row["room_ids"]), staff_ids=frozenset(row["staff_ids"]),
                  payload=sse("availability", event_data(row), row["id"]))


def latest_id() -> int:
    from studiobook.live.models import AvailabilityChange

    return AvailabilityChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


def changes_after(after_id: int, limit: int) -> list[Change]:
    """Every studio's changes with ``id > after_id``, oldest first, at most ``limit``."""
    from studiobook.live.models import AvailabilityChange

    rows = AvailabilityChange.objects.filter(id__gt=after_id).order_by("id").values(*FIELDS)
    return [to_change(row) for row in rows[:limit]]


def studio_id_for(slug: str) -> int | None:
    from studiobook.studios.models import Studio

    return Studio.objects.filter(slug=slug).values_list("id", flat=True).first()


def catch_up(studio_id: int, after_id: int, limit: int) -> CatchUp:
    """What a client that last saw ``after_id`` missed at ``studio_id``, or why it cannot be
    told (then it should re-run its searches)."""
    from django.db.models import Max, Min

    from studiobook.live.models import AvailabilityChange

    bounds = AvailabilityChange.objects.aggregate(oldest=Min("id"), newest=Max("id"))
    oldest, newest = bounds["oldest"] or 0, bounds["newest"] or 0
    if after_id > newest:
        return CatchUp([], "unknown", newest)
    if after_id + 1 < oldest:
        return CatchUp([], "expired", newest)
    rows = list(AvailabilityChange.objects.filter(studio_id=studio_id, id__gt=after_id)
                .order_by("id").values(*FIELDS)[:limit + 1])
    if len(rows) > limit:
        return CatchUp([], "too_many", newest)
    return CatchUp([to_change(row) for row in rows], None, newest)
