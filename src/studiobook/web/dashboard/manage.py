"""Management pages: rooms, services, staff and skills, working hours, blackouts, buffers,
taxes and fees, policies and booking settings, integrations. Studio admins only.

``/dashboard/<slug>/manage/<kind>`` lists one kind of row (``KINDS``), with pages to add,
edit and remove (after a confirmation page) each row. Rooms, services and staff are retired
(``is_active = False``) rather than deleted, since bookings point at them
(``studios.services.remove``). Forms (``manage_forms``) parse input into the services'
shapes; the services (``studios.services.save``/``remove``/``add_staff_member``/
``update_settings``, ``calendars.services``) check the business rules and name the field at
fault, which the page shows next to that field with a 422, nothing written and the input
kept. Another studio's row is a 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.db.models import Count, Max, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from studiobook.bookings.availability import buffer_minutes
from studiobook.bookings.policies import studio_policies
from studiobook.calendars import services as calendar_services
from studiobook.calendars.models import CalDAVAccount, CalendarSync, ExternalCalendar, FeedToken
from studiobook.scheduling import policies as core_policies
from studiobook.scheduling.money import decimal_amount, format_basis_points, format_percent_ppm
from studiobook.studios import services as studio_services
from studiobook.studios.errors import DomainError, InvalidInput, http_status
from studiobook.studios.importer import to_utc
from studiobook.studios.models import (
    Blackout,
    BufferRule,
    Fee,
    Room,
    ScheduleRule,
    Service,
    StaffMember,
    Studio,
    TaxRate,
)
from studiobook.web.common import add_domain_error, admin_required, is_htmx, studio_zone
from studiobook.web.dashboard import manage_forms as forms_

TEMPLATES = "web/dashboard/manage/"
DAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}

# Friendlier words for some errors of studios.services (by rule and field); any other error
# shows the service's message with its field names replaced by the form's labels.
FRIENDLY_MESSAGES = {
    ("iso_weekday", "weekdays"): "Choose at least one day.",
    ("target", "room_id"): "Choose the room it applies to.",
    ("target", "staff_id"): "Choose the staff member it applies to.",
    ("scope_target", "room_id"): "Choose the room.",
    ("scope_target", "service_id"): "Choose the service.",
    ("scope_target", "staff_id"): "Choose the staff member.",
}


# --- the kinds of rows -----------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """One kind of row managed under ``/manage/<slug>``."""

    slug: str
    model: type[models.Model]
    form: type[forms_.ResourceForm]
    singular: str
    title: str
    empty_text: str
    edit_form: type[forms_.ResourceForm] | None = None
    related: tuple[str, ...] = field(default=())

    @property
    def retires(self) -> bool:
        return self.model in studio_services.RETIRED_NOT_DELETED

    @property
    def add_label(self) -> str:
        return f"Add {self.singular}"

    @property
    def empty_title(self) -> str:
        return f"No {self.title.lower()} yet"

    def rows(self, studio: Studio) -> models.QuerySet:
        """This studio's rows (the only ones a page may show or change)."""
        rows = self.model.objects.filter(studio=studio)
        if self.related:
            rows = rows.select_related(*self.related)
        return rows


KINDS: dict[str, Kind] = {kind.slug: kind for kind in (
    Kind("rooms", Room, forms_.RoomForm, "room", "Rooms",
         "Rooms are what artists book. Add your first room with its equipment and a photo."),
    Kind("services", Service, forms_.ServiceForm, "service", "Services",
         "Services are what artists buy: a recording session, a mix, a podcast hour. Add one "
         "with its durations and price."),
    Kind("staff", StaffMember, forms_.StaffCreateForm, "staff member", "Staff",
         "Add engineers and producers by email; services that need an engineer are offered "
         "only with a staff member who has the skill.", edit_form=forms_.StaffEditForm,
         related=("user",)),
    Kind("hours", ScheduleRule, forms_.ScheduleRuleForm, "working hours", "Working hours",
         "The studio is closed until it has working hours. Add the studio's opening hours; "
         "rooms and engineers without their own follow them.", related=("room", "staff")),
    Kind("blackouts", Blackout, forms_.BlackoutForm, "blackout", "Blackouts",
         "Block time for holidays, maintenance or a sick day: nothing can be booked then.",
         related=("room", "staff")),
    Kind("buffers", BufferRule, forms_.BufferForm, "buffer", "Buffers",
         "Buffers keep setup and changeover time free before and after bookings of a room, "
         "a service or an engineer.", related=("room", "service", "staff")),
    Kind("taxes", TaxRate, forms_.TaxRateForm, "tax rate", "Taxes",
         "No taxes are charged yet. Add the sales taxes you collect, e.g. HST 13 %."),
    Kind("fees", Fee, forms_.FeeForm, "fee", "Fees",
         "No fees are added to bookings. Add a fixed or percentage fee, e.g. a cleaning fee."),
)}


def _kind_or_404(slug: str) -> Kind:
    kind = KINDS.get(slug)
    if kind is None:
        raise Http404(f"no such list: {slug}")
    return kind


def _row_or_404(kind: Kind, studio: Studio, item_id: int):
    row = kind.rows(studio).filter(pk=item_id).first()
    if row is None:
        raise Http404(f"no {kind.singular} {item_id} at this studio")
    return row


# --- labels ------------------------------------------------------------------------------------

def weekdays_label(days: list[int]) -> str:
    """ISO weekdays as words: ``[1, 2, 3, 4, 5]`` -> "Mon–Fri", ``[6, 7]`` -> "Sat, Sun",
    ``[1, 3]`` -> "Mon, Wed"; runs of three or more days become ranges."""
    days = sorted(set(days or []))
    if len(days) == 7:
        return "Every day"
    parts, run = [], []
    for day in days + [None]:
        if run and day == run[-1] + 1:
            run.append(day)
            continue
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}–{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[d] for d in run)
        run = [day] if day is not None else []
    return ", ".join(parts)


def target_label(row) -> str:
    """Whom a schedule rule, blackout or buffer applies to, in words."""
    if getattr(row, "room", None) is not None:
        return f"Room: {row.room.name}"
    if getattr(row, "staff", None) is not None:
        return f"Staff: {row.staff.display_name}"
    if getattr(row, "service", None) is not None:
        return f"Service: {row.service.name}"
    return "Whole studio"


def row_label(kind: Kind, row, studio: Studio) -> str:
    """How a row is named in headings and messages."""
    if kind.slug in ("rooms", "services", "taxes", "fees"):
        return row.name
    if kind.slug == "staff":
        return row.display_name
    if kind.slug == "hours":
        return (f"{target_label(row)}, {weekdays_label(row.weekdays)} "
                f"{row.start_time:%H:%M}–{row.end_time:%H:%M}")
    if kind.slug == "blackouts":
        zone = studio_zone(studio)
        return (f"{target_label(row)}, {row.start_at.astimezone(zone):%Y-%m-%d %H:%M} – "
                f"{row.end_at.astimezone(zone):%Y-%m-%d %H:%M}")
    return f"{target_label(row)}: {row.before_minutes} min before, {row.after_minutes} after"


# --- form errors ------------------------------------------------------------------------------

def _humanized(error: DomainError, form) -> str:
    """The service's message with its snake_case field names replaced by the form's labels."""
    if isinstance(error, InvalidInput):
        friendly = FRIENDLY_MESSAGES.get((error.rule, error.field or ""))
        if friendly:
            return friendly
    names = {name: name for name in form.fields} | dict(getattr(form, "field_map", {}))
    message = error.message
    for name in sorted(names, key=len, reverse=True):
        form_name = names[name]
        if "_" not in name or form_name not in form.fields:
            continue
        label = str(form.fields[form_name].label)
        message = re.sub(rf"\b{re.escape(name)}\b", label[:1].lower() + label[1:], message)
    # A sentence starts with a capital, unless it starts with a value ("eve@example.test is
    # already staff ...").
    return message[:1].upper() + message[1:] if re.match(r"[a-z]+\b(?![@.:/])", message) \
        else message


def _show_error(form, error: DomainError) -> int:
    """Place ``error`` on ``form`` next to the field it names; returns the HTTP status."""
    error.message = _humanized(error, form)
    add_domain_error(form, error, field_map=getattr(form, "field_map", None))
    return http_status(error)


# --- list, add, edit, remove --------------------------------------------------------------------

def _context(studio: Studio, kind: Kind, **extra) -> dict:
    return {"studio": studio, "section": kind.slug, "nav": "dashboard", "kind": kind, **extra}


def _list_rows(kind: Kind, studio: Studio, request) -> tuple[list, dict]:
    """The rows of the list page with what each shows, and the filter applied (hours)."""
    rows = kind.rows(studio)
    extra: dict = {}
    if kind.slug == "rooms":
        rows = rows.order_by("-is_active", "name")
    elif kind.slug == "services":
        rows = rows.order_by("-is_active", "name")
        # What bookings apply: the largest before and after of the service's buffer rules.
        buffers = buffer_minutes(studio)[1]
        rows = list(rows)
        for row in rows:
            row.buffer = buffers.get(row.pk)
    elif kind.slug == "staff":
        rows = rows.annotate(rule_count=Count("schedulerule")).order_by("-is_active",
                                                                          "display_name")
    elif kind.slug == "hours":
        rows = rows.order_by("target_type", "room__name", "staff__display_name", "id")
        for name, model in (("room", Room), ("staff", StaffMember)):
            pk = request.GET.get(name, "")
            if pk.isdigit():
                target = model.objects.filter(studio=studio, pk=int(pk)).first()
                if target is None:
                    raise Http404(f"no {name} {pk} at this studio")
                rows = rows.filter(**{name: target})
                extra = {"filter_name": name, "filter_target": target,
                         "filter_label": getattr(target, "name", None)
                         or target.display_name}
    rows = list(rows)
    for row in rows:
        if kind.slug in ("hours", "blackouts", "buffers"):
            row.target_label = target_label(row)
        row.label = row_label(kind, row, studio)
        if kind.slug == "hours":
            row.days_label = weekdays_label(row.weekdays)
        if kind.slug == "rooms":
            row.swatch = row.color if forms_.HEX_COLOUR.fullmatch(row.color or "") else ""
        if kind.slug == "taxes":
            row.rate_label = f"{format_percent_ppm(row.rate_ppm)} %"
        if kind.slug == "fees":
            row.amount_label = (f"{format_basis_points(row.amount)} %"
                                if row.kind == Fee.Kind.PERCENT else None)
    if kind.slug == "blackouts":
        now = timezone.now()
        extra["past"] = [row for row in rows if row.end_at <= now]
        rows = [row for row in rows if row.end_at > now]
    return rows, extra


@admin_required
def resource_list(request, studio: Studio, kind: str):
    """``/manage/<kind>``: the studio's rows of that kind, with add, edit and remove links;
    an empty list explains what the rows are for and offers to add the first."""
    spec = _kind_or_404(kind)
    rows, extra = _list_rows(spec, studio, request)
    context = _context(studio, spec, rows=rows, zone=studio.time_zone, add_query="", **extra)
    if spec.slug == "hours" and extra.get("filter_name"):
        context["add_query"] = f"?target_type={extra['filter_name']}&{extra['filter_name']}=" \
                               f"{extra['filter_target'].pk}"
    return render(request, f"{TEMPLATES}{spec.slug}.html", context)


def _initial_from_query(request, form_class) -> dict:
    """Prefill a new row from the query string (``?target_type=staff&staff=3`` from a staff
    member's "Add working hours" link); unknown names are ignored."""
    return {name: value for name, value in request.GET.items() if name in form_class.base_fields}


def _render_form(request, studio: Studio, kind: Kind, form, *, row=None, status: int = 200):
    context = _context(studio, kind, form=form, row=row,
                       row_label=row_label(kind, row, studio) if row is not None else "",
                       zone=studio.time_zone)
    return render(request, f"{TEMPLATES}form.html", context, status=status)


def _save(request, studio: Studio, kind: Kind, form, row=None):
    """Create or change the row through its service; returns the row."""
    data = form.to_data()
    if kind.slug == "staff" and row is None:
        return studio_services.add_staff_member(
            actor=request.user, studio=studio, email=data["email"],
            display_name=data["display_name"], skills=data["skills"],
            hourly_rate_minor=data["hourly_rate_minor"], role=data["role"])
    if kind.slug == "blackouts":
        zone = studio_zone(studio)
        for name in ("start_at", "end_at"):
            instant = to_utc(data[name], zone, is_end=name == "end_at")
            if instant is None:
                raise InvalidInput(f"{data[name]:%Y-%m-%d %H:%M} does not exist in "
                                   f"{studio.time_zone} (the clocks skip it)", field=name,
                                   rule="nonexistent_local_time")
            data[name] = instant
    saved = studio_services.save(actor=request.user, studio=studio, model=kind.model,
                                 data=data, instance=row)
    if kind.slug == "rooms":
        photo = form.cleaned_data.get("photo")
        if isinstance(photo, UploadedFile) or photo is False:
            studio_services.set_room_photo(actor=request.user, studio=studio, room=saved,
                                           photo=photo)
    return saved


@admin_required
def resource_new(request, studio: Studio, kind: str):
    """``/manage/<kind>/new``: the form for a new row; POST creates it."""
    spec = _kind_or_404(kind)
    # The form posts back to its own URL, query string included: what the link named stays
    # a choice (a retired engineer's "Add working hours").
    initial = _initial_from_query(request, spec.form)
    if request.method == "POST":
        form = spec.form(request.POST, request.FILES, studio=studio, initial=initial)
        if not form.is_valid():
            return _render_form(request, studio, spec, form, status=422)
        try:
            row = _save(request, studio, spec, form)
        except DomainError as error:
            return _render_form(request, studio, spec, form, status=_show_error(form, error))
        messages.success(request, f"Added {spec.singular}: {row_label(spec, row, studio)}.")
        return redirect("web:dashboard-manage", studio.slug, spec.slug)
    form = spec.form(studio=studio, initial=initial)
    return _render_form(request, studio, spec, form)


@admin_required
def resource_edit(request, studio: Studio, kind: str, item_id: int):
    """``/manage/<kind>/<id>``: the row's form; POST saves the changes."""
    spec = _kind_or_404(kind)
    row = _row_or_404(spec, studio, item_id)
    form_class = spec.edit_form or spec.form
    initial = form_class.initial_from(row, studio)
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, studio=studio, instance=row,
                          initial=initial)
        if not form.is_valid():
            return _render_form(request, studio, spec, form, row=row, status=422)
        try:
            row = _save(request, studio, spec, form, row=row)
        except DomainError as error:
            row = _row_or_404(spec, studio, item_id)  # the service may have touched it
            return _render_form(request, studio, spec, form, row=row,
                                status=_show_error(form, error))
        messages.success(request, f"Saved {spec.singular}: {row_label(spec, row, studio)}.")
        return redirect("web:dashboard-manage", studio.slug, spec.slug)
    form = form_class(studio=studio, instance=row, initial=initial)
    return _render_form(request, studio, spec, form, row=row)


@admin_required
def resource_delete(request, studio: Studio, kind: str, item_id: int):
    """``/manage/<kind>/<id>/delete``: asks first (GET); POST retires (rooms, services,
    staff) or deletes (the other kinds) the row."""
    spec = _kind_or_404(kind)
    row = _row_or_404(spec, studio, item_id)
    label = row_label(spec, row, studio)
    list_url = reverse("web:dashboard-manage", args=[studio.slug, spec.slug])
    if request.method == "POST":
        try:
            studio_services.remove(actor=request.user, studio=studio, instance=row)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect(list_url)
        verb = "Retired" if spec.retires else "Deleted"
        messages.success(request, f"{verb} {spec.singular}: {label}.")
        return redirect(list_url)
    if spec.retires:
        title = f"Retire {spec.singular} “{label}”?"
        text = ("Existing bookings keep it; it can no longer be booked. You can make it "
                "active again by editing it.")
        button = f"Retire {spec.singular}"
    else:
        title = f"Delete {spec.singular}?"
        text = f"{label}. This cannot be undone."
        button = f"Delete {spec.singular}"
    return render(request, f"{TEMPLATES}confirm.html", _context(
        studio, spec, title=title, text=text, button=button, cancel_url=list_url,
        action_url=reverse("web:dashboard-manage-delete", args=[studio.slug, spec.slug,
                                                                 row.pk])))


# --- booking settings and policies ------------------------------------------------------------

SETTINGS_FIELDS = ("hold_minutes", "max_active_holds", "lead_time_minutes", "horizon_days",
                   "slot_grid_minutes", "max_unpaid_bookings", "max_unpaid_hours",
                   "requires_approval", "first_booking_rule", "approval_window_hours",
                   "balance_lead_hours")
TIER_REFERENCE = re.compile(r"tiers\[(\d+)\]\.(min_hours_before|refund_percent)")
TIER_WORDS = {"min_hours_before": "hours", "refund_percent": "refund"}


def _settings_initial(studio: Studio) -> tuple[dict, list[dict]]:
    cancellation, reschedule = studio_policies(studio)
    initial = {name: getattr(studio, name) for name in SETTINGS_FIELDS}
    initial.update(free_reschedules=reschedule.free_reschedules,
                   free_min_hours_before=reschedule.free_min_hours_before,
                   fee=decimal_amount(reschedule.fee_minor, studio.currency),
                   fee_percent=reschedule.fee_percent)
    tiers = [{"min_hours_before": t.min_hours_before, "refund_percent": t.refund_percent}
             for t in cancellation.tiers]
    return initial, tiers


def _settings_data(form, tier_forms: list) -> dict:
    """``update_settings``' data: the settings and both policies in
    ``scheduling.policies.policy_to_dict``'s shape."""
    data = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS}
    data["cancellation_policy"] = {
        "kind": "cancellation", "version": core_policies.SNAPSHOT_VERSION,
        "tiers": [{"min_hours_before": f.cleaned_data["min_hours_before"],
                   "refund_percent": f.cleaned_data["refund_percent"]} for f in tier_forms]}
    data["reschedule_policy"] = {
        "kind": "reschedule", "version": core_policies.SNAPSHOT_VERSION,
        "free_reschedules": form.cleaned_data["free_reschedules"],
        "free_min_hours_before": form.cleaned_data["free_min_hours_before"],
        "fee_percent": form.cleaned_data["fee_percent"] or 0,
        "fee_minor": form.cleaned_data["fee"] or 0}
    return data


def _describe(data: dict, studio: Studio) -> str:
    """The policies in ``data`` in words, checked as ``update_settings`` checks them
    (``studios.services.read_policies``: InvalidInput naming the policy field)."""
    policies = studio_services.read_policies(data)
    return core_policies.describe(policies["cancellation_policy"],
                                  policies["reschedule_policy"], studio.time_zone,
                                  currency=studio.currency)


def _show_policy_error(error: DomainError, form, tier_forms: list, tier_errors: list) -> int:
    """Put a policy error next to the row or field it is about (``"cancellation_policy:
    tiers[1].refund_percent: must not exceed ..."`` goes to row 2's refund)."""
    prefix = f"{error.field}: "
    message = error.message.removeprefix(prefix)
    if error.field == "cancellation_policy":
        match = re.match(r"tiers\[(\d+)\]\.(\w+): (.*)", message)

        def words(found: re.Match) -> str:
            index = int(found.group(1))
            number = tier_forms[index].row_number if index < len(tier_forms) else index + 1
            return f"row {number}'s {TIER_WORDS[found.group(2)]}"

        if match and int(match.group(1)) < len(tier_forms):
            text = TIER_REFERENCE.sub(words, match.group(3))
            tier_forms[int(match.group(1))].add_error(match.group(2), text[:1].upper() + text[1:])
        else:
            tier_errors.append(TIER_REFERENCE.sub(words, message))
        return 422
    if error.field == "reschedule_policy":
        match = re.match(r"(\w+): (.*)", message)
        if match:
            name = form.field_map.get(match.group(1), match.group(1))
            if name in form.fields:
                form.add_error(name, match.group(2)[:1].upper() + match.group(2)[1:])
                return 422
    return _show_error(form, error)


def _settings_context(studio: Studio, form, tiers, **extra) -> dict:
    cancellation, reschedule = studio_policies(studio)
    return {"studio": studio, "section": "settings", "nav": "dashboard", "form": form,
            "tiers": tiers, "zone": studio.time_zone,
            "current_policy": core_policies.describe(cancellation, reschedule,
                                                     studio.time_zone, currency=studio.currency),
            "platform_fee": f"{format_basis_points(studio.platform_fee_basis_points)} %", **extra}


@admin_required
def booking_settings(request, studio: Studio):
    """``/settings``: holds, lead time, horizon, grid, approval and payment timing, the
    cancellation refund schedule and the reschedule policy, through
    ``studios.services.update_settings``. "Preview" shows the entered policy in words
    without saving; the saved policy is always shown as artists read it."""
    initial, tiers_initial = _settings_initial(studio)
    if request.method != "POST":
        form = forms_.SettingsForm(studio=studio, initial=initial)
        tiers = forms_.TierFormSet(prefix="tiers", initial=tiers_initial)
        return render(request, f"{TEMPLATES}settings.html", _settings_context(studio, form, tiers))
    form = forms_.SettingsForm(request.POST, studio=studio, initial=initial)
    tiers = forms_.TierFormSet(request.POST, prefix="tiers", initial=tiers_initial)
    tier_errors: list[str] = []
    if not (form.is_valid() and tiers.is_valid()):
        return render(request, f"{TEMPLATES}settings.html",
                      _settings_context(studio, form, tiers), status=422)
    tier_forms = []
    for number, tier_form in enumerate(tiers.forms, start=1):
        if not tier_form.is_blank():
            tier_form.row_number = number
            tier_forms.append(tier_form)
    if not tier_forms:
        tier_errors.append("Add at least one row (0 hours before: 0 % means no refunds).")
        return render(request, f"{TEMPLATES}settings.html",
                      _settings_context(studio, form, tiers, tier_errors=tier_errors),
                      status=422)
    data = _settings_data(form, tier_forms)
    try:
        if request.POST.get("action") == "preview":
            preview = _describe(data, studio)
            return render(request, f"{TEMPLATES}settings.html",
                          _settings_context(studio, form, tiers, preview=preview))
        studio_services.update_settings(actor=request.user, studio=studio, data=data)
    except DomainError as error:
        status = _show_policy_error(error, form, tier_forms, tier_errors)
        studio.refresh_from_db()
        return render(request, f"{TEMPLATES}settings.html",
                      _settings_context(studio, form, tiers, tier_errors=tier_errors),
                      status=status)
    messages.success(request, "Settings saved. New bookings follow them; existing bookings "
                              "keep the policy they were sold under.")
    return redirect("web:dashboard-settings", studio.slug)


# --- integrations -------------------------------------------------------------------------------

def _stripe_status() -> dict:
    key = django_settings.STRIPE_SECRET_KEY or ""
    mode = ("live" if key.startswith(("sk_live_", "rk_live_")) else
            "test" if key.startswith(("sk_test_", "rk_test_")) else "")
    return {"is_configured": django_settings.PAYMENT_GATEWAY == "stripe" and bool(key),
            "mode": mode,
            "has_publishable_key": bool(django_settings.STRIPE_PUBLISHABLE_KEY),
            "has_webhook_secret": bool(django_settings.STRIPE_WEBHOOK_SECRET)}


def _email_status() -> dict:
    backend = django_settings.EMAIL_BACKEND
    kind = ("smtp" if backend.endswith("smtp.EmailBackend") else
            "console" if backend.endswith("console.EmailBackend") else "other")
    return {"kind": kind, "backend": backend, "host": django_settings.EMAIL_HOST,
            "port": django_settings.EMAIL_PORT,
            "security": ("SSL" if django_settings.EMAIL_USE_SSL else
                         "STARTTLS" if django_settings.EMAIL_USE_TLS else "none"),
            "has_login": bool(django_settings.EMAIL_HOST_USER),
            "sender": django_settings.DEFAULT_FROM_EMAIL}


def _sms_status() -> dict:
    account = getattr(django_settings, "TWILIO_ACCOUNT_SID", "")
    backend = getattr(django_settings, "SMS_BACKEND", "") or ("twilio" if account else "console")
    return {"kind": backend, "sender": getattr(django_settings, "TWILIO_FROM", ""),
            "is_complete": bool(account and getattr(django_settings, "TWILIO_AUTH_TOKEN", "")
                                and getattr(django_settings, "TWILIO_FROM", ""))}


def _tasks_status() -> dict:
    backend = django_settings.TASKS.get("default", {}).get("BACKEND", "")
    kind = ("database" if backend.endswith("DatabaseBackend") else
            "redis" if backend.endswith("RQBackend") else
            "immediate" if backend.endswith("ImmediateBackend") else "other")
    return {"kind": kind, "backend": backend}


def _host(url: str) -> str:
    # Calendar addresses are often secrets themselves (Google's "secret address"): show the
    # host only.
    return urlsplit(url or "").hostname or ""


def _staff_rows(studio: Studio, caldav_forms: dict) -> list[dict]:
    staff = list(StaffMember.objects.for_studio(studio).order_by("-is_active", "display_name"))
    accounts = {a.staff_id: a for a in CalDAVAccount.objects.filter(staff__studio=studio)}
    feeds = {t.staff_id: t for t in FeedToken.objects.filter(studio=studio, is_active=True,
                                                             kind=FeedToken.Kind.STAFF)}
    statuses = CalendarSync.Status
    sync = {row["staff_id"]: row for row in (
        CalendarSync.objects.filter(staff__studio=studio).values("staff_id").annotate(
            synced=Count("id", filter=Q(status=statuses.SYNCED)),
            pending=Count("id", filter=Q(status=statuses.PENDING)),
            failed=Count("id", filter=Q(status=statuses.FAILED)),
            last_attempt_at=Max("last_attempt_at")))}
    last_failure: dict[int, dict] = {}
    for failure in (CalendarSync.objects.filter(staff__studio=studio, status=statuses.FAILED)
                    .order_by("-last_attempt_at", "-id")
                    .values("staff_id", "error", "last_attempt_at", "booking__code")):
        last_failure.setdefault(failure["staff_id"], failure)
    rows = []
    for member in staff:
        account = accounts.get(member.pk)
        rows.append({
            "staff": member, "feed": feeds.get(member.pk),
            "caldav": account, "caldav_host": _host(account.calendar_url) if account else "",
            "sync": sync.get(member.pk), "failure": last_failure.get(member.pk),
            "caldav_form": caldav_forms.get(member.pk)
            or forms_.CalDAVForm(prefix=f"caldav-{member.pk}"),
        })
    return rows


def _integrations_context(request, studio: Studio, *, caldav_forms: dict | None = None,
                          external_form=None) -> dict:
    rooms = list(Room.objects.for_studio(studio).order_by("-is_active", "name"))
    room_feeds = {t.room_id: t for t in FeedToken.objects.filter(studio=studio, is_active=True,
                                                                 kind=FeedToken.Kind.ROOM)}
    calendars = list(ExternalCalendar.objects.filter(studio=studio, is_active=True)
                     .select_related("room", "staff").order_by("id"))
    for calendar in calendars:
        calendar.host = _host(calendar.url)
    return {
        "studio": studio, "section": "integrations", "nav": "dashboard",
        "zone": studio.time_zone,
        "stripe": _stripe_status(), "email": _email_status(), "sms": _sms_status(),
        "tasks": _tasks_status(),
        "webhook_url": request.build_absolute_uri(reverse("api:stripe_webhook")),
        "staff_rows": _staff_rows(studio, caldav_forms or {}),
        "room_rows": [{"room": room, "feed": room_feeds.get(room.pk)} for room in rooms],
        "calendars": calendars,
        "external_form": external_form or forms_.ExternalCalendarForm(studio=studio,
                                                                       prefix="external"),
    }


@admin_required
def integrations(request, studio: Studio):
    """``/integrations``: whether Stripe, email, SMS and background tasks are configured
    (never their secrets), each engineer's CalDAV push and feed link, room feed links, and the
    external busy calendars with their refresh status."""
    return render(request, f"{TEMPLATES}integrations.html",
                  _integrations_context(request, studio))


def _integrations_url(studio: Studio, anchor: str = "") -> str:
    url = reverse("web:dashboard-integrations", args=[studio.slug])
    return f"{url}#{anchor}" if anchor else url


def _staff_or_404(studio: Studio, staff_id: int) -> StaffMember:
    staff = StaffMember.objects.for_studio(studio).filter(pk=staff_id).first()
    if staff is None:
        raise Http404("no such staff member at this studio")
    return staff


def _feed_rotated(request, studio: Studio, *, url: str, name: str, what: str):
    response = render(request, f"{TEMPLATES}feed_rotated.html", {
        "studio": studio, "section": "integrations", "nav": "dashboard", "feed_url": url,
        "name": name, "what": what})
    # The page shows a secret once: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@admin_required
@require_POST
def rotate_staff_feed(request, studio: Studio, staff_id: int):
    """POST: a new secret feed URL for the engineer's sessions, shown once; the old URL
    stops working (``calendars.services.rotate_feed_token``)."""
    staff = _staff_or_404(studio, staff_id)
    try:
        url = calendar_services.rotate_feed_token(actor=request.user, staff=staff,
                                                  base_url=_base_url(request))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(_integrations_url(studio, f"staff-{staff.pk}"))
    return _feed_rotated(request, studio, url=url, name=staff.display_name, what="staff")


@admin_required
@require_POST
def rotate_room_feed(request, studio: Studio, room_id: int):
    """POST: a new secret feed URL for the room's sessions, shown once."""
    room = Room.objects.for_studio(studio).filter(pk=room_id).first()
    if room is None:
        raise Http404("no such room at this studio")
    try:
        url = calendar_services.rotate_feed_token(actor=request.user, room=room,
                                                  base_url=_base_url(request))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(_integrations_url(studio, "room-feeds"))
    return _feed_rotated(request, studio, url=url, name=room.name, what="room")


@admin_required
@require_POST
def caldav_connect(request, studio: Studio, staff_id: int):
    """POST: connect (or replace) the engineer's CalDAV calendar; confirmed sessions are
    pushed to it (``calendars.services.connect_caldav_account``)."""
    staff = _staff_or_404(studio, staff_id)
    form = forms_.CalDAVForm(request.POST, prefix=f"caldav-{staff.pk}")
    status = 422
    if form.is_valid():
        try:
            calendar_services.connect_caldav_account(actor=request.user, staff=staff,
                                                     **form.cleaned_data)
        except DomainError as error:
            status = _show_error(form, error)
        else:
            messages.success(request, f"Connected {staff.display_name}'s CalDAV calendar.")
            return redirect(_integrations_url(studio, f"staff-{staff.pk}"))
    context = _integrations_context(request, studio, caldav_forms={staff.pk: form})
    return render(request, f"{TEMPLATES}integrations.html", context, status=status)


@admin_required
def caldav_disconnect(request, studio: Studio, staff_id: int):
    """Asks first (GET); POST stops pushing to the engineer's CalDAV calendar and forgets
    its credentials."""
    staff = _staff_or_404(studio, staff_id)
    back = _integrations_url(studio, f"staff-{staff.pk}")
    if request.method == "POST":
        try:
            calendar_services.disconnect_caldav_account(actor=request.user, staff=staff)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Disconnected {staff.display_name}'s CalDAV calendar.")
        return redirect(back)
    return render(request, f"{TEMPLATES}confirm.html", {
        "studio": studio, "section": "integrations", "nav": "dashboard",
        "title": f"Disconnect {staff.display_name}'s CalDAV calendar?",
        "text": "New and changed sessions stop being pushed to it. Sessions already there "
                "stay in that calendar.",
        "button": "Disconnect", "cancel_url": back,
        "action_url": reverse("web:dashboard-integrations-caldav-remove",
                              args=[studio.slug, staff.pk])})


@admin_required
@require_POST
def external_add(request, studio: Studio):
    """POST: subscribe a room or an engineer to an outside busy calendar
    (``calendars.services.add_external_calendar``); the first refresh runs in the
    background."""
    form = forms_.ExternalCalendarForm(request.POST, studio=studio, prefix="external")
    status = 422
    if form.is_valid():
        room, staff = form.target_rows()
        data = {k: v for k, v in form.cleaned_data.items() if k != "target"}
        try:
            calendar_services.add_external_calendar(actor=request.user, studio=studio,
                                                    room=room, staff=staff, **data)
        except DomainError as error:
            status = _show_error(form, error)
        else:
            messages.success(request, "Calendar added; its busy times block bookings after "
                                      "the first refresh, in a minute or two.")
            return redirect(_integrations_url(studio, "external-calendars"))
    context = _integrations_context(request, studio, external_form=form)
    return render(request, f"{TEMPLATES}integrations.html", context, status=status)


def _calendar_or_404(studio: Studio, calendar_id: int) -> ExternalCalendar:
    calendar = (ExternalCalendar.objects.filter(studio=studio, is_active=True, pk=calendar_id)
                .select_related("room", "staff").first())
    if calendar is None:
        raise Http404("no such calendar at this studio")
    return calendar


@admin_required
@require_POST
def external_refresh(request, studio: Studio, calendar_id: int):
    """POST: fetch the calendar now; its new status (ok, or failing with the error) shows
    in its row (htmx swaps the row) or on the page."""
    calendar = _calendar_or_404(studio, calendar_id)
    try:
        calendar = calendar_services.refresh_now(actor=request.user, external_calendar=calendar)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(_integrations_url(studio, "external-calendars"))
    calendar.host = _host(calendar.url)
    if is_htmx(request):
        return render(request, f"{TEMPLATES}_external_row.html",
                      {"studio": studio, "calendar": calendar, "zone": studio.time_zone})
    if calendar.is_failing:
        messages.error(request, f"Refreshing {calendar.name or calendar.host} failed: "
                                f"{calendar.last_error}")
    else:
        messages.success(request, f"Refreshed {calendar.name or calendar.host}.")
    return redirect(_integrations_url(studio, "external-calendars"))


@admin_required
def external_remove(request, studio: Studio, calendar_id: int):
    """Asks first (GET); POST unsubscribes: its busy times stop blocking at once."""
    calendar = _calendar_or_404(studio, calendar_id)
    back = _integrations_url(studio, "external-calendars")
    if request.method == "POST":
        try:
            calendar_services.remove_external_calendar(actor=request.user,
                                                       external_calendar=calendar)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Calendar removed.")
        return redirect(back)
    name = calendar.name or _host(calendar.url)
    return render(request, f"{TEMPLATES}confirm.html", {
        "studio": studio, "section": "integrations", "nav": "dashboard",
        "title": f"Remove the calendar “{name}”?",
        "text": f"Its busy times stop blocking {target_label(calendar).lower()} at once.",
        "button": "Remove calendar", "cancel_url": back,
        "action_url": reverse("web:dashboard-integrations-calendar-remove",
                              args=[studio.slug, calendar.pk])})


urlpatterns = [
    path("manage/<str:kind>", resource_list, name="dashboard-manage"),
    path("manage/<str:kind>/new", resource_new, name="dashboard-manage-new"),
    path("manage/<str:kind>/<int:item_id>", resource_edit, name="dashboard-manage-edit"),
    path("manage/<str:kind>/<int:item_id>/delete", resource_delete,
         name="dashboard-manage-delete"),
    path("settings", booking_settings, name="dashboard-settings"),
    path("integrations", integrations, name="dashboard-integrations"),
    path("integrations/staff/<int:staff_id>/feed-link", rotate_staff_feed,
         name="dashboard-integrations-staff-feed"),
    path("integrations/rooms/<int:room_id>/feed-link", rotate_room_feed,
         name="dashboard-integrations-room-feed"),
    path("integrations/staff/<int:staff_id>/caldav", caldav_connect,
         name="dashboard-integrations-caldav"),
    path("integrations/staff/<int:staff_id>/caldav/remove", caldav_disconnect,
         name="dashboard-integrations-caldav-remove"),
    path("integrations/calendars", external_add, name="dashboard-integrations-calendar-add"),
    path("integrations/calendars/<int:calendar_id>/refresh", external_refresh,
         name="dashboard-integrations-calendar-refresh"),
    path("integrations/calendars/<int:calendar_id>/remove", external_remove,
         name="dashboard-integrations-calendar-remove"),
]
