"""Payout reports (recording-studio-prd.md story 14): what each booking earned the studio in
a period, from the ledger."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime

from studiobook.payments.models import LedgerEntry
from studiobook.studios.models import Studio

COLUMNS = ["booking", "start_at", "currency", "captured", "refunded", "taxes", "platform_fee",
           "studio_net"]


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
        if entry.account == "artist":
            row["captured" if entry.amount_minor < 0 else "refunded"] += abs(entry.amount_minor)
        elif entry.account.startswith("tax:"):
            row["taxes"] += entry.amount_minor
        elif entry.account == "platform":
            row["platform_fee"] += entry.amount_minor
        elif entry.account == "studio":
            row["studio_net"] += entry.amount_minor
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
