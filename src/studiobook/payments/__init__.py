"""Payments: deposits, holds, balances and refunds for bookings, through a payment gateway."""
