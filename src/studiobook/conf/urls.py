from django.contrib import admin
from django.urls import include, path

from studiobook.api.app import api
from studiobook.web import views

urlpatterns = [
    # Before "api/": the live-availability stream URL is a redirect to the stream server.
    path("", include("studiobook.live.urls")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("receipt/<str:code>.pdf", views.receipt_as_pdf, name="receipt-pdf"),
    path("receipt/<str:code>", views.receipt, name="receipt"),
    path("", include("studiobook.calendars.urls")),
]
