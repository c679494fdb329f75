from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "studiobook.bookings"
    label = "bookings"
