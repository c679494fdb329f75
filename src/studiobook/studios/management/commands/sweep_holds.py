"""``studiobook sweep-holds``: mark holds past their expiry as expired (tidying only)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from studiobook.bookings.services import sweep_expired_holds


class Command(BaseCommand):
    help = ("Mark every hold past its expiry as expired and print how many. Expired holds "
            "stop blocking at expiry anyway; run this periodically (e.g. from cron) to tidy.")

    def handle(self, *args, **options) -> None:
        count = sweep_expired_holds()
        self.stdout.write(f"{count} expired hold{'s' if count != 1 else ''} swept")
