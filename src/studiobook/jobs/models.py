from django.db import models


class PeriodicRun(models.Model):
    """When a periodic job (``jobs.register_periodic``) is next due. Workers claim due rows
    with SELECT ... FOR UPDATE SKIP LOCKED, so several workers never run one job twice."""

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
