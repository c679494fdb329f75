"""The outbox of availability changes: one row per ``availability.changed`` event."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AvailabilityChange(models.Model):
    """A hold or booking took or released time on these rooms and engineers.

    Written right after the booking's transaction commits (``publish.record_change``), read by
    the stream servers (``stream``): ``id`` is the SSE event id, so a client that reconnects
    with ``Last-Event-ID`` is sent the rows after it. On PostgreSQL inserts are serialised
    (an advisory lock for the insert's short transaction), so ids become visible in order and
    a reader that remembers the last id it saw never skips a row that commits late. Rows
    older than ``STUDIOBOOK_LIVE_RETENTION_SECONDS`` are pruned; the newest row is always kept,
    so a client whose ``Last-Event-ID`` was pruned can be told to start over.
    """

    studio = models.ForeignKey("studios.Studio", on_delete=models.CASCADE, related_name="+",
                               db_index=False)
    room_ids = models.JSONField(default=list)
    staff_ids = models.JSONField(default=list)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["studio", "id"], name="live_change_studio_id")]

    def __str__(self) -> str:
        return (f"#{self.id} studio {self.studio_id} rooms {self.room_ids} "
                f"staff {self.staff_ids} {self.start_at:%Y-%m-%d %H:%M}-{self.end_at:%H:%M}")
