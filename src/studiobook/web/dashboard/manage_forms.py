"""Forms of the management pages: they parse what an admin typed into the shapes the services
take (``studios.services.save``'s field names, minor units, basis points, UTC instants) and
check what the JSON API's schemas check (lengths, ranges, choices: ``api/schemas.py``).
Business rules (durations on the step, min <= default <= max, a target's room or engineer,
an end after the start, policy tiers) stay in the services, which name the field at fault.

Each resource form has ``to_data()`` (the service's ``data``), ``initial_from(instance)``
(the form's initial values for an existing row), ``field_map`` (service field names -> form
field names, for ``web.common.add_domain_error``) and ``fieldsets`` (legend, field names) for
the template.

Money is typed as a decimal in the studio's currency ("95.50") and stored in integer minor
units, exactly (``Decimal``, never floats): more decimals than the currency has are an error,
not a rounding. Tax rates are typed with at most four decimals ("13", "9.975") and stored in
parts per million, at most 30 %; percentage fees with at most two decimals ("3.5"), stored in
basis points (1 bp = 0.01 %), at most 100 %. The limits are ``scheduling.money``'s.
"""

from __future__ import annotations

import re
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Q
from django.forms.fields import BaseTemporalField

from studiobook.scheduling.money import (
    MAX_FIXED_FEE_MINOR,
    decimal_amount,
    format_basis_points,
    format_percent_ppm,
)
from studiobook.scheduling.policies import MAX_HOURS
from studiobook.studios.models import (
    Blackout,
    BufferRule,
    Fee,
    Room,
    Service,
    StaffMember,
    Studio,
    Target,
    TaxRate,
)
from studiobook.studios.services import SETTING_LIMITS
from studiobook.web.common import studio_zone
from studiobook.web.fields import (
    AmountField,
    LimitedDateField,
    TaxRateField,
    WallClockTimeField,
    parse_amount,
    parse_percent,
    validate_local_datetime,
)

WEEKDAYS = [(1, "Monday"), (2, "Tuesday"), (3, "Wednesday"), (4, "Thursday"), (5, "Friday"),
            (6, "Saturday"), (7, "Sunday")]
MAX_RATE_MINOR = MAX_FIXED_FEE_MINOR  # the API's bound on hourly rates and fixed fees
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP"}
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LOCAL_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def split_list(text: str, *, separator: str | None = ",", max_length: int) -> list[str]:
    """Comma-separated (or, with ``separator=None``, one-per-line) text -> a list of
    distinct, stripped, non-empty items in the order given. Raises ValidationError for an
    item longer than ``max_length``."""
    parts = text.splitlines() if separator is None else text.split(separator)
    items: list[str] = []
    for part in (p.strip() for p in parts):
        if not part or part in items:
            continue
        if len(part) > max_length:
            raise ValidationError(f"“{part[:30]}…” is longer than {max_length} characters.",
                                  code="max_length")
        items.append(part)
    return items


# --- fields --------------------------------------------------------------------------------

class ListField(forms.CharField):
    """Comma-separated (or one-per-line) text; cleans to a list of strings."""

    def __init__(self, *, item_length: int, separator: str | None = ",", **kwargs):
        self.item_length, self.separator = item_length, separator
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value):
        text = super().clean(value) or ""
        return split_list(text, separator=self.separator, max_length=self.item_length)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ("\n" if self.separator is None else ", ").join(value)
        return value


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock date and time (``<input type="datetime-local">``) kept naive: the view
    reads it in the studio's zone (Django's own field would read it in UTC)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    input_formats = LOCAL_DATETIME_FORMATS
    default_validators = [validate_local_datetime]

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        return BaseTemporalField.to_python(self, value)


def _time_field(label: str, **kwargs) -> WallClockTimeField:
    return WallClockTimeField(label=label, widget=forms.TimeInput(attrs={"type": "time"},
                                                                 format="%H:%M"), **kwargs)


def _date_field(label: str, **kwargs) -> LimitedDateField:
    return LimitedDateField(label=label, widget=forms.DateInput(attrs={"type": "date"},
                                                                 format="%Y-%m-%d"), **kwargs)


def _minutes(label: str, *, minimum: int = 1, maximum: int = 24 * 60, **kwargs):
    return forms.IntegerField(label=label, min_value=minimum, max_value=maximum, **kwargs)


# --- resource forms --------------------------------------------------------------------------

class ResourceForm(forms.Form):
    """Base of the forms of ``/dashboard/<slug>/manage/<kind>``: built with the ``studio``
    (choices and currency come from it) and, when editing, its ``instance``."""

    field_map: dict[str, str] = {}
    fieldsets: list[tuple[str, list[str]]] = []

    def __init__(self, *args, studio: Studio, instance=None, **kwargs):
        self.studio, self.instance = studio, instance
        super().__init__(*args, **kwargs)
        self.setup()

    def setup(self) -> None:
        """Per-studio choices and labels."""

    @classmethod
    def initial_from(cls, instance, studio: Studio) -> dict:
        return {name: getattr(instance, name) for name in cls.base_fields
                if hasattr(instance, name)}

    def to_data(self) -> dict:
        return dict(self.cleaned_data)

    def grouped(self) -> list[tuple[str, list[forms.BoundField]]]:
        """``fieldsets`` as (legend, bound fields); fields in no fieldset come last."""
        named = {name for _, names in self.fieldsets for name in names}
        groups = [(legend, [self[name] for name in names if name in self.fields])
                  for legend, names in self.fieldsets]
        rest = [self[name] for name in self.fields if name not in named]
        if rest:
            groups.append(("", rest))
        return groups


def _rooms(studio: Studio, *, keep: int | None = None):
    """The studio's rooms to choose from: the active ones, and the retired room ``keep`` when
    the row or link at hand names it (see ``_named``), so that it keeps its target."""
    return (Room.objects.for_studio(studio).filter(Q(is_active=True) | Q(pk=keep))
            .order_by("name"))


def _staff(studio: Studio, *, keep: int | None = None):
    """The studio's staff to choose from: active members, and ``keep`` (as ``_rooms``)."""
    return (StaffMember.objects.for_studio(studio).filter(Q(is_active=True) | Q(pk=keep))
            .order_by("display_name"))


def _named(form: ResourceForm, attribute: str) -> int | None:
    """The id that the row being edited (``form.instance``), or else the link that opened the
    form (``form.initial``, e.g. "Add working hours" on a retired engineer's row), names in
    ``attribute`` ("room_id", "staff_id")."""
    named = getattr(form.instance, attribute, None)
    if named is None:
        named = form.initial.get(attribute.removesuffix("_id"))  # from the query string
    named = getattr(named, "pk", named)
    if isinstance(named, str):
        named = int(named) if named.isascii() and named.isdigit() else None
    return named


def _services(studio: Studio):
    return Service.objects.for_studio(studio).order_by("name")


class RoomForm(ResourceForm):
    name = forms.CharField(label="Name", max_length=120)
    description = forms.CharField(label="Description", required=False, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    capacity = forms.IntegerField(label="Capacity (people)", min_value=1, max_value=1000,
                                  initial=1)
    tags = ListField(label="Tags", item_length=40,
                     help_text="Comma separated, e.g. tracking, vocal. Services that need "
                               "tags are offered only in rooms that have all of them.")
    equipment = ListField(label="Equipment", item_length=120, separator=None,
                          widget=forms.Textarea(attrs={"rows": 5}),
                          help_text="One item per line; shown to artists.")
    color = forms.CharField(label="Colour", required=False, max_length=7,
                            help_text="A hex colour such as #1d4ed8, used on the calendar "
                                      "board.",
                            widget=forms.TextInput(attrs={"placeholder": "#1d4ed8",
                                                          "autocomplete": "off"}))
    photo = forms.ImageField(label="Photo", required=False,
                             help_text="JPEG, PNG or WebP, at most 5 MB; shown on the "
                                       "studio's home page.")
    is_active = forms.BooleanField(label="Active (bookable)", required=False, initial=True)

    fieldsets = [("Room", ["name", "description", "capacity", "tags", "equipment", "color",
                           "photo", "is_active"])]

    def clean_color(self) -> str:
        colour = self.cleaned_data["color"].strip()
        if colour and not HEX_COLOUR.fullmatch(colour):
            raise ValidationError("Enter a hex colour such as #1d4ed8.", code="invalid")
        return colour.lower()

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if not isinstance(photo, UploadedFile):
            return photo  # None (no change), False (cleared) or the current photo
        image = getattr(photo, "image", None)
        if image is not None and image.format not in PHOTO_FORMATS:
            raise ValidationError("Upload a JPEG, PNG or WebP image.", code="format")
        if photo.size > MAX_PHOTO_BYTES:
            raise ValidationError("The photo is larger than 5 MB.", code="size")
        return photo

    def to_data(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("photo", None)  # stored apart: see manage._save_room_photo
        return data


class ServiceForm(ResourceForm):
    name = forms.CharField(label="Name", max_length=120)
    description = forms.CharField(label="Description", required=False, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    default_duration_minutes = _minutes("Default duration (minutes)", initial=60)
    min_duration_minutes = _minutes("Shortest booking (minutes)", initial=60)
    max_duration_minutes = _minutes("Longest booking (minutes)", initial=480)
    duration_step_minutes = _minutes(
        "Duration step (minutes)", initial=60,
        help_text="Bookings last a multiple of this; the durations above must be multiples "
                  "of it too.")
    price_unit = forms.ChoiceField(label="Price unit", choices=Service.PriceUnit.choices,
                                   initial="hour")
    base_price = AmountField(label="Base price", currency="CAD")
    deposit_percent = forms.IntegerField(label="Deposit (%)", min_value=0, max_value=100,
                                         initial=0,
                                         help_text="Share of the total charged at booking; "
                                                   "0 charges everything at once.")
    requires_room = forms.BooleanField(label="Needs a room", required=False, initial=True)
    room_tags = ListField(label="Room tags needed", item_length=40,
                          help_text="Comma separated; only rooms with all of these tags are "
                                    "offered.")
    requires_engineer = forms.BooleanField(label="Needs an engineer", required=False)
    staff_skill_required = forms.CharField(label="Engineer skill needed", required=False,
                                           max_length=64,
                                           help_text="e.g. mixing; empty: any engineer.")
    requires_approval = forms.BooleanField(label="Studio approves each booking",
                                           required=False)
    is_add_on = forms.BooleanField(label="Add-on (sold with a session, not booked alone)",
                                   required=False)
    is_active = forms.BooleanField(label="Active (bookable)", required=False, initial=True)

    field_map = {"base_price_minor": "base_price"}
    fieldsets = [
        ("Service", ["name", "description", "is_active"]),
        ("Durations", ["default_duration_minutes", "min_duration_minutes",
                       "max_duration_minutes", "duration_step_minutes"]),
        ("Price", ["price_unit", "base_price", "deposit_percent"]),
        ("What it needs", ["requires_room", "room_tags", "requires_engineer",
                           "staff_skill_required", "requires_approval", "is_add_on"]),
    ]

    def setup(self) -> None:
        currency = self.studio.currency
        field = self.fields["base_price"]
        field.currency = currency
        field.label = f"Base price ({currency})"
        field.help_text = (f"Per hour or per session, in {currency}, e.g. "
                           f"{decimal_amount(9550, currency)}.")

    @classmethod
    def initial_from(cls, instance: Service, studio: Studio) -> dict:
        initial = super().initial_from(instance, studio)
        initial["base_price"] = decimal_amount(instance.base_price_minor, studio.currency)
        return initial

    def to_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["base_price_minor"] = data.pop("base_price")
        return data


class StaffCreateForm(ResourceForm):
    email = forms.EmailField(label="Email", max_length=254,
                             help_text="Their account is created if they have none; they set "
                                       "a password with “Forgot password”.")
    display_name = forms.CharField(label="Display name", max_length=150)
    role = forms.ChoiceField(label="Role", choices=[("staff", "Staff (calendar, bookings)"),
                                                    ("admin", "Admin (everything)")],
                             initial="staff")
    skills = ListField(label="Skills", item_length=64,
                       help_text="Comma separated, e.g. recording, mixing; services ask for "
                                 "one of these.")
    hourly_rate = AmountField(label="Hourly rate", currency="CAD", maximum=MAX_RATE_MINOR,
                              required=False)

    field_map = {"hourly_rate_minor": "hourly_rate"}
    fieldsets = [("Staff member", ["email", "display_name", "role", "skills", "hourly_rate"])]

    def setup(self) -> None:
        field = self.fields["hourly_rate"]
        field.currency = self.studio.currency
        field.label = f"Hourly rate ({self.studio.currency})"

    def to_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["hourly_rate_minor"] = data.pop("hourly_rate")
        return data


class StaffEditForm(StaffCreateForm):
    email = None
    role = None
    is_active = forms.BooleanField(label="Active (can be booked)", required=False)

    fieldsets = [("Staff member", ["display_name", "skills", "hourly_rate", "is_active"])]

    @classmethod
    def initial_from(cls, instance: StaffMember, studio: Studio) -> dict:
        return {"display_name": instance.display_name, "skills": instance.skills,
                "hourly_rate": decimal_amount(instance.hourly_rate_minor, studio.currency),
                "is_active": instance.is_active}


class TargetedForm(ResourceForm):
    """A row that applies to the studio, one room or one staff member."""

    target_type = forms.ChoiceField(label="Applies to", choices=[
        (Target.STUDIO, "The whole studio"), (Target.ROOM, "One room"),
        (Target.STAFF, "One staff member")])
    room = forms.ModelChoiceField(label="Room", queryset=Room.objects.none(), required=False,
                                  empty_label="(choose a room)",
                                  help_text="When it applies to one room.")
    staff = forms.ModelChoiceField(label="Staff member", queryset=StaffMember.objects.none(),
                                   required=False, empty_label="(choose a staff member)",
                                   help_text="When it applies to one staff member.")

    field_map = {"room_id": "room", "staff_id": "staff"}

    def setup(self) -> None:
        self.fields["room"].queryset = _rooms(self.studio, keep=_named(self, "room_id"))
        self.fields["staff"].queryset = _staff(self.studio,
                                               keep=_named(self, "staff_id"))

    @classmethod
    def initial_from(cls, instance, studio: Studio) -> dict:
        initial = super().initial_from(instance, studio)
        initial["room"], initial["staff"] = instance.room_id, instance.staff_id
        return initial

    def to_data(self) -> dict:
        data = dict(self.cleaned_data)
        target = data["target_type"]
        # Only the row the target names is sent: a room left selected while "the whole
        # studio" is chosen is not an error worth showing.
        room, staff = data.pop("room"), data.pop("staff")
        data["room_id"] = room.pk if room and target == Target.ROOM else None
        data["staff_id"] = staff.pk if staff and target == Target.STAFF else None
        return data


class ScheduleRuleForm(TargetedForm):
    weekdays = forms.TypedMultipleChoiceField(
        label="Days", choices=WEEKDAYS, coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple)
    start_time = _time_field("Opens")
    end_time = _time_field("Closes", help_text="A closing time before the opening time runs "
                                               "past midnight.")
    effective_from = _date_field("From (optional)", required=False)
    effective_to = _date_field("Until (optional, inclusive)", required=False)

    fieldsets = [("Applies to", ["target_type", "room", "staff"]),
                 ("Hours", ["weekdays", "start_time", "end_time"]),
                 ("Dates", ["effective_from", "effective_to"])]


class BlackoutForm(TargetedForm):
    start_at = LocalDateTimeField(label="Start")
    end_at = LocalDateTimeField(label="End")
    reason = forms.CharField(label="Reason", required=False, max_length=200,
                             help_text="Shown to your team, e.g. Holiday or Console repair.")

    fieldsets = [("Applies to", ["target_type", "room", "staff"]),
                 ("When", ["start_at", "end_at", "reason"])]

    def setup(self) -> None:
        super().setup()
        zone = self.studio.time_zone
        for name in ("start_at", "end_at"):
            self.fields[name].help_text = f"Local time in {zone}."

    @classmethod
    def initial_from(cls, instance: Blackout, studio: Studio) -> dict:
        initial = super().initial_from(instance, studio)
        zone = studio_zone(studio)
        for name in ("start_at", "end_at"):
            initial[name] = getattr(instance, name).astimezone(zone).replace(tzinfo=None)
        return initial


class BufferForm(ResourceForm):
    scope = forms.ChoiceField(label="Applies to", choices=BufferRule.Scope.choices)
    room = forms.ModelChoiceField(label="Room", queryset=Room.objects.none(), required=False,
                                  empty_label="(choose a room)")
    service = forms.ModelChoiceField(label="Service", queryset=Service.objects.none(),
                                     required=False, empty_label="(choose a service)")
    staff = forms.ModelChoiceField(label="Staff member", queryset=StaffMember.objects.none(),
                                   required=False, empty_label="(choose a staff member)")
    before_minutes = _minutes("Before (minutes)", minimum=0, initial=0,
                              help_text="Setup time blocked before each booking.")
    after_minutes = _minutes("After (minutes)", minimum=0, initial=0,
                             help_text="Teardown or changeover time blocked after.")

    field_map = {"room_id": "room", "service_id": "service", "staff_id": "staff"}
    fieldsets = [("Applies to", ["scope", "room", "service", "staff"]),
                 ("Minutes", ["before_minutes", "after_minutes"])]

    def setup(self) -> None:
        self.fields["room"].queryset = _rooms(self.studio, keep=_named(self, "room_id"))
        self.fields["service"].queryset = _services(self.studio)
        self.fields["staff"].queryset = _staff(self.studio,
                                               keep=_named(self, "staff_id"))

    @classmethod
    def initial_from(cls, instance: BufferRule, studio: Studio) -> dict:
        initial = super().initial_from(instance, studio)
        initial.update(room=instance.room_id, service=instance.service_id,
                       staff=instance.staff_id)
        return initial

    def to_data(self) -> dict:
        data = dict(self.cleaned_data)
        scope = data["scope"]
        for name in ("room", "service", "staff"):
            row = data.pop(name)
            data[f"{name}_id"] = row.pk if row and name == scope else None
        return data


class TaxRateForm(ResourceForm):
    name = forms.CharField(label="Name", max_length=64, help_text="e.g. HST, GST, QST.")
    rate = TaxRateField(label="Rate (%)",
                        help_text="Up to 4 decimals, at most 30, e.g. 13 or 9.975.")
    is_active = forms.BooleanField(label="Active (charged on new bookings)", required=False,
                                   initial=True)

    field_map = {"rate_ppm": "rate"}
    fieldsets = [("Tax rate", ["name", "rate", "is_active"])]

    @classmethod
    def initial_from(cls, instance: TaxRate, studio: Studio) -> dict:
        return {"name": instance.name, "rate": format_percent_ppm(instance.rate_ppm),
                "is_active": instance.is_active}

    def to_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["rate_ppm"] = data.pop("rate")
        return data


class FeeForm(ResourceForm):
    name = forms.CharField(label="Name", max_length=64, help_text="e.g. Cleaning fee.")
    kind = forms.ChoiceField(label="Kind", choices=[
        (Fee.Kind.FIXED, "Fixed amount per booking"),
        (Fee.Kind.PERCENT, "Percentage of the booked lines")])
    amount = forms.CharField(label="Amount", max_length=20,
                             widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                           "autocomplete": "off"}))
    is_taxable = forms.BooleanField(label="Taxable (taxes apply to it)", required=False,
                                    initial=True)
    is_active = forms.BooleanField(label="Active (added to new bookings)", required=False,
                                   initial=True)

    fieldsets = [("Fee", ["name", "kind", "amount", "is_taxable", "is_active"])]

    def setup(self) -> None:
        self.fields["amount"].help_text = (
            f"A fixed fee in {self.studio.currency} (e.g. 25.00), or a percentage with up to "
            "2 decimals (e.g. 3.5).")

    @classmethod
    def initial_from(cls, instance: Fee, studio: Studio) -> dict:
        amount = (decimal_amount(instance.amount, studio.currency)
                  if instance.kind == Fee.Kind.FIXED else format_basis_points(instance.amount))
        return {"name": instance.name, "kind": instance.kind, "amount": amount,
                "is_taxable": instance.is_taxable, "is_active": instance.is_active}

    def clean(self):
        data = super().clean()
        text, kind = data.get("amount"), data.get("kind")
        if text is not None and kind:
            try:
                data["amount"] = (parse_amount(text, self.studio.currency,
                                               maximum=MAX_RATE_MINOR)
                                  if kind == Fee.Kind.FIXED else parse_percent(text))
            except ValidationError as error:
                self.add_error("amount", error)
        return data


# --- settings --------------------------------------------------------------------------------

def _limits(setting: str) -> dict[str, int]:
    low, high = SETTING_LIMITS[setting]
    return {"min_value": low, "max_value": high}


class SettingsForm(forms.Form):
    """Booking settings and the reschedule policy (``update_settings``); the cancellation
    tiers are a formset beside it (:data:`TierFormSet`). Ranges are
    ``studios.services.SETTING_LIMITS`` (the service's) and ``scheduling.policies``'."""

    hold_minutes = forms.IntegerField(
        label="Hold length (minutes)", **_limits("hold_minutes"),
        help_text="How long a slot stays reserved while the artist pays.")
    max_active_holds = forms.IntegerField(
        label="Holds per artist", **_limits("max_active_holds"),
        help_text="How many slots one artist may hold at once.")
    lead_time_minutes = forms.IntegerField(
        label="Lead time (minutes)", **_limits("lead_time_minutes"),
        help_text="The least notice a booking needs, e.g. 120 for two hours.")
    horizon_days = forms.IntegerField(label="Booking horizon (days)", **_limits("horizon_days"),
                                      help_text="How far ahead one may book.")
    slot_grid_minutes = forms.IntegerField(
        label="Start-time grid (minutes)", **_limits("slot_grid_minutes"),
        help_text="Sessions may start every this many minutes (15: 10:00, 10:15 …).")
    requires_approval = forms.BooleanField(
        label="Approve every booking (in addition to services that ask for it)",
        required=False)
    max_unpaid_bookings = forms.IntegerField(
        label="Unpaid bookings per artist", **_limits("max_unpaid_bookings"),
        help_text="How many upcoming bookings one artist may have with nothing paid yet.")
    max_unpaid_hours = forms.IntegerField(
        label="Unpaid hours per artist", **_limits("max_unpaid_hours"),
        help_text="How many hours of upcoming sessions one artist may have with nothing "
                  "paid yet.")
    first_booking_rule = forms.ChoiceField(
        label="An artist's first booking here", choices=[
            ("none", "Follows the rules above"),
            ("approval", "Waits for your approval"),
            ("deposit", "Waits for its deposit: paying it confirms the booking")],
        help_text="For artists with no completed or paid booking at this studio yet.")
    approval_window_hours = forms.IntegerField(
        label="Approval window (hours)", **_limits("approval_window_hours"),
        help_text="How long you may take to approve a booking.")
    balance_lead_hours = forms.IntegerField(
        label="Balance charged (hours before the session)",
        **_limits("balance_lead_hours"))
    free_reschedules = forms.IntegerField(label="Free reschedules", min_value=0,
                                          max_value=1000)
    free_min_hours_before = forms.IntegerField(
        label="Free until (hours before the start)", min_value=0, max_value=MAX_HOURS)
    fee = AmountField(label="Reschedule fee", currency="CAD", maximum=MAX_RATE_MINOR,
                      required=False, help_text="Charged for a reschedule that is not free.")
    fee_percent = forms.IntegerField(label="Reschedule fee (% of the booking total)",
                                     min_value=0, max_value=100, required=False,
                                     help_text="Added to the fixed fee.")

    booking_fields = ["hold_minutes", "max_active_holds", "lead_time_minutes", "horizon_days",
                      "slot_grid_minutes", "max_unpaid_bookings", "max_unpaid_hours"]
    approval_fields = ["requires_approval", "first_booking_rule", "approval_window_hours",
                       "balance_lead_hours"]
    reschedule_fields = ["free_reschedules", "free_min_hours_before", "fee", "fee_percent"]
    field_map = {"fee_minor": "fee"}

    def __init__(self, *args, studio: Studio, **kwargs):
        self.studio = studio
        super().__init__(*args, **kwargs)
        self.fields["fee"].currency = studio.currency
        self.fields["fee"].label = f"Reschedule fee ({studio.currency})"

    def section(self, names: list[str]) -> list[forms.BoundField]:
        return [self[name] for name in names]

    def booking_section(self):
        return self.section(self.booking_fields)

    def approval_section(self):
        return self.section(self.approval_fields)

    def reschedule_section(self):
        return self.section(self.reschedule_fields)


class TierForm(forms.Form):
    """One row of the cancellation schedule; a row left blank is dropped."""

    min_hours_before = forms.IntegerField(label="At least (hours before)", min_value=0,
                                          max_value=MAX_HOURS, required=False)
    refund_percent = forms.IntegerField(label="Refund (%)", min_value=0, max_value=100,
                                        required=False)

    def clean(self):
        data = super().clean()
        hours, percent = data.get("min_hours_before"), data.get("refund_percent")
        if (hours is None) != (percent is None) and not self.errors:
            missing = "refund_percent" if percent is None else "min_hours_before"
            self.add_error(missing, "Fill in both, or clear the row to remove it.")
        return data

    def is_blank(self) -> bool:
        return (self.cleaned_data.get("min_hours_before") is None
                and self.cleaned_data.get("refund_percent") is None)


TierFormSet = forms.formset_factory(TierForm, extra=2, max_num=20, validate_max=True)


# --- integrations ----------------------------------------------------------------------------

class CalDAVForm(forms.Form):
    """Mirrors ``api.routers.calendars.CalDAVIn``."""

    url = forms.CharField(label="CalDAV server URL", max_length=1000,
                          widget=forms.URLInput(attrs={"autocomplete": "off"}))
    username = forms.CharField(label="Username", max_length=200, required=False,
                               widget=forms.TextInput(attrs={"autocomplete": "off"}))
    password = forms.CharField(label="App password", max_length=500, required=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               help_text="Use an app-specific password you can revoke on its "
                                         "own; it is never shown again.")
    calendar_url = forms.CharField(label="Calendar URL (optional)", max_length=1000,
                                   required=False,
                                   widget=forms.URLInput(attrs={"autocomplete": "off"}),
                                   help_text="Empty: the account's first calendar.")


class ExternalCalendarForm(forms.Form):
    """Mirrors ``api.routers.calendars.ExternalCalendarIn``; ``target`` is ``room:<id>`` or
    ``staff:<id>``, one select for "whose time does it block"."""

    target = forms.ChoiceField(label="Blocks")
    url = forms.CharField(label="Calendar address", max_length=1000,
                          widget=forms.URLInput(attrs={"autocomplete": "off"}),
                          help_text="An ICS address (https:// or webcal://, e.g. Google's "
                                    "secret address) or a CalDAV calendar URL.")
    kind = forms.ChoiceField(label="Kind", choices=[("ics", "ICS address"),
                                                    ("caldav", "CalDAV calendar")])
    name = forms.CharField(label="Name", max_length=120, required=False)
    username = forms.CharField(label="Username (CalDAV)", max_length=200, required=False,
                               widget=forms.TextInput(attrs={"autocomplete": "off"}))
    password = forms.CharField(label="Password (CalDAV)", max_length=500, required=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    zone = forms.CharField(label="Time zone for all-day events (optional)", max_length=64,
                           required=False, help_text="An IANA name such as America/Toronto; "
                                                     "empty: the calendar's own, else the "
                                                     "studio's.")

    field_map = {"room_id": "target", "staff_id": "target"}

    def __init__(self, *args, studio: Studio, **kwargs):
        self.studio = studio
        super().__init__(*args, **kwargs)
        rooms = [(f"room:{r.pk}", r.name) for r in _rooms(studio)]
        staff = [(f"staff:{s.pk}", s.display_name) for s in _staff(studio)]
        self.fields["target"].choices = [("", "(choose a room or a staff member)")] + [
            (group, choices) for group, choices in (("Rooms", rooms), ("Staff", staff))
            if choices]

    def target_rows(self) -> tuple[Room | None, StaffMember | None]:
        """The chosen room or staff member (this studio's; the choices guarantee it)."""
        kind, _, pk = self.cleaned_data["target"].partition(":")
        if kind == "room":
            return _rooms(self.studio).get(pk=int(pk)), None
        return None, _staff(self.studio).get(pk=int(pk))
