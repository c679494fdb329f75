"""Forms of the calendar board, the approval queue and the bookings pages.

They only parse and check the shape of what was typed; the services enforce the rules.
Wall-clock input (a date and a start time) is read in the studio's zone here, at the edge,
and turned into an aware UTC instant; a local time that does not exist (skipped by a DST
change) is an error next to the field, never a silently shifted instant.
"""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib.auth import get_user_model

from studiobook.bookings.models import Booking
from studiobook.bookings.queue import APPROVE, MAX_TEXT, REJECT
from studiobook.bookings.strip import day_label
from studiobook.studios.importer import to_utc
from studiobook.studios.models import Room, Service, StaffMember, Studio
from studiobook.web.common import studio_zone
from studiobook.web.fields import AmountField, LimitedDateField, WallClockTimeField

BY_CHOICES = [("room", "By room"), ("staff", "By staff")]
VIEW_CHOICES = [("day", "Day"), ("week", "Week")]
HOLD, ADMIN_BOOKING = "hold", "admin"


class BoardQueryForm(forms.Form):
    """The board's GET parameters: ``by`` (room | staff), ``view`` (day | week) and ``date``
    (a local date, ISO)."""

    by = forms.ChoiceField(choices=BY_CHOICES, required=False)
    view = forms.ChoiceField(choices=VIEW_CHOICES, required=False)
    date = LimitedDateField(label="Date", required=False,
                           widget=forms.DateInput(attrs={"type": "date"}))


class ServiceSelect(forms.Select):
    """A service <select> whose options carry the service's duration rules
    (``data-min``, ``data-max``, ``data-step``, minutes) so the board's script can round a
    dragged range to a duration the service allows; the server checks it regardless."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        service = getattr(value, "instance", None)
        if service is not None:
            option["attrs"].update({"data-min": service.min_duration_minutes,
                                    "data-max": service.max_duration_minutes,
                                    "data-step": service.duration_step_minutes})
        return option


class NewBookingForm(forms.Form):
    """A hold or an admin booking on a lane of the board (the keyboard form behind the
    pointer range selection). ``clean()`` adds ``start_at`` (aware UTC)."""

    kind = forms.ChoiceField(label="Kind", choices=[(HOLD, "Hold"), (ADMIN_BOOKING,
                                                                   "Admin booking")],
                             initial=HOLD, widget=forms.RadioSelect)
    service = forms.ModelChoiceField(label="Service", queryset=Service.objects.none(),
                                     empty_label="Choose a service", widget=ServiceSelect)
    room = forms.ModelChoiceField(label="Room", queryset=Room.objects.none(), required=False,
                                  empty_label="Any suitable room")
    staff = forms.ModelChoiceField(label="Engineer", queryset=StaffMember.objects.none(),
                                   required=False, empty_label="Any suitable engineer")
    date = LimitedDateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    start_time = WallClockTimeField(label="Start time",
                                 widget=forms.TimeInput(attrs={"type": "time", "step": 60},
                                                        format="%H:%M"))
    duration_minutes = forms.IntegerField(label="Duration (minutes)", min_value=1,
                                          max_value=24 * 60,
                                          widget=forms.NumberInput(attrs={"step": 15}))
    artist_email = forms.EmailField(
        label="Artist email", required=False,
        help_text="Admin bookings: the artist's account (they get the emails and the "
                  "booking shows in their bookings). Empty: the booking is yours.")
    override = forms.BooleanField(
        label="Override conflicts", required=False,
        help_text="Admin bookings only: book even over another booking, a hold or a "
                  "blackout. Shown as a conflict on the board and written to the audit log.")

    def __init__(self, *args, studio: Studio, **kwargs):
        super().__init__(*args, **kwargs)
        self.studio = studio
        self.fields["service"].queryset = Service.objects.for_studio(studio).filter(
            is_active=True, is_add_on=False)
        self.fields["room"].queryset = Room.objects.for_studio(studio).filter(is_active=True)
        self.fields["staff"].queryset = StaffMember.objects.for_studio(studio).filter(
            is_active=True)

    def clean(self):
        data = super().clean()
        day, at = data.get("date"), data.get("start_time")
        if day and at:
            # An ambiguous time (clocks going back) is its earlier instant.
            start_at = to_utc(datetime.combine(day, at), studio_zone(self.studio),
                              is_end=False)
            if start_at is None:
                self.add_error("start_time",
                               f"{at:%H:%M} does not exist on {day_label(day)} in this time "
                               "zone (the clocks go forward)")
            else:
                data["start_at"] = start_at
        if data.get("kind") == HOLD:
            if data.get("override"):
                self.add_error("override", "only an admin booking can override conflicts")
            if data.get("artist_email"):
                self.add_error("artist_email", "a hold is placed in your name: leave this "
                                               "empty, or choose Admin booking")
        elif data.get("artist_email"):
            data["artist"] = get_user_model().objects.filter(
                email__iexact=data["artist_email"]).first()
            if data["artist"] is None:
                self.add_error("artist_email", "no account has this email address: ask the "
                                               "artist to sign up first, or leave it empty")
        return data


class _CodesField(forms.Field):
    """The booking codes ticked in the queue (a list; checkboxes named ``codes``)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        return [str(v).strip() for v in values if str(v).strip()]


class DecisionForm(forms.Form):
    """The queue's bulk form: which bookings, approve or reject, an internal note and a
    message to the artist (see ``bookings.queue`` for where each text goes)."""

    codes = _CodesField(label="Bookings", error_messages={
        "required": "Select at least one booking."})
    decision = forms.ChoiceField(choices=[(APPROVE, "Approve selected"),
                                          (REJECT, "Reject selected")])
    internal_note = forms.CharField(
        label="Internal note", required=False, max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For the studio only: kept with an approval, and in the audit log with a "
                  "rejection.")
    message_to_artist = forms.CharField(
        label="Message to the artist", required=False, max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sent in the rejection email as the reason. Approval emails carry no "
                  "message.")


class ApproveForm(forms.Form):
    internal_note = forms.CharField(
        label="Internal note", required=False, max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For the studio only: kept with the approval.")


class RejectForm(forms.Form):
    message_to_artist = forms.CharField(
        label="Message to the artist", required=False, max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sent in the rejection email as the reason.")
    internal_note = forms.CharField(
        label="Internal note", required=False, max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For the studio only: kept in the audit log.")


class CancelForm(forms.Form):
    """An admin's cancellation: the refund shown is sent back and must still hold."""

    reason = forms.CharField(
        label="Message to the artist", required=False, max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Sent in the cancellation email.")
    expected_refund_minor = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class AssignStaffForm(forms.Form):
    staff = forms.ModelMultipleChoiceField(
        label="Engineers", queryset=StaffMember.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple)
    override = forms.BooleanField(label="Override conflicts", required=False,
                                  help_text="Assign even if an engineer is busy or off.")

    def __init__(self, *args, studio: Studio, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = StaffMember.objects.for_studio(studio).filter(
            is_active=True)


class OfflinePaymentForm(forms.Form):
    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = AmountField(currency=currency, minimum=1,
                                            label=f"Amount ({currency})")
        self.fields["note"] = forms.CharField(
            label="Note", required=False, max_length=300,
            help_text="How it was paid: cash, card at the desk, invoice number.")


class RefundForm(forms.Form):
    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = AmountField(currency=currency, minimum=1,
                                           label=f"Refund amount ({currency})")
        self.fields["reason"] = forms.CharField(label="Reason", max_length=300)


class EmptyForm(forms.Form):
    """Actions without input (complete, no-show, retry calendar sync)."""


class BookingFilterForm(forms.Form):
    """Filters of the bookings table (GET). Dates are local dates of the session's start."""

    status = forms.ChoiceField(label="Status", required=False,
                               choices=[("", "Any status"), *Booking.Status.choices])
    date_from = LimitedDateField(label="From", required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = LimitedDateField(label="To", required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    room = forms.ModelChoiceField(label="Room", required=False, queryset=Room.objects.none(),
                                  empty_label="Any room")
    engineer = forms.ModelChoiceField(label="Engineer", required=False,
                                      queryset=StaffMember.objects.none(),
                                      empty_label="Any engineer")
    q = forms.CharField(label="Search", required=False, max_length=200,
                        help_text="Booking code or artist email",
                        widget=forms.TextInput(attrs={"type": "search"}))

    def __init__(self, *args, studio: Studio, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["room"].queryset = Room.objects.for_studio(studio)
        self.fields["engineer"].queryset = StaffMember.objects.for_studio(studio)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "must be on or after the From date")
        return data
