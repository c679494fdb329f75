"""Booking events: what happened to a booking, a hold or a resource's availability, handed to
the side-effect handlers (notifications, calendar sync, live availability) after the
transaction commits (ARCHITECTURE.md principle 6).

The booking services call ``publish``; apps register handlers with ``subscribe`` in their
``AppConfig.ready()``. Handlers should be quick (they run in the request, after commit):
enqueue a task and return. A failing handler is logged and never undoes the booking nor stops
the other handlers.

Event names and their ``data``:

- ``booking.submitted``: created and awaiting approval
- ``booking.confirmed``: created confirmed, or approved (``data["approved"]``: bool)
- ``booking.rejected`` (``reason``), ``booking.canceled`` (``reason``, ``refund_minor``)
- ``booking.rescheduled`` (``old_start_at``, ``old_end_at`` ISO strings)
- ``booking.completed``, ``booking.no_show``, ``booking.staff_changed``
- ``payment.action_needed`` (``payment_id``, ``action_url``), ``payment.failed``
- ``availability.changed`` (``room_ids``, ``staff_ids``: lists; ``start``, ``end``: ISO UTC
  strings): a hold or booking took or released time on those resources
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    name: str
    studio_id: int
    booking_id: int | None = None
    data: dict = field(default_factory=dict)


Handler = Callable[[Event], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(name: str, handler: Handler) -> None:
    """Call ``handler(event)`` after commit for each event ``name`` (``"*"`` for all)."""
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def publish(name: str, *, studio_id: int, booking_id: int | None = None, **data) -> None:
    """Hand ``name`` to its handlers once the current transaction commits (at once when
    there is none)."""
    event = Event(name=name, studio_id=studio_id, booking_id=booking_id, data=data)
    transaction.on_commit(lambda: dispatch(event))


def publish_availability(studio_id: int, spans, *, booking_id: int | None = None) -> None:
    """``availability.changed`` for ``spans``: (``"room"`` | ``"staff"``, id, span) triples
    whose span has UTC ``start`` and ``end``. Nothing for no spans."""
    spans = list(spans)
    if not spans:
        return
    publish("availability.changed", studio_id=studio_id, booking_id=booking_id,
            room_ids=sorted({i for kind, i, _ in spans if kind == "room"}),
            staff_ids=sorted({i for kind, i, _ in spans if kind == "staff"}),
            start=min(span.start for *_, span in spans).isoformat(),
            end=max(span.end for *_, span in spans).isoformat())


def dispatch(event: Event) -> None:
    for handler in [*_handlers.get(event.name, ()), *_handlers.get("*", ())]:
        try:
            handler(event)
        except Exception:
            logger.exception("handler %r failed for %s", handler, event.name)
