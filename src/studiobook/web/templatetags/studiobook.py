"""Filters and tags for Studiobook pages: ``{% load studiobook %}``.

- ``{{ amount_minor|money:currency }}``: "CAD 1,234.50" (``scheduling.money.format_money``).
- Times: Django's own ``{% load tz %}`` ``{{ b.start_at|timezone:studio.time_zone|date:"D j M,
  H:i" }}`` or a ``{% timezone studio.time_zone %}`` block (storage and the core are UTC).
- ``{% status_chip booking.status %}``: the chip a status shows as (Awaiting approval,
  Confirmed, Canceled, Rejected, Completed, No-show).
- ``{% if booking|shows_contact:user %}``: whether ``user`` may see the artist's email and
  phone (``studios.permissions.can_view_contact``).
- ``{% field form.name %}``: a labelled input with its help text and its errors next to it,
  wired with ``aria-describedby`` and ``aria-invalid``.
"""

from __future__ import annotations

from django import template

from studiobook.bookings.models import Booking, Hold
from studiobook.scheduling.money import format_money
from studiobook.studios.permissions import can_view_contact

register = template.Library()


@register.filter
def shows_contact(booking, user) -> bool:
    """``{% if booking|shows_contact:request.user %}``: ``can_view_contact(user, booking)``."""
    return can_view_contact(user, booking)

# Booking statuses by their model labels; holds by what an artist would call them.
STATUS_LABELS = {
    **dict(Booking.Status.choices),
    Hold.Status.ACTIVE: "Held",
    Hold.Status.EXPIRED: "Expired",
    Hold.Status.CONVERTED: "Booked",
    Hold.Status.RELEASED: "Released",
}


@register.filter
def money(amount_minor, currency: str) -> str:
    """Integer minor units as "CUR 1,234.50"; empty for None."""
    if amount_minor is None or amount_minor == "":
        return ""
    return format_money(int(amount_minor), currency)


@register.filter
def status_label(status: str) -> str:
    """The human label of a booking or hold status."""
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


@register.inclusion_tag("web/partials/status_chip.html")
def status_chip(status: str) -> dict:
    return {"status": status, "label": status_label(status)}


@register.inclusion_tag("web/partials/field.html")
def field(bound_field, **attrs) -> dict:
    """Render one form field: label, input, help text and errors (see the partial). The input
    names its help text and error messages in ``aria-describedby`` and carries
    ``aria-invalid`` when it has errors; ``attrs`` are extra input attributes."""
    field_id = bound_field.id_for_label
    described = []
    if bound_field.help_text:
        described.append(f"{field_id}_helptext")
    described += [f"{field_id}_error{n}" for n in range(1, len(bound_field.errors) + 1)]
    widget_attrs = dict(attrs)
    if described:
        widget_attrs["aria-describedby"] = " ".join(described)
    if bound_field.errors:
        widget_attrs["aria-invalid"] = "true"
    return {"field": bound_field, "widget": bound_field.as_widget(attrs=widget_attrs)}
