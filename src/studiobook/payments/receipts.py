"""Receipts (recording-studio-prd.md 16, ``/receipt/[code]``): what was bought, taxed, paid
and refunded, as data, and as a PDF (fpdf2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF

from studiobook.bookings.models import Booking
from studiobook.payments.models import Payment, Refund
from studiobook.payments.services import balance_due_minor
from studiobook.scheduling.money import format_basis_points, format_money, format_percent_ppm


@dataclass(frozen=True)
class ReceiptLine:
    label: str
    amount: str


@dataclass(frozen=True)
class Receipt:
    code: str
    studio: str
    address: str
    artist: str
    session: str
    status: str
    lines: list[ReceiptLine]
    taxes: list[ReceiptLine]
    total: str
    payments: list[ReceiptLine]
    refunds: list[ReceiptLine]
    balance_due: str
    issued_at: str


def _snapshot_rate(tax: dict) -> str:
    """The rate of a tax line of a stored quote as a percent number: ``rate_ppm`` since tax
    rates are parts per million, ``rate_basis_points`` in snapshots taken before."""
    if "rate_ppm" in tax:
        return format_percent_ppm(tax["rate_ppm"])
    return format_basis_points(tax["rate_basis_points"])


def _local(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z")


def build_receipt(booking: Booking, *, now: datetime) -> Receipt:
    """The receipt of ``booking`` as of ``now``, amounts formatted in its currency and times
    in the studio's zone."""
    zone = ZoneInfo(booking.studio.time_zone)
    money = lambda amount: format_money(amount, booking.currency)  # noqa: E731
    snapshot = booking.price_snapshot or {}
    payments = list(Payment.objects.filter(booking=booking, amount_captured_minor__gt=0))
    refunds = list(Refund.objects.filter(payment__booking=booking,
                                         status__in=("succeeded", "pending")))
    refunded = sum(r.amount_minor for r in refunds)
    return Receipt(
        code=booking.code, studio=booking.studio.name, address=booking.studio.address,
        artist=f"{booking.user.name} <{booking.user.email}>",
        session=f"{booking.service.name}, {_local(booking.start_at, zone)} to "
                f"{booking.end_at.astimezone(zone):%H:%M}",
        status=booking.get_status_display(),
        lines=[ReceiptLine(f"{li.description}" + (f" x {li.quantity}" if li.quantity > 1
                                                   else ""), money(li.total_minor))
               for li in booking.line_items.all()],
        taxes=[ReceiptLine(f"{t['name']} ({_snapshot_rate(t)} %)",
                           money(t["amount_minor"])) for t in snapshot.get("taxes", [])],
        total=money(booking.total_minor),
        payments=[ReceiptLine(f"{p.get_purpose_display()} via {p.gateway}, "
                              f"{_local(p.updated_at, zone)}", money(p.amount_captured_minor))
                  for p in payments],
        refunds=[ReceiptLine(f"Refund ({r.reason or 'refund'}), {_local(r.created_at, zone)}",
                             money(r.amount_minor)) for r in refunds],
        balance_due=money(balance_due_minor(booking, payments)),
        issued_at=_local(now, zone) + f" (refunded in all: {money(refunded)})",
    )


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as an A4 PDF."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"Receipt {receipt.code}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, f"{receipt.studio}: receipt {receipt.code}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for text in (receipt.address, f"Artist: {receipt.artist}", f"Session: {receipt.session}",
                 f"Status: {receipt.status}", f"Issued: {receipt.issued_at}"):
        pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def section(title: str, rows: list[ReceiptLine]) -> None:
        if not rows:
            return
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        for row in rows:
            pdf.cell(140, 6, row.label)
            pdf.cell(0, 6, row.amount, align="R", new_x="LMARGIN", new_y="NEXT")

    section("Items", receipt.lines)
    section("Taxes", receipt.taxes)
    section("Total", [ReceiptLine("Total", receipt.total)])
    section("Payments", receipt.payments)
    section("Refunds", receipt.refunds)
    section("Balance due", [ReceiptLine("Balance due", receipt.balance_due)])
    return bytes(pdf.output())
