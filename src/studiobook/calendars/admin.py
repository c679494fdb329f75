"""Admin: sync failures and failing external calendars are visible here, with actions that
call the services (retry a sync, refresh a calendar now)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from studiobook.calendars import services
from studiobook.calendars.models import (
    CalDAVAccount,
    CalendarState,
    CalendarSync,
    ExternalBusy,
    ExternalCalendar,
    FeedToken,
)
from studiobook.studios.errors import DomainError


@admin.register(CalendarSync)
class CalendarSyncAdmin(admin.ModelAdmin):
    list_display = ("booking", "staff", "provider", "status", "attempts", "last_attempt_at",
                    "next_attempt_at", "short_error")
    list_filter = ("status", "provider")
    search_fields = ("booking__code", "staff__display_name", "error")
    readonly_fields = [f.name for f in CalendarSync._meta.fields]
    actions = ["retry"]

    @admin.display(description="error")
    def short_error(self, row: CalendarSync) -> str:
        return row.error[:120]

    @admin.action(description="Retry the selected syncs now")
    def retry(self, request, queryset):
        done = 0
        for row in queryset.select_related("booking__studio"):
            try:
                services.resync_booking(actor=request.user, booking=row.booking)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{row.booking}: {error.message}", messages.ERROR)
        self.message_user(request, f"{done} sync(s) enqueued")


class WriteOnlyInput(forms.TextInput):
    """A text input that never renders a value: what is stored is not sent back."""

    def get_context(self, name, value, attrs):
        return super().get_context(name, None, attrs)


class SecretsForm(forms.ModelForm):
    """Passwords and secret URLs are write-only (encrypted at rest, never rendered back): the
    inputs are always empty, and left empty on a change they keep the stored value."""

    secret_fields: tuple[str, ...] = ()
    KEEP = "Stored encrypted and never shown; leave empty to keep it, or type a new one."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields[name]
            self.initial[name] = ""  # so an empty input is "unchanged"
            if self.instance.pk:
                field.required = False
                if getattr(self.instance, name):
                    field.help_text = self.KEEP

    def clean(self):
        data = super().clean()
        if self.instance.pk:
            for name in self.secret_fields:
                if not data.get(name) and name not in self._errors:
                    data[name] = getattr(self.instance, name)
        return data


class CalDAVAccountForm(SecretsForm):
    secret_fields = ("password",)
    password = forms.CharField(max_length=500, widget=forms.PasswordInput(
        render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="an app-specific password")
    url = forms.CharField(max_length=500)
    calendar_url = forms.CharField(max_length=500)

    class Meta:
        model = CalDAVAccount
        fields = ["staff", "url", "username", "password", "calendar_url", "is_active"]


@admin.register(CalDAVAccount)
class CalDAVAccountAdmin(admin.ModelAdmin):
    form = CalDAVAccountForm
    list_display = ("staff", "username", "calendar_url", "is_active", "updated_at")


class ExternalCalendarForm(SecretsForm):
    secret_fields = ("url", "password")
    url = forms.CharField(max_length=1000, widget=WriteOnlyInput(attrs={"autocomplete": "off"}),
                          help_text="an ICS address (it may be a secret address) or a CalDAV "
                                    "calendar URL")
    password = forms.CharField(max_length=500, required=False, widget=forms.PasswordInput(
        render_value=False, attrs={"autocomplete": "new-password"}))

    class Meta:
        model = ExternalCalendar
        fields = ["studio", "room", "staff", "name", "kind", "url", "username", "password",
                  "zone", "is_active"]


@admin.register(ExternalCalendar)
class ExternalCalendarAdmin(admin.ModelAdmin):
    form = ExternalCalendarForm
    list_display = ("__str__", "studio", "room", "staff", "kind", "host", "status",
                    "refreshed_at", "last_success_at", "short_error")

    @admin.display(description="host")
    def host(self, calendar: ExternalCalendar) -> str:
        """Only the host of the address: the rest may be the secret."""
        from urllib.parse import urlsplit

        return urlsplit(calendar.url).hostname or ""
    list_filter = ("status", "kind", "is_active")
    readonly_fields = ("status", "refreshed_at", "last_success_at", "last_error")
    actions = ["refresh"]

    @admin.display(description="last error")
    def short_error(self, calendar: ExternalCalendar) -> str:
        return calendar.last_error[:120]

    @admin.action(description="Refresh the selected calendars now")
    def refresh(self, request, queryset):
        for calendar in queryset.select_related("studio", "room", "staff"):
            try:
                calendar = services.refresh_now(actor=request.user, external_calendar=calendar)
            except DomainError as error:
                self.message_user(request, f"{calendar}: {error.message}", messages.ERROR)
                continue
            level = messages.SUCCESS if calendar.status == "ok" else messages.WARNING
            self.message_user(request, f"{calendar}: {calendar.status} "
                                       f"{calendar.last_error}".strip(), level)


@admin.register(ExternalBusy)
class ExternalBusyAdmin(admin.ModelAdmin):
    list_display = ("external_calendar", "start_at", "end_at", "summary")
    list_filter = ("external_calendar",)


@admin.register(FeedToken)
class FeedTokenAdmin(admin.ModelAdmin):
    list_display = ("kind", "studio", "staff", "room", "user", "is_active", "created_at",
                    "revoked_at")
    list_filter = ("kind", "is_active")
    readonly_fields = [f.name for f in FeedToken._meta.fields]


@admin.register(CalendarState)
class CalendarStateAdmin(admin.ModelAdmin):
    list_display = ("uid", "sequence", "updated_at")
    search_fields = ("uid",)
    readonly_fields = ("booking", "uid", "sequence", "fingerprint", "updated_at")
