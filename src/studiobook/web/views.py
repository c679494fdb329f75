"""Pages. Thin: look up, check who may see it, render."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from studiobook.bookings.models import Booking
from studiobook.bookings.queries import visible_booking
from studiobook.payments.receipts import build_receipt, receipt_pdf


def _booking_for_receipt(request, code: str) -> Booking:
    booking = visible_booking(request.user, code, Booking.objects.select_related(
        "studio", "service", "user").prefetch_related("line_items"))
    if booking is None:
        raise Http404("no such receipt")
    return booking


def receipt(request, code: str):
    """``/receipt/{code}``: the printable receipt, for its artist and the studio team."""
    booking = _booking_for_receipt(request, code)
    return render(request, "web/receipt.html",
                  {"receipt": build_receipt(booking, now=timezone.now())})


def receipt_as_pdf(request, code: str):
    """``/receipt/{code}.pdf``: the same receipt as a PDF."""
    booking = _booking_for_receipt(request, code)
    response = HttpResponse(receipt_pdf(build_receipt(booking, now=timezone.now())),
                            content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{code}.pdf"'
    return response
