"""Include before ``api/`` in the root URLconf: ``path("", include("studiobook.live.urls"))``."""

from django.urls import path

from studiobook.live import views

urlpatterns = [
    path("api/studios/<slug:slug>/availability/stream", views.stream_redirect,
         name="availability-stream"),
]
