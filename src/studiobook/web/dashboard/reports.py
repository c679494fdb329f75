"""Reports: revenue, utilization per room and per engineer, top services, cancellations
(recording-studio-prd.md section 16, "/admin/reports"), for studio admins.

``/dashboard/<slug>/reports?from=YYYY-MM-DD&to=YYYY-MM-DD`` shows local days [from, to) in the
studio's zone as total cards and server-rendered SVG charts, each with the same numbers in a
table; ``/dashboard/<slug>/reports.csv?section=...&from=...&to=...`` downloads one section.
The numbers come from ``bookings.reports`` and ``payments.reports``; this module only parses
the range and lays the charts out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date
from urllib.parse import urlencode

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path, reverse

from studiobook.bookings.pricing import duration_label
from studiobook.bookings.reports import (
    ReportPeriod,
    period_presets,
    report_period,
    top_services,
    utilization,
)
from studiobook.payments.reports import SECTIONS, cancellations, report_csv, revenue
from studiobook.scheduling.money import format_money
from studiobook.studios.errors import InvalidInput
from studiobook.web.common import (
    add_domain_error,
    admin_required,
    is_htmx,
    local_today,
)
from studiobook.web.fields import LimitedDateField

PAGE = "web/dashboard/reports.html"
BODY = "web/dashboard/partials/reports_body.html"


class _RangeForm(forms.Form):
    """The report range: local dates in the studio's zone, ``to`` not included. The rules
    on the range itself (to after from, at most a year) are ``bookings.reports.report_period``'s.
    Its fields are named ``from`` and ``to`` (the query parameters), see ``ReportRangeForm``."""


def _date_field(label: str, help_text: str) -> LimitedDateField:
    return LimitedDateField(label=label, help_text=help_text,
                           widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


# "from" is a Python keyword, so the fields are declared by calling the form metaclass.
ReportRangeForm = type(_RangeForm)("ReportRangeForm", (_RangeForm,), {
    "__module__": __name__,
    "from": _date_field("From", "The first day of the report."),
    "to": _date_field("To", "Not included: the report runs up to the start of this day."),
})


def _period(form: forms.Form, studio) -> ReportPeriod | None:
    """The period the valid ``form`` asks for, or None with the errors placed on the form."""
    if not form.is_valid():
        return None
    try:
        return report_period(zone=studio.time_zone, first_day=form.cleaned_data["from"],
                             end_day=form.cleaned_data["to"])
    except InvalidInput as error:
        add_domain_error(form, error)
        return None


def _query(first_day: date, end_day: date, **extra) -> str:
    return "?" + urlencode({**extra, "from": first_day.isoformat(), "to": end_day.isoformat()})


# --- chart layout (presentation only: numbers come from the services) ------------------------

COLUMN_WIDTH, COLUMN_HEIGHT = 600, 260
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 64, 8, 16, 40
BAR_WIDTH, BAR_ROW = 480, 46
BAR_AREA = 360  # the full bar; its value text goes to the right of it


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= ``value`` (>= 1)."""
    if value <= 1:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return math.ceil(step * power)
    return 10 * power  # pragma: no cover (the loop ends at 10 x power)


def _short_money(amount_minor: int, currency: str) -> str:
    """An axis label: the amount in major units, without the code or zero decimals."""
    text = format_money(amount_minor, currency).split(" ", 1)[1]
    whole, _, decimals = text.partition(".")
    return whole if not decimals or not decimals.strip("0") else text


def _day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


@dataclass
class Column:
    x: float
    y: float
    width: float
    height: float
    label: str
    tooltip: str


def column_chart(*, chart_id: str, title: str, desc: str, values: list[tuple[str, int, str]],
                 currency: str) -> dict:
    """A vertical bar chart of ``values`` (label, minor units, tooltip) in a 600 x 260
    viewBox, with gridlines at 0, half and the top of the scale."""
    plot_width = COLUMN_WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_height = COLUMN_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    top = _nice_ceiling(max((v for _, v, _ in values), default=0))
    slot = plot_width / max(len(values), 1)
    every = max(1, math.ceil(len(values) / 8))  # at most 8 x-axis labels
    columns, labels = [], []
    for index, (label, value, tooltip) in enumerate(values):
        height = round(max(value, 0) / top * plot_height, 1)
        x = PLOT_LEFT + index * slot
        columns.append(Column(x=round(x + slot * 0.15, 1),
                              y=round(PLOT_TOP + plot_height - height, 1),
                              width=round(max(slot * 0.7, 1), 1), height=height, label=label,
                              tooltip=tooltip))
        if index % every == 0:
            labels.append({"x": round(x + slot / 2, 1), "text": label})
    ticks = [{"y": round(PLOT_TOP + plot_height * (1 - share), 1),
              "text": _short_money(round(top * share), currency)} for share in (0, 0.5, 1)]
    return {"id": chart_id, "title": title, "desc": desc, "width": COLUMN_WIDTH,
            "height": COLUMN_HEIGHT, "columns": columns, "x_labels": labels, "ticks": ticks,
            "plot_left": PLOT_LEFT, "plot_right": COLUMN_WIDTH - PLOT_RIGHT,
            "label_y": COLUMN_HEIGHT - PLOT_BOTTOM + 18}


def bar_chart(*, chart_id: str, title: str, desc: str,
              rows: list[tuple[str, float, str]]) -> dict:
    """Horizontal bars, one row per ``(name, share of the full bar 0..1, value text)``: the
    name above the bar, the value text after it, over a light full-length track."""
    bars = []
    for index, (name, share, text) in enumerate(rows):
        top = index * BAR_ROW
        width = round(BAR_AREA * min(max(share, 0), 1), 1)
        bars.append({"name": name if len(name) <= 60 else name[:59] + "…",
                     "name_y": top + 16, "bar_y": top + 22, "width": width,
                     "text": text, "text_y": top + 35})
    return {"id": chart_id, "title": title, "desc": desc, "width": BAR_WIDTH,
            "height": max(len(rows), 1) * BAR_ROW, "bars": bars, "track": BAR_AREA,
            "text_x": BAR_AREA + 8}


def _usage_rows(rows) -> list[dict]:
    return [{"name": r.name, "booked": duration_label(r.booked_minutes),
             "open": duration_label(r.open_minutes), "percent": _percent_text(r.percent)}
            for r in rows]


def _percent_text(value) -> str:
    return "not open" if value is None else f"{value} %"


def _utilization_chart(chart_id: str, what: str, rows, period: ReportPeriod) -> dict:
    span = f"{_day_label(period.first_day)} to {_day_label(period.last_day)} {period.last_day.year}"
    summary = "; ".join(f"{r.name} {_percent_text(r.percent)}" for r in rows)
    return bar_chart(
        chart_id=chart_id, title=f"Utilization per {what}, {span}",
        desc=(f"Booked time as a share of open time per {what}: {summary}."
              if rows else f"No {what}s to show."),
        rows=[(r.name, float(r.percent or 0) / 100, _percent_text(r.percent)) for r in rows])


def _charts(studio, period: ReportPeriod, money, services, usage) -> dict:
    currency = studio.currency
    span = f"{_day_label(period.first_day)} to {_day_label(period.last_day)} {period.last_day.year}"
    per = "day" if money.bucket == "day" else "week"
    values = []
    for bucket in money.series:
        label = _day_label(bucket.first_day)
        when = label if per == "day" else f"week of {label}"
        values.append((label, bucket.booked_minor,
                       f"{when}: {format_money(bucket.booked_minor, currency)}"))
    best = max(money.series, key=lambda b: b.booked_minor, default=None)
    desc = (f"Bars show the total of sold bookings per {per} by session date, {span}, in "
            f"{currency}. Total {format_money(money.gross_booked_minor, currency)}"
            + (f"; highest {format_money(best.booked_minor, currency)} "
               + ("on " if per == "day" else "in the week of ") + f"{_day_label(best.first_day)}."
               if best and best.booked_minor else "."))
    top = max((s.revenue_minor for s in services), default=0) or 1
    return {
        "revenue": column_chart(chart_id="chart-revenue",
                                title=f"Booked revenue per {per}, {span}", desc=desc,
                                values=values, currency=currency),
        "rooms": _utilization_chart("chart-rooms", "room", usage.rooms, period),
        "engineers": _utilization_chart("chart-engineers", "engineer", usage.engineers,
                                        period),
        "services": bar_chart(
            chart_id="chart-services", title=f"Top services by revenue, {span}",
            desc=("Revenue of sold bookings per service, highest first: " + "; ".join(
                f"{s.name} {format_money(s.revenue_minor, currency)} from {s.booking_count} "
                f"booking{'s' if s.booking_count != 1 else ''}" for s in services) + "."
                  if services else "No sold bookings."),
            rows=[(s.name, s.revenue_minor / top, format_money(s.revenue_minor, currency))
                  for s in services]),
    }


# --- views -------------------------------------------------------------------------------------

@admin_required
def reports(request, studio):
    """The reports page. Without a range it shows this month; a bad range answers 422 with
    the form as typed and the error next to the field."""
    today = local_today(studio)
    presets = period_presets(today)
    if "from" in request.GET or "to" in request.GET:
        form = ReportRangeForm(request.GET)
    else:
        first_day, end_day = presets["this_month"]
        form = ReportRangeForm({"from": first_day.isoformat(), "to": end_day.isoformat()})
    period = _period(form, studio)
    base_url = reverse("web:dashboard-reports", args=[studio.slug])
    current = (period.first_day, period.end_day) if period else None
    context = {
        "studio": studio, "section": "reports", "nav": "dashboard", "form": form,
        "period": period, "zone": studio.time_zone,
        "presets": [{"label": label, "url": base_url + _query(*presets[key]),
                     "is_current": presets[key] == current}
                    for key, label in (("this_month", "This month"),
                                       ("last_month", "Last month"),
                                       ("last_30_days", "Last 30 days"))],
    }
    status = 200
    if period is None:
        status = 422
    else:
        money = revenue(studio=studio, period=period)
        services = top_services(studio=studio, period=period)
        usage = utilization(studio=studio, period=period)
        csv_url = reverse("web:dashboard-reports-csv", args=[studio.slug])
        payouts = reverse("api:payouts_csv", kwargs={"slug": studio.slug}) + "?" + urlencode({
            "start": period.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "end": period.end.astimezone(UTC).isoformat().replace("+00:00", "Z")})
        context |= {
            "revenue": money, "services": services,
            "room_rows": _usage_rows(usage.rooms),
            "engineer_rows": _usage_rows(usage.engineers),
            "service_rows": [{"row": s, "duration": duration_label(s.minutes)}
                             for s in services],
            "cancellations": cancellations(studio=studio, period=period),
            "charts": _charts(studio, period, money, services, usage),
            "csv_links": [{"section": section, "label": label,
                           "url": csv_url + _query(period.first_day, period.end_day,
                                                   section=section)}
                          for section, label in (("revenue", "Revenue"),
                                                 ("utilization", "Utilization"),
                                                 ("services", "Top services"),
                                                 ("cancellations", "Cancellations"))],
            "payouts_url": payouts,
        }
    return render(request, BODY if is_htmx(request) else PAGE, context, status=status)


@admin_required
def reports_csv(request, studio):
    """One section as a CSV download; 422 (plain text naming the field) for a bad section
    or range."""
    form = ReportRangeForm(request.GET)
    period = _period(form, studio)
    section = request.GET.get("section", "")
    errors = [f"{name}: {message}" for name, messages in form.errors.items()
              for message in messages]
    if section not in SECTIONS:
        errors.append(f"section: choose one of {', '.join(SECTIONS)}")
    if period is None or errors:
        return HttpResponse("\n".join(errors) + "\n", status=422,
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(report_csv(studio=studio, period=period, section=section),
                            content_type="text/csv; charset=utf-8")
    filename = (f"studiobook-{studio.slug}-{section}-{period.first_day.isoformat()}-"
                f"{period.end_day.isoformat()}.csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path("reports", reports, name="dashboard-reports"),
    path("reports.csv", reports_csv, name="dashboard-reports-csv"),
]
