"""Money reports: payouts (recording-studio-prd.md story 14: what each booking earned the
studio in a period, from the ledger), and the dashboard's revenue and cancellation reports
(section 16, "/admin/reports"; utilization and top services are in ``bookings.reports``)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum

from studiobook import scheduling as core
from studiobook.bookings.models import Booking
from studiobook.bookings.reports import (
    SOLD_STATUSES,
    ReportPeriod,
    percent,
    top_services,
    utilization,
)
from studiobook.payments.models import LedgerEntry
from studiobook.studios.errors import InvalidInput
from studiobook.studios.models import AuditLog, Studio

COLUMNS = ["booking", "start_at", "currency", "captured", "refunded", "taxes", "platform_fee",
           "studio_net"]


def ledger_column(account: str, amount_minor: int) -> tuple[str, int] | None:
    """How a ledger leg reads in the reports: ``(column, amount)`` with column ``captured``
    (the ``artist`` leg, negative: money taken), ``refunded`` (``artist``, positive),
    ``taxes`` (``tax:*``), ``platform_fee`` (``platform``) or ``studio_net`` (``studio``);
    None for any other account. Amounts in minor units, as the report adds them up."""
    if account == "artist":
        return ("captured" if amount_minor < 0 else "refunded"), abs(amount_minor)
    if account.startswith("tax:"):
        return "taxes", amount_minor
    if account == "platform":
        return "platform_fee", amount_minor
    if account == "studio":
        return "studio_net", amount_minor
    return None


def payout_rows(*, studio: Studio, start: datetime, end: datetime) -> list[dict]:
    """One row per booking with ledger movements in [start, end) (UTC), minor units:
    captured and refunded (artist side), taxes collected net of refunds, the platform's fee,
    and the studio's net (what to pay out)."""
    rows: dict[int, dict] = defaultdict(lambda: dict.fromkeys(COLUMNS[3:], 0))
    meta: dict[int, tuple[str, str, str]] = {}
    entries = (LedgerEntry.objects.filter(studio=studio, created_at__gte=start,
                                          created_at__lt=end)
               .select_related("booking").order_by("booking_id", "id"))
    for entry in entries:
        row = rows[entry.booking_id]
        meta[entry.booking_id] = (entry.booking.code, entry.booking.start_at.isoformat(),
                                  entry.currency)
        column = ledger_column(entry.account, entry.amount_minor)
        if column:
            row[column[0]] += column[1]
    return [dict(zip(COLUMNS[:3], meta[booking_id], strict=True)) | rows[booking_id]
            for booking_id in rows]


def payout_csv(*, studio: Studio, start: datetime, end: datetime) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    rows = payout_rows(studio=studio, start=start, end=end)
    writer.writerows(rows)
    totals = {c: sum(r[c] for r in rows) for c in COLUMNS[3:]}
    writer.writerow({"booking": "TOTAL", "start_at": "", "currency": studio.currency} | totals)
    return buffer.getvalue()


# --- dashboard reports (recording-studio-prd.md section 16, "/admin/reports") ---------------
#
# Two bases, said once: "booked" figures (gross booked, top services, cancellations) take the
# bookings whose SESSION starts in the period; "collected" figures (captured, refunded, taxes,
# platform fee, net) take the ledger movements MADE in the period, like ``payout_rows``. All
# amounts are int minor units of the studio's currency (rows in another currency are left
# out); local days are the studio's (``bookings.reports.ReportPeriod``).

SECTIONS = ("revenue", "utilization", "services", "cancellations")
# A period up to this many days is charted per day; a longer one per week (Monday to Sunday,
# the first and last weeks clipped to the period).
DAILY_UP_TO_DAYS = 62


@dataclass(frozen=True)
class RevenueBucket:
    """One day or week of the revenue series: local days ``[first_day, end_day)``. Amounts
    as in :class:`RevenueReport`."""

    first_day: date
    end_day: date
    booked_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    taxes_minor: int = 0
    platform_fee_minor: int = 0
    net_minor: int = 0

    @property
    def last_day(self) -> date:
        return self.end_day - timedelta(days=1)

    @property
    def collected_minor(self) -> int:
        return self.captured_minor - self.refunded_minor


@dataclass(frozen=True)
class RevenueReport:
    """Revenue over a period, int minor units of ``currency``.

    - ``booking_count``: bookings (any status) whose session starts in the period;
      ``booked_by_status``: their totals per status (every status present, 0 when none);
      ``gross_booked_minor``: the totals of the sold ones (confirmed, completed, no-show).
    - From the ledger, movements made in the period: ``captured_minor`` taken from artists,
      ``refunded_minor`` given back, ``collected_minor`` = captured - refunded, which also
      equals ``taxes_minor`` + ``platform_fee_minor`` + ``net_minor`` (taxes, the platform's
      fee and the studio's own net, each after refunds; the legs of a movement sum to zero).
    - ``series``: per day (``bucket="day"``) or per week (``"week"``), covering the period
      without gaps; each total is the sum of its series.
    """

    currency: str
    bucket: str
    booking_count: int
    booked_by_status: dict[str, int]
    gross_booked_minor: int
    captured_minor: int
    refunded_minor: int
    taxes_minor: int
    platform_fee_minor: int
    net_minor: int
    series: list[RevenueBucket]

    @property
    def collected_minor(self) -> int:
        return self.captured_minor - self.refunded_minor


def _buckets(period: ReportPeriod) -> tuple[str, list[tuple[date, date]], Callable[[date], int]]:
    """The series' buckets and a function from a local day of the period to its bucket."""
    first, end = period.first_day, period.end_day
    if period.days <= DAILY_UP_TO_DAYS:
        return ("day", [(first + timedelta(days=i), first + timedelta(days=i + 1))
                        for i in range(period.days)], lambda day: (day - first).days)
    monday = first - timedelta(days=first.weekday())
    bounds = []
    week = monday
    while week < end:
        bounds.append((max(week, first), min(week + timedelta(days=7), end)))
        week += timedelta(days=7)
    return "week", bounds, lambda day: (day - monday).days // 7


def summarise_revenue(*, period: ReportPeriod, currency: str,
                      bookings: Iterable[tuple[str, datetime, int]],
                      legs: Iterable[tuple[str, int, datetime]]) -> RevenueReport:
    """The pure part of :func:`revenue`: ``bookings`` as ``(status, start_at, total_minor)``
    with sessions starting in the period, ``legs`` as ``(account, amount_minor,
    created_at)`` ledger legs made in the period (UTC instants). Legs are read as
    ``payout_rows`` reads them: ``artist`` negative = captured, positive = refunded;
    ``tax:*``, ``platform`` and ``studio`` add up to taxes, the platform fee and the net."""
    kind, bounds, index_of = _buckets(period)
    sums = [defaultdict(int) for _ in bounds]
    by_status = dict.fromkeys(Booking.Status.values, 0)
    count = 0
    for status, start_at, total_minor in bookings:
        count += 1
        by_status[status] = by_status.get(status, 0) + total_minor
        if status in SOLD_STATUSES:
            sums[index_of(period.local_day(start_at))]["booked_minor"] += total_minor
    for account, amount, created_at in legs:
        column = ledger_column(account, amount)
        if column:
            name = REVENUE_FIELDS[column[0]]
            sums[index_of(period.local_day(created_at))][name] += column[1]
    series = [RevenueBucket(first_day=first, end_day=end, **sums[i])
              for i, (first, end) in enumerate(bounds)]

    def total(name: str) -> int:
        return sum(getattr(b, name) for b in series)

    return RevenueReport(
        currency=currency, bucket=kind, booking_count=count, booked_by_status=by_status,
        gross_booked_minor=total("booked_minor"), captured_minor=total("captured_minor"),
        refunded_minor=total("refunded_minor"), taxes_minor=total("taxes_minor"),
        platform_fee_minor=total("platform_fee_minor"), net_minor=total("net_minor"),
        series=series)


# ledger_column's columns as RevenueBucket fields.
REVENUE_FIELDS = {"captured": "captured_minor", "refunded": "refunded_minor",
                  "taxes": "taxes_minor", "platform_fee": "platform_fee_minor",
                  "studio_net": "net_minor"}


def revenue(*, studio: Studio, period: ReportPeriod) -> RevenueReport:
    """Revenue of ``studio`` over ``period`` (see :class:`RevenueReport`): one query on
    Booking, one on LedgerEntry (payout movements, which only move the studio's money on,
    are left out)."""
    bookings = Booking.objects.filter(
        studio=studio, currency=studio.currency, start_at__gte=period.start,
        start_at__lt=period.end).values_list("status", "start_at", "total_minor")
    legs = (LedgerEntry.objects.filter(studio=studio, currency=studio.currency,
                                       created_at__gte=period.start, created_at__lt=period.end)
            .exclude(kind=LedgerEntry.Kind.PAYOUT)
            .values_list("account", "amount_minor", "created_at"))
    return summarise_revenue(period=period, currency=studio.currency, bookings=bookings,
                             legs=legs)


# Cancellation lead-time buckets: how long before the session it was canceled, measured as
# the cancellation policy measures it (wall-clock hours in the studio's zone, inclusive:
# exactly 48 h before is in the first bucket; recording-studio-prd.md section 7.9).
LEAD_BUCKETS = (
    ("48h_or_more", "48 h or more before", 48),
    ("24h_to_48h", "24 to 48 h before", 24),
    ("under_24h", "Less than 24 h before", 0),
)


@dataclass(frozen=True)
class LeadBucket:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class CancellationReport:
    """Bookings whose session starts in the period that did not go ahead.

    ``booking_count``: all bookings with a session in the period (the rates' denominator);
    ``canceled``, ``rejected``, ``no_show``: how many ended so; ``refunds_minor``: what was
    given back (ledger refund legs, any date) on the canceled and rejected ones, minor units
    of ``currency``; ``lead_buckets``: the canceled ones by how long before the session they
    were canceled (``LEAD_BUCKETS``; their counts add up to ``canceled``)."""

    currency: str
    booking_count: int
    canceled: int
    rejected: int
    no_show: int
    refunds_minor: int
    lead_buckets: list[LeadBucket]

    @property
    def cancellation_rate(self) -> Decimal | None:
        """Canceled / all bookings, percent with one decimal (None without bookings)."""
        return percent(self.canceled, self.booking_count)

    @property
    def rejection_rate(self) -> Decimal | None:
        return percent(self.rejected, self.booking_count)

    @property
    def no_show_rate(self) -> Decimal | None:
        return percent(self.no_show, self.booking_count)


def cancellations(*, studio: Studio, period: ReportPeriod) -> CancellationReport:
    """Cancellations, rejections and no-shows among the bookings whose session starts in
    ``period`` (see :class:`CancellationReport`). A cancellation's time is its
    ``booking.cancel`` audit row (the booking's last update when there is none). One query
    each on Booking, AuditLog and LedgerEntry."""
    Status = Booking.Status
    in_period = Booking.objects.filter(studio=studio, start_at__gte=period.start,
                                       start_at__lt=period.end)
    rows = list(in_period.values_list("code", "status", "start_at", "updated_at"))
    counts = defaultdict(int)
    for _, status, _, _ in rows:
        counts[status] += 1
    canceled_at = dict(AuditLog.objects.filter(
        studio=studio, entity="booking", action="booking.cancel",
        entity_id__in=in_period.filter(status=Status.CANCELED).values("code"),
    ).order_by("created_at").values_list("entity_id", "created_at"))
    buckets = dict.fromkeys((key for key, _, _ in LEAD_BUCKETS), 0)
    for code, status, start_at, updated_at in rows:
        if status != Status.CANCELED:
            continue
        when = canceled_at.get(code, updated_at)
        for key, _, hours in LEAD_BUCKETS:
            if not hours or when <= core.tier_deadline(start_at, hours, period.zone):
                buckets[key] += 1
                break
    refunded = LedgerEntry.objects.filter(
        studio=studio, currency=studio.currency, account="artist",
        kind=LedgerEntry.Kind.REFUND,
        booking__in=in_period.filter(status__in=(Status.CANCELED, Status.REJECTED)),
    ).aggregate(total=Sum("amount_minor"))["total"] or 0
    return CancellationReport(
        currency=studio.currency, booking_count=len(rows), canceled=counts[Status.CANCELED],
        rejected=counts[Status.REJECTED], no_show=counts[Status.NO_SHOW],
        refunds_minor=refunded,
        lead_buckets=[LeadBucket(key, label, buckets[key]) for key, label, _ in LEAD_BUCKETS])


# --- CSV ---------------------------------------------------------------------------------------

def _percent_text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def report_csv(*, studio: Studio, period: ReportPeriod, section: str) -> str:
    """One report section as CSV text (``SECTIONS``). Money columns come in pairs: the
    amount as a decimal string in the studio's currency (``decimal_amount``) and
    ``<name>_minor``, int minor units; a ``currency`` column names the currency. Dates are
    local dates in the studio's zone, both ends included. Raises InvalidInput (field
    ``section``) for an unknown section.

    - revenue: one row per day or week (``period`` column "day"/"week"), then a "total" row;
    - utilization: one row per room, then per engineer (minutes and percent);
    - services: one row per service, by revenue, then a "TOTAL" row;
    - cancellations: one row per measure (bookings, canceled, rejected, no_show, the three
      lead-time buckets ``canceled_<bucket>``, refunds)."""
    if section not in SECTIONS:
        raise InvalidInput(f"section must be one of {', '.join(SECTIONS)}", field="section",
                           rule="choice")
    currency = studio.currency
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def money(amount_minor: int) -> list[str]:
        return [core.decimal_amount(amount_minor, currency), str(amount_minor)]

    if section == "revenue":
        names = ["booked", "captured", "refunded", "collected", "taxes", "platform_fee",
                 "studio_net"]
        writer.writerow(["period", "first_day", "last_day", "currency",
                         *(c for name in names for c in (name, f"{name}_minor"))])
        report = revenue(studio=studio, period=period)

        def amounts(item) -> list[str]:
            return [c for value in (item.booked_minor if isinstance(item, RevenueBucket)
                                    else item.gross_booked_minor,
                                    item.captured_minor, item.refunded_minor,
                                    item.collected_minor, item.taxes_minor,
                                    item.platform_fee_minor, item.net_minor)
                    for c in money(value)]

        for bucket in report.series:
            writer.writerow([report.bucket, bucket.first_day.isoformat(),
                             bucket.last_day.isoformat(), currency, *amounts(bucket)])
        writer.writerow(["total", period.first_day.isoformat(), period.last_day.isoformat(),
                         currency, *amounts(report)])
    elif section == "utilization":
        writer.writerow(["kind", "name", "booked_minutes", "open_minutes",
                         "utilization_percent"])
        report = utilization(studio=studio, period=period)
        for row in [*report.rooms, *report.engineers]:
            writer.writerow([row.kind, row.name, row.booked_minutes, row.open_minutes,
                             _percent_text(row.percent)])
    elif section == "services":
        writer.writerow(["service", "bookings", "minutes", "currency", "revenue",
                         "revenue_minor"])
        rows = top_services(studio=studio, period=period)
        for row in rows:
            writer.writerow([row.name, row.booking_count, row.minutes, currency,
                             *money(row.revenue_minor)])
        writer.writerow(["TOTAL", sum(r.booking_count for r in rows),
                         sum(r.minutes for r in rows), currency,
                         *money(sum(r.revenue_minor for r in rows))])
    else:
        writer.writerow(["measure", "count", "percent_of_bookings", "currency", "amount",
                         "amount_minor"])
        report = cancellations(studio=studio, period=period)
        writer.writerow(["bookings", report.booking_count, "", "", "", ""])
        writer.writerow(["canceled", report.canceled, _percent_text(report.cancellation_rate),
                         "", "", ""])
        writer.writerow(["rejected", report.rejected, _percent_text(report.rejection_rate),
                         "", "", ""])
        writer.writerow(["no_show", report.no_show, _percent_text(report.no_show_rate),
                         "", "", ""])
        for bucket in report.lead_buckets:
            writer.writerow([f"canceled_{bucket.key}", bucket.count, "", "", "", ""])
        writer.writerow(["refunds", "", "", currency, *money(report.refunds_minor)])
    return buffer.getvalue()
