"""Page URLs, namespace ``web``. Each area keeps its own URL list:

- ``public``: studio list, studio home, availability, booking drawer, hold, pay, policies.
- ``me``: my bookings, cancel and reschedule, .ics, receipts.
- ``dashboard``: ``/dashboard/<slug>/...`` for a studio's staff and admins.
"""

from django.urls import include, path

from studiobook.web import views
from studiobook.web.dashboard import urls as dashboard_urls
from studiobook.web.me import urls as me_urls
from studiobook.web.public import urls as public_urls

app_name = "web"

urlpatterns = [
    path("", include(public_urls)),
    path("me/", include(me_urls)),
    path("dashboard/", include(dashboard_urls)),
    path("receipt/<str:code>.pdf", views.receipt_as_pdf, name="receipt-pdf"),
    path("receipt/<str:code>", views.receipt, name="receipt"),
]
