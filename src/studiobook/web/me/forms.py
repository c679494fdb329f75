"""Forms of the artist's own pages. They parse and validate input only; the booking, notify
and calendars services apply the rules."""

from __future__ import annotations

from django import forms
from django.conf import settings

from studiobook.accounts.services import PHONE_EXAMPLE
from studiobook.web.fields import LimitedDateField
from studiobook.web.public.forms import InstantField


class CancelForm(forms.Form):
    """Cancel a booking. ``expected_refund`` is the refund the page showed (minor units): the
    service cancels only if it is still exactly that."""

    reason = forms.CharField(
        label="Reason", required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional. The studio sees it.")
    expected_refund = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class NewDateForm(forms.Form):
    """Step 1 of a reschedule: the day to look at, in the studio's zone."""

    date = LimitedDateField(label="New date", widget=forms.DateInput(attrs={"type": "date"}),
                           help_text="Free start times are listed in the studio's time zone.")


class RescheduleChoiceForm(forms.Form):
    """Step 2 (preview): the chosen start (a listed time, ``bookings.strip.iso_utc``; any
    ISO 8601 instant with its offset is read, as UTC), and the day it was chosen from."""

    date = LimitedDateField(required=False, widget=forms.HiddenInput)
    start = InstantField(widget=forms.HiddenInput, error_messages={
        "invalid": "Choose one of the listed start times."})


class RescheduleConfirmForm(RescheduleChoiceForm):
    """Confirm the move. ``expected_fee`` is the fee the preview showed (minor units): the
    service moves the booking only if it is still exactly that."""

    expected_fee = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


def language_choices() -> list[tuple[str, str]]:
    return [("", "The studio's language"), *settings.LANGUAGES]


class PreferencesForm(forms.Form):
    """Notification preferences (``notify.services.update_preferences``)."""

    email = forms.BooleanField(label="Email me about my bookings", required=False)
    phone = forms.CharField(
        label="Mobile number", required=False, max_length=32,
        help_text=f"With your country code, e.g. {PHONE_EXAMPLE}. Used only for texts about "
                  "your bookings.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel",
                                      "inputmode": "tel"}))
    sms = forms.BooleanField(label="Text me (SMS) about my bookings", required=False,
                             help_text="Needs a mobile number above.")
    language = forms.ChoiceField(label="Language of messages", required=False, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = language_choices()
