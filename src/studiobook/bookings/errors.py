"""Booking domain errors (stable ``code`` strings; the API maps them to HTTP statuses)."""

from __future__ import annotations

from studiobook.studios.errors import Conflict


class SlotUnavailable(Conflict):
    """The slot cannot be held or booked. ``extra["reason"]`` is the core's rule code
    (lead_time, horizon, off_grid, outside_hours, blackout, busy, no_engineer)."""

    code = "slot_unavailable"


class IllegalTransition(Conflict):
    """A booking cannot move from its status by this action (see ``TRANSITIONS``)."""

    code = "illegal_transition"


class SessionNotStarted(IllegalTransition):
    """Completed and no-show record what happened at a session: not before it starts
    (``AFTER_START_ACTIONS`` in ``bookings.services``). ``extra["start_at"]`` is the start
    (UTC)."""

    code = "session_not_started"


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"


class HoldNotActive(Conflict):
    code = "hold_not_active"


class ResourceBusy(Conflict):
    """Another request held the room or engineer for longer than the lock timeout."""

    code = "resource_busy"


class UnpaidLimitReached(Conflict):
    """The artist already has as many upcoming unpaid bookings (or hours of them) at this
    studio as it allows. ``rule`` names the setting: ``max_unpaid_bookings`` or
    ``max_unpaid_hours``; ``extra`` carries the figures."""

    code = "unpaid_limit_reached"

    def __init__(self, message: str, *, rule: str, extra: dict | None = None):
        super().__init__(message, field=None, extra=extra)
        self.rule = rule
