"""The task that runs a periodic job, and the scheduler that enqueues due ones."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from studiobook.jobs import PERIODIC
from studiobook.jobs.models import PeriodicRun

logger = logging.getLogger(__name__)


@task()
def run_periodic(name: str) -> None:
    """Run the periodic job ``name`` (a task, so its outcome is recorded like any other)."""
    PERIODIC[name].function()


def enqueue_due(now: datetime | None = None) -> list[str]:
    """Enqueue every periodic job that is due at ``now`` and push its next run forward;
    returns the names enqueued. Safe with several workers (rows are claimed, skip-locked)."""
    now = now or timezone.now()
    PeriodicRun.objects.bulk_create([PeriodicRun(name=name, next_run_at=now) for name in PERIODIC],
                                    ignore_conflicts=True)
    enqueued = []
    with transaction.atomic():
        due = PeriodicRun.objects.select_for_update(skip_locked=True).filter(
            name__in=list(PERIODIC), next_run_at__lte=now)
        for run in due:
            run.last_run_at = now
            run.next_run_at = now + timedelta(seconds=PERIODIC[run.name].every_seconds)
            run.save()
            enqueued.append(run.name)
    for name in enqueued:
        run_periodic.enqueue(name)
    return enqueued
