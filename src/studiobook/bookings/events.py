"""Booking events: what happened to a booking, a hold or a resource's availability, handed to
the side-effect handlers (notifications, calendar sync, live availability; ARCHITECTURE.md
principle 6).

The booking services call ``publish`` inside their transaction; apps register handlers in
their ``AppConfig.ready()`` in one of two ways:

- ``subscribe_in_transaction``: the handler runs at once, inside the publishing transaction
  (in a savepoint of its own), and writes the rows the change needs (Notification rows,
  CalendarSync rows, the outbox row), enqueuing their tasks with ``jobs.enqueue_after_commit``.
  The rows commit with the booking or not at all, so a process killed between the commit and
  the enqueue leaves rows that a periodic sweep finds again (issue 9 section 3). Only quick
  database writes belong here: no network call.
- ``subscribe``: the handler runs after the transaction commits, in the request (nothing that
  must survive a crash).

A failing handler is logged and never undoes the booking nor stops the other handlers (an
in-transaction one is rolled back to its savepoint).

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
_in_transaction_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(name: str, handler: Handler) -> None:
    """Call ``handler(event)`` after commit for each event ``name`` (``"*"`` for all)."""
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def subscribe_in_transaction(name: str, handler: Handler) -> None:
    """Call ``handler(event)`` inside the publishing transaction, in a savepoint, for each
    event ``name`` (``"*"`` for all). For handlers that write rows only."""
    if handler not in _in_transaction_handlers[name]:
        _in_transaction_handlers[name].append(handler)


def publish(name: str, *, studio_id: int, booking_id: int | None = None, **data) -> None:
    """Run the in-transaction handlers of ``name`` now, and hand it to the other handlers
    once the current transaction commits (at once when there is none)."""
    event = Event(name=name, studio_id=studio_id, booking_id=booking_id, data=data)
    _run(_in_transaction_handlers, event, savepoint=True)
    transaction.on_commit(lambda: _run(_handlers, event, savepoint=False))


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
    """Hand ``event`` to every handler now, in-transaction ones first (a replay: handlers
    are idempotent)."""
    _run(_in_transaction_handlers, event, savepoint=True)
    _run(_handlers, event, savepoint=False)


def _run(registry: dict[str, list[Handler]], event: Event, *, savepoint: bool) -> None:
    for handler in [*registry.get(event.name, ()), *registry.get("*", ())]:
        try:
            if savepoint:
                with transaction.atomic():
                    handler(event)
            else:
                handler(event)
        except Exception:
            logger.exception("handler %r failed for %s", handler, event.name)
