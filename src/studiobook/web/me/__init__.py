"""The signed-in artist's own pages: bookings, changes to them, receipts."""
