from django.urls import path

from studiobook.web.me import views

urlpatterns = [
    path("bookings", views.my_bookings, name="my-bookings"),
    # Before "bookings/<code>": a str converter would take the ".ics" into the code.
    path("bookings/<str:code>.ics", views.booking_ics, name="booking-ics"),
    path("bookings/<str:code>", views.booking, name="booking"),
    path("bookings/<str:code>/cancel", views.cancel, name="booking-cancel"),
    path("bookings/<str:code>/reschedule", views.reschedule, name="booking-reschedule"),
    path("settings", views.settings, name="me-settings"),
]
