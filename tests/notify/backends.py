"""A task backend for the notify tests: runs each task at once, like django-tasks'
ImmediateBackend, but records tasks enqueued with ``run_after`` (retries) instead of
refusing them, and records tasks that raised, so a test can assert on both."""

from __future__ import annotations

from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.base import TaskResult, TaskResultStatus
from django_tasks.utils import get_random_id

DEFERRED: list[TaskResult] = []
FAILED: list[TaskResult] = []


class ImmediateRecordingBackend(ImmediateBackend):
    supports_defer = True

    def enqueue(self, task, args, kwargs):
        if task.run_after is None:
            result = super().enqueue(task, args, kwargs)
            if result.status == TaskResultStatus.FAILED:
                FAILED.append(result)
            return result
        self.validate_task(task)
        result = TaskResult(task=task, id=get_random_id(), status=TaskResultStatus.READY,
                            enqueued_at=None, started_at=None, last_attempted_at=None,
                            finished_at=None, args=args, kwargs=kwargs, backend=self.alias,
                            errors=[], worker_ids=[])
        DEFERRED.append(result)
        return result
