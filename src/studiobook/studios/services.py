"""Studio administration: create, change and retire rooms, services, staff, schedule rules,
blackouts and buffer rules (recording-studio-prd.md section 3, stories 7 and 10).

Each operation is admin-only, validates every rule before writing, runs in one durable
transaction and writes an AuditLog row with the changed fields. Rooms, services and staff are
retired (``is_active = False``) rather than deleted, because bookings point at them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction

from studiobook import limits
from studiobook.studios import audit
from studiobook.studios.errors import Forbidden, InvalidInput, NotFound
from studiobook.studios.models import (
    Blackout,
    BufferRule,
    Fee,
    Membership,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    Studio,
    Target,
    TaxRate,
)
from studiobook.studios.permissions import require_admin

RETIRED_NOT_DELETED = (Room, Service, StaffMember)


def _check_weekdays(data: dict) -> None:
    days = data.get("weekdays")
    if days is not None and (not days or any(d not in range(1, 8) for d in days)):
        raise InvalidInput("weekdays are ISO numbers 1 (Monday) to 7 (Sunday), at least one",
                           field="weekdays", rule="iso_weekday")


def _within_limits(data: dict, fields: dict[str, Callable[[Any], Any]]) -> None:
    """Each given value of ``fields`` through its ``studiobook.limits`` check; raises
    InvalidInput naming the field and the limit's rule."""
    for name, check in fields.items():
        value = data.get(name)
        if value is None:
            continue
        try:
            check(value)
        except limits.OutOfRange as error:
            raise InvalidInput(f"{name} {error.message}", field=name,
                               rule=error.rule) from None


def _check_rule(data: dict, instance: ScheduleRule | None) -> None:
    _check_weekdays(data)
    _within_limits(data, {"start_time": limits.wall_clock_minute,
                          "end_time": limits.wall_clock_minute,
                          "effective_from": limits.local_date,
                          "effective_to": limits.local_date})
    start = data.get("start_time", getattr(instance, "start_time", None))
    end = data.get("end_time", getattr(instance, "end_time", None))
    if start == end:
        raise InvalidInput("end_time must differ from start_time (an end before the start "
                           "runs past midnight)", field="end_time", rule="not_equal_start")
    first = data.get("effective_from", getattr(instance, "effective_from", None))
    last = data.get("effective_to", getattr(instance, "effective_to", None))
    if first and last and last < first:
        raise InvalidInput("effective_to must not be before effective_from",
                           field="effective_to", rule="after_effective_from")


def _check_blackout(data: dict, instance: Blackout | None) -> None:
    _within_limits(data, {"start_at": limits.instant, "end_at": limits.instant})
    start = data.get("start_at", getattr(instance, "start_at", None))
    end = data.get("end_at", getattr(instance, "end_at", None))
    if start and end and end <= start:
        raise InvalidInput("end_at must be after start_at", field="end_at",
                           rule="after_start")


def _check_service(data: dict, instance: Service | None) -> None:
    def value(name: str) -> Any:
        return data.get(name, getattr(instance, name, None) if instance else
                        Service._meta.get_field(name).default)

    step = value("duration_step_minutes")
    low, default, high = (value("min_duration_minutes"), value("default_duration_minutes"),
                          value("max_duration_minutes"))
    if step <= 0:
        raise InvalidInput("duration_step_minutes must be positive",
                           field="duration_step_minutes", rule="positive")
    if not low <= default <= high:
        raise InvalidInput("durations must satisfy min <= default <= max",
                           field="default_duration_minutes", rule="within_min_max")
    for name, minutes in (("min_duration_minutes", low), ("default_duration_minutes", default),
                          ("max_duration_minutes", high)):
        if minutes % step:
            raise InvalidInput(f"{name} must be a multiple of {step} minutes", field=name,
                               rule="multiple_of_step")
    if value("deposit_percent") > 100:
        raise InvalidInput("deposit_percent is at most 100", field="deposit_percent",
                           rule="max_100")


def _check_target(data: dict, instance) -> None:
    target = data.get("target_type", getattr(instance, "target_type", None))
    room = data.get("room", getattr(instance, "room", None))
    staff = data.get("staff", getattr(instance, "staff", None))
    if target == Target.ROOM and (room is None or staff is not None):
        raise InvalidInput("target_type room needs room_id (and no staff_id)", field="room_id",
                           rule="target")
    if target == Target.STAFF and (staff is None or room is not None):
        raise InvalidInput("target_type staff needs staff_id (and no room_id)",
                           field="staff_id", rule="target")
    if target == Target.STUDIO and (room is not None or staff is not None):
        raise InvalidInput("target_type studio takes no room_id or staff_id",
                           field="target_type", rule="target")


def _check_tax_rate(data: dict, instance: TaxRate | None) -> None:
    """The rate the core will price with: int parts per million, 0 .. 30 %
    (``scheduling.money.MAX_TAX_RATE_PPM``, whose docstring gives the source of the bound)."""
    from studiobook.scheduling import money

    rate = data.get("rate_ppm", getattr(instance, "rate_ppm", None))
    if not (money._is_int(rate) and 0 <= rate <= money.MAX_TAX_RATE_PPM):
        raise InvalidInput(
            f"rate must be a percentage from 0 to "
            f"{money.format_percent_ppm(money.MAX_TAX_RATE_PPM)} % (at most 4 decimals, "
            f"e.g. 9.975)", field="rate_ppm", rule="range",
            extra={"max_percent": money.format_percent_ppm(money.MAX_TAX_RATE_PPM)})


def _check_fee(data: dict, instance: Fee | None) -> None:
    """A fixed fee of 0 .. ``MAX_FIXED_FEE_MINOR`` minor units, or a percentage fee of 0 ..
    ``MAX_PERCENT_FEE_BASIS_POINTS`` basis points (100 %): the core's own limits
    (``scheduling.money.Fee``), so a stored fee can always be priced."""
    from studiobook.scheduling import money

    kind = data.get("kind", getattr(instance, "kind", None))
    amount = data.get("amount", getattr(instance, "amount", None))
    if kind not in Fee.Kind.values:
        raise InvalidInput("kind must be fixed or percent", field="kind", rule="choice")
    high = (money.MAX_FIXED_FEE_MINOR if kind == Fee.Kind.FIXED
            else money.MAX_PERCENT_FEE_BASIS_POINTS)
    if not (money._is_int(amount) and 0 <= amount <= high):
        if kind == Fee.Kind.PERCENT:
            message = ("a percentage fee's amount is in basis points (100 = 1 %) from 0 to "
                       f"{high} (100 %)")
        else:
            message = f"a fixed fee's amount is in minor units from 0 to {high}"
        raise InvalidInput(message, field="amount", rule="range", extra={"max": high})


def _check_buffer(data: dict, instance: BufferRule | None) -> None:
    scope = data.get("scope", getattr(instance, "scope", None))
    given = {name for name in ("room", "service", "staff")
             if data.get(name, getattr(instance, name, None)) is not None}
    if given != {scope}:
        raise InvalidInput(f"scope {scope} needs exactly {scope}_id", field=f"{scope}_id",
                           rule="scope_target")


CHECKS: dict[type, list[Callable[[dict, Any], None]]] = {
    TaxRate: [_check_tax_rate],
    Fee: [_check_fee],
    Room: [],
    Service: [_check_service],
    StaffMember: [],
    ScheduleRule: [_check_rule, _check_target],
    Blackout: [_check_blackout, _check_target],
    BufferRule: [_check_buffer],
}

FOREIGN_KEYS = {"room_id": Room, "staff_id": StaffMember, "service_id": Service}


def _resolve_foreign_keys(studio: Studio, data: dict) -> dict:
    """Turn ``room_id``/``staff_id``/``service_id`` into this studio's rows (404 otherwise)."""
    resolved = dict(data)
    for field, model in FOREIGN_KEYS.items():
        if field in resolved:
            pk = resolved.pop(field)
            name = field.removesuffix("_id")
            if pk is None:
                resolved[name] = None
                continue
            row = model.objects.filter(studio=studio, pk=pk).first()
            if row is None:
                raise NotFound(f"{name} {pk} not found at this studio", field=field)
            resolved[name] = row
    return resolved


def _json_value(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def save(*, actor, studio: Studio, model: type[models.Model], data: dict,
         instance: models.Model | None = None) -> models.Model:
    """Create (``instance`` None) or change a studio resource from validated ``data`` (field
    names of ``model``; foreign keys as ``room_id``/``staff_id``/``service_id``).

    Raises Forbidden for non-admins, NotFound for another studio's ids, InvalidInput naming
    the field and rule (including a duplicate name)."""
    require_admin(actor, studio)
    data = _resolve_foreign_keys(studio, data)
    for check in CHECKS[model]:
        check(data, instance)
    creating = instance is None
    target = instance or model(studio=studio)
    diff = {}
    for name, value in data.items():
        old = None if creating else getattr(target, name)
        if creating or old != value:
            diff[name] = [_json_value(old), _json_value(value)]
        setattr(target, name, value)
    try:
        with transaction.atomic(durable=True):
            target.save()
            audit.record(studio=studio, actor=actor,
                         action=f"{model._meta.model_name}.{'create' if creating else 'update'}",
                         entity=model._meta.model_name, entity_id=target.pk, diff=diff)
    except IntegrityError as error:
        raise InvalidInput(f"a {model._meta.verbose_name} with this name already exists",
                           field="name", rule="unique") from error
    return target


def remove(*, actor, studio: Studio, instance: models.Model) -> None:
    """Retire a room, service or staff member (``is_active = False``: bookings keep pointing at
    it), or delete a schedule rule, blackout or buffer rule. Admins only."""
    require_admin(actor, studio)
    model = type(instance)
    with transaction.atomic(durable=True):
        if isinstance(instance, RETIRED_NOT_DELETED):
            instance.is_active = False
            instance.save(update_fields=["is_active"])
            action = "retire"
        else:
            instance.delete()
            action = "delete"
        audit.record(studio=studio, actor=actor, action=f"{model._meta.model_name}.{action}",
                     entity=model._meta.model_name, entity_id=instance.pk or "")


def add_staff_member(*, actor, studio: Studio, email: str, display_name: str,
                     skills: list[str], hourly_rate_minor: int = 0,
                     role: str = Membership.Role.STAFF) -> StaffMember:
    """Add an engineer by email: the user is found or created (with no usable password until
    they reset it), made staff (or admin) of the studio, and given a StaffMember row.
    Raises Forbidden, InvalidInput (already staff here)."""
    require_admin(actor, studio)
    user_model = get_user_model()
    email = email.strip().lower()
    with transaction.atomic(durable=True):
        user = user_model.objects.filter(email=email).first()
        if user is None:
            user = user_model.objects.create_user(email=email, password=None, name=display_name)
        if StaffMember.objects.filter(studio=studio, user=user).exists():
            raise InvalidInput(f"{email} is already staff at {studio.name}", field="email",
                               rule="unique")
        Membership.objects.get_or_create(studio=studio, user=user, defaults={"role": role})
        staff = StaffMember.objects.create(studio=studio, user=user, display_name=display_name,
                                           skills=skills, hourly_rate_minor=hourly_rate_minor)
        audit.record(studio=studio, actor=actor, action="staffmember.create",
                     entity="staffmember", entity_id=staff.pk,
                     diff={"email": email, "skills": skills})
    return staff


POLICY_FIELDS = {"cancellation_policy": "cancellation", "reschedule_policy": "reschedule"}


OPERATOR_SETTINGS = ("platform_fee_basis_points",)

# The ranges a studio's booking settings may take, inclusive: one table for the service, the
# API schema, the settings page and the studio-file importer.
SETTING_LIMITS: dict[str, tuple[int, int]] = {
    "hold_minutes": (1, 24 * 60),
    "max_active_holds": (1, 50),
    "lead_time_minutes": (0, 60 * 24 * 30),
    "horizon_days": (1, 3660),
    "slot_grid_minutes": (1, 24 * 60),
    "approval_window_hours": (1, 24 * 30),
    "balance_lead_hours": (0, 24 * 60),
    "platform_fee_basis_points": (0, 10_000),
    "max_unpaid_bookings": (1, 100),
    "max_unpaid_hours": (1, 24 * 31),
}
# Settings with a fixed set of values: one table for the service, the API schema, the page
# and the studio file, as SETTING_LIMITS is for numbers.
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "first_booking_rule": tuple(Studio.FirstBookingRule.values),
}


def read_policies(data: dict) -> dict:
    """The cancellation and reschedule policies given in ``data`` (``"cancellation_policy"``,
    ``"reschedule_policy"``, in ``scheduling.policies.policy_to_dict``'s shape), as core
    policy objects by field, checked as :func:`update_settings` checks them (and previews
    use). Raises InvalidInput naming the field (rule ``policy`` or ``policy_kind``)."""
    from studiobook.scheduling import policies as core_policies

    policies = {}
    for field, kind in POLICY_FIELDS.items():
        if data.get(field):
            try:
                policy = core_policies.policy_from_dict(data[field])
            except core_policies.InvalidPolicy as error:
                raise InvalidInput(f"{field}: {error}", field=field, rule="policy") from error
            if data[field].get("kind") != kind:
                raise InvalidInput(f"{field} must be a {kind} policy", field=field,
                                   rule="policy_kind")
            policies[field] = policy
    return policies


def update_settings(*, actor, studio: Studio, data: dict) -> Studio:
    """Change a studio's booking and payment settings (only the keys in ``data``). Policies
    are validated by ``scheduling.policies.policy_from_dict`` and must be of the right kind.
    Bookings keep the policies they were sold under. The platform's fee
    (``platform_fee_basis_points``) is the platform operator's to set (``is_superuser``), not
    the studio's. Numbers must lie in ``SETTING_LIMITS``, choices in ``SETTING_CHOICES``.
    Raises Forbidden, InvalidInput."""
    from studiobook.scheduling import policies as core_policies

    require_admin(actor, studio)
    for field, (low, high) in SETTING_LIMITS.items():
        value = data.get(field)
        if value is not None and not (isinstance(value, int) and low <= value <= high):
            raise InvalidInput(f"{field} must be a whole number from {low} to {high}",
                               field=field, rule="range")
    for field, allowed in SETTING_CHOICES.items():
        value = data.get(field)
        if value is not None and value not in allowed:
            raise InvalidInput(f"{field} must be one of {', '.join(allowed)}", field=field,
                               rule="choice")
    for field in OPERATOR_SETTINGS:
        if field in data and data[field] != getattr(studio, field) and not actor.is_superuser:
            raise Forbidden(f"{field} is set by the platform operator", field=field)
    for field, policy in read_policies(data).items():
        data[field] = core_policies.policy_to_dict(policy)
    diff = {}
    for name, value in data.items():
        if getattr(studio, name) != value:
            diff[name] = [getattr(studio, name), value]
            setattr(studio, name, value)
    with transaction.atomic(durable=True):
        studio.save()
        audit.record(studio=studio, actor=actor, action="studio.settings", entity="studio",
                     entity_id=studio.slug, diff=diff)
    return studio


PHOTO_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


def set_room_photo(*, actor, studio: Studio, room: Room, photo) -> Room:
    """Store ``photo`` (an uploaded image file, already validated as an image by the form)
    as ``room``'s photo, or remove the photo when ``photo`` is False; audited as
    ``room.update``. The file gets our own name (``<studio>-room-<id>.<ext>``: the upload's
    name is the user's and may say more than needed); a replaced file is deleted after the
    commit. Raises Forbidden unless ``actor`` is a studio admin."""
    require_admin(actor, studio)
    old = room.photo.name or ""
    if photo is False:
        room.photo = ""
    else:
        image_format = getattr(getattr(photo, "image", None), "format", "")
        room.photo.save(f"{studio.slug}-room-{room.pk}{PHOTO_EXTENSIONS.get(image_format, '.jpg')}",
                        photo, save=False)
    storage = room.photo.storage
    with transaction.atomic(durable=True):
        Room.objects.filter(pk=room.pk).update(photo=room.photo.name or "")
        audit.record(studio=studio, actor=actor, action="room.update", entity="room",
                     entity_id=room.pk, diff={"photo": [old, room.photo.name or ""]})
        if old and old != room.photo.name:
            transaction.on_commit(lambda: storage.delete(old))
    return room
