"""Forms of the public booking flow: the availability search and the booking drawer.

They parse and check the input's shape (a date, whole minutes, ids of this studio's rows, an
aware start). The business rules (durations, lead time, horizon of starts, free time, hold
limits) stay in the services, whose ``DomainError``s the views put next to the same fields.

:func:`parse_utc` and :class:`InstantField` are the one parser of a posted instant, for these
forms and the artist's reschedule forms (``web.me.forms``); pages write instants with
``bookings.strip.iso_utc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from django import forms
from django.urls import reverse

from studiobook.studios.models import Room, Service, StaffMember, Studio
from studiobook.web.fields import LimitedDateField, validate_instant

MAX_DURATION_MINUTES = 24 * 60
MAX_ADD_ON_QUANTITY = 20


def bookable_services(studio: Studio):
    """Services an artist can book on their own: active and not an add-on."""
    return Service.objects.for_studio(studio).filter(is_active=True, is_add_on=False)


def add_on_services(studio: Studio):
    """Extras sold with a session (``Service.is_add_on``), active ones."""
    return Service.objects.for_studio(studio).filter(is_active=True, is_add_on=True)


class ServiceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Service) -> str:
        return obj.name


class ServiceListField(forms.ChoiceField):
    """One of ``services``, a list the view has already loaded: choosing, checking and
    drawing the options query nothing. Cleans to the :class:`Service`; answers like a
    ``ModelChoiceField`` to an id that is not in the list."""

    default_error_messages = {
        "invalid_choice": forms.ModelChoiceField.default_error_messages["invalid_choice"],
    }

    def __init__(self, *, services: Sequence[Service] = (), **kwargs):
        super().__init__(**kwargs)
        self.services = services

    @property
    def services(self) -> list[Service]:
        return list(self._by_id.values())

    @services.setter
    def services(self, services: Sequence[Service]) -> None:
        self._by_id = {str(s.id): s for s in services}
        self.choices = [(s.id, s.name) for s in services]

    def to_python(self, value) -> Service | None:
        if value in self.empty_values:
            return None
        service = self._by_id.get(str(value))
        if service is None:
            raise forms.ValidationError(self.error_messages["invalid_choice"],
                                        code="invalid_choice", params={"value": value})
        return service

    def validate(self, value) -> None:
        forms.Field.validate(self, value)  # required only: to_python checked the choice


class AvailabilityForm(forms.Form):
    """``GET /studios/<slug>/availability``: which day, service, length, room and engineer.

    ``today`` is the studio's local date; a day before it or past the studio's booking horizon
    is refused here, so the date picker and the server agree."""

    date = LimitedDateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}),
                           error_messages={"invalid": "Enter a date like 2026-11-24."})
    service = ServiceListField(label="Service")
    duration = forms.IntegerField(
        label="Duration (minutes)", min_value=1, max_value=MAX_DURATION_MINUTES,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={"invalid": "Enter the length in whole minutes, e.g. 120."})
    room = forms.TypedChoiceField(label="Room", required=False, coerce=int, empty_value=None)
    staff = forms.TypedChoiceField(label="Engineer", required=False, coerce=int,
                                   empty_value=None)

    def __init__(self, *args, studio: Studio, today: date,
                 services: list[Service] | None = None, **kwargs):
        """``services``: the studio's :func:`bookable_services`, when the view has them."""
        super().__init__(*args, **kwargs)
        self.studio = studio
        self.today = today
        self.last_day = today + timedelta(days=studio.horizon_days)
        self.fields["service"].services = (list(bookable_services(studio)) if services is None
                                           else services)
        self.fields["room"].choices = [("", "Any room")] + [
            (r.id, r.name) for r in Room.objects.for_studio(studio).filter(is_active=True)]
        staff = list(StaffMember.objects.for_studio(studio).filter(is_active=True))
        self.fields["staff"].choices = [("", "Any engineer")] + [
            (s.id, s.display_name) for s in staff]
        self.has_staff = bool(staff)
        self.fields["date"].widget.attrs.update(min=today.isoformat(),
                                                max=self.last_day.isoformat())
        self.fields["duration"].help_text = ""

    def clean_date(self) -> date:
        day = self.cleaned_data["date"]
        if day < self.today:
            raise forms.ValidationError(
                f"That day has passed: pick {self.today:%Y-%m-%d} or later.")
        if day > self.last_day:
            raise forms.ValidationError(
                f"Bookings open {self.studio.horizon_days} days ahead: pick a day up to "
                f"{self.last_day:%Y-%m-%d}.")
        return day


def parse_utc(value: str) -> datetime | None:
    """An ISO 8601 instant with an offset ("2026-11-24T15:00:00Z" or "...+00:00") as aware
    UTC; None when it is not one (a naive time is refused: a start must say which instant it
    is)."""
    try:
        instant = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError, TypeError):
        return None
    if instant.tzinfo is None or instant.utcoffset() is None:
        return None
    return instant.astimezone(UTC)


class InstantField(forms.CharField):
    """An instant posted back by a page (:func:`parse_utc`), cleaned to aware UTC. Anything
    else is the ``invalid`` error: give it a message that says where to pick a time."""

    default_error_messages = {"invalid": "Enter a time with its UTC offset, like "
                                         "2026-11-24T15:00:00Z."}
    default_validators = [validate_instant]

    def to_python(self, value) -> datetime | None:
        value = super().to_python(value)
        if not value:
            return None
        instant = parse_utc(value)
        if instant is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return instant


class BookForm(forms.Form):
    """The booking drawer: the slot chosen on the strip (hidden fields), extras, and, to
    hold it, the policy agreement (``require_agreement``, on POST)."""

    service = ServiceChoiceField(queryset=Service.objects.none(), widget=forms.HiddenInput,
                                 error_messages={"invalid_choice": "Pick a service offered "
                                                 "by this studio."})
    start = InstantField(widget=forms.HiddenInput, error_messages={
        "invalid": "Pick a start time on the availability strip (a UTC time like "
                   "2026-11-24T15:00:00Z)."})
    duration = forms.IntegerField(min_value=1, max_value=MAX_DURATION_MINUTES,
                                  widget=forms.HiddenInput)
    room = forms.IntegerField(required=False, widget=forms.HiddenInput)
    staff = forms.IntegerField(required=False, widget=forms.HiddenInput)
    agree = forms.BooleanField(
        label="I agree to the cancellation and reschedule policy", required=True,
        error_messages={"required": "Tick the box to agree to the policy before you hold "
                                    "this slot."})

    def __init__(self, *args, studio: Studio, require_agreement: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.studio = studio
        self.require_agreement = require_agreement
        self.fields["service"].queryset = bookable_services(studio)
        self.add_ons = list(add_on_services(studio))
        # Changing a quantity fetches the drawer again and swaps in just its price table.
        refresh = {"hx-get": reverse("web:book", args=[studio.slug]), "hx-trigger": "change",
                   "hx-include": "closest form", "hx-target": "#drawer-quote",
                   "hx-select": "#drawer-quote", "hx-swap": "outerHTML",
                   "inputmode": "numeric"}
        for add_on in self.add_ons:
            self.fields[f"add_on_{add_on.id}"] = forms.IntegerField(
                label=f"{add_on.name} (quantity)", required=False, min_value=0,
                max_value=MAX_ADD_ON_QUANTITY, initial=0,
                widget=forms.NumberInput(attrs=refresh))

    def full_clean(self) -> None:
        super().full_clean()
        # Showing the drawer (GET) only checks the slot: the box is required to hold it, and
        # is shown as required, but an unticked box is not an error until then.
        if not self.require_agreement and self._errors is not None:
            self._errors.pop("agree", None)

    def add_on_fields(self):
        return [self[f"add_on_{a.id}"] for a in self.add_ons]

    def chosen_add_ons(self) -> list[tuple[Service, int]]:
        """``(service, quantity)`` for each extra asked for (valid form only)."""
        return [(a, self.cleaned_data.get(f"add_on_{a.id}") or 0) for a in self.add_ons
                if self.cleaned_data.get(f"add_on_{a.id}")]
