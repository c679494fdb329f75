"""The one way to write an AuditLog row; call it inside the transaction of the change."""

from __future__ import annotations

from studiobook.studios.models import AuditLog, Studio


def record(*, studio: Studio, actor, action: str, entity: str, entity_id, diff: dict | None = None
           ) -> AuditLog:
    """Append an audit row. ``action`` is dotted (``booking.approve``), ``diff`` is JSON-able
    ``{"field": [old, new]}`` or free details."""
    return AuditLog.objects.create(
        studio=studio,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        diff=diff or {},
    )
