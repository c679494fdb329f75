"""Background work on django-tasks (database backend by default; see settings.TASKS).

- ``enqueue_after_commit(task, *args)``: side effects are enqueued only once the transaction
  that caused them commits, so a rolled-back booking sends nothing (ARCHITECTURE.md 6).
- ``backoff_seconds(attempt)``: exponential backoff for retries: 30 s, 60 s, 120 s, ... capped
  at an hour, with up to 10 % jitter so failed deliveries do not retry in lockstep. Tasks
  retry themselves by re-enqueueing with ``run_after`` and record each attempt on their own
  row (Notification, CalendarSync ...), so a failure is visible and never undoes a booking.
- ``register_periodic(name, every_seconds, function)``: time-based work (hold sweeps, balance
  charges, reminders, feed refreshes). ``studiobook worker`` runs due periodic jobs as tasks;
  nothing is polled by hand.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

MAX_ATTEMPTS = 8


def backoff_seconds(attempt: int, *, base: int = 30, cap: int = 3600,
                    jitter: float = 0.1) -> int:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry)."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return int(delay * (1 + random.uniform(0, jitter)))


def enqueue_after_commit(task, *args, run_after: datetime | None = None, **kwargs) -> None:
    """Enqueue ``task(*args, **kwargs)`` once the current transaction commits (at once when
    there is none)."""
    def send():
        (task.using(run_after=run_after) if run_after else task).enqueue(*args, **kwargs)

    transaction.on_commit(send)


def retry_after(task, attempt: int, *args, **kwargs) -> datetime:
    """Enqueue ``task`` again after ``backoff_seconds(attempt)``; returns when it will run."""
    from django.utils import timezone

    when = timezone.now() + timedelta(seconds=backoff_seconds(attempt))
    task.using(run_after=when).enqueue(*args, **kwargs)
    return when


@dataclass(frozen=True)
class Periodic:
    name: str
    every_seconds: int
    function: Callable[[], object]


PERIODIC: dict[str, Periodic] = {}


def register_periodic(name: str, every_seconds: int, function: Callable[[], object]) -> None:
    """Run ``function()`` every ``every_seconds`` in ``studiobook worker``."""
    PERIODIC[name] = Periodic(name, every_seconds, function)
