"""The project's URLs plus the calendar feeds, until the project URLconf includes them."""

from django.urls import include, path

from studiobook.conf.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *[p for p in project_urlpatterns if getattr(p, "namespace", None) != "calendars"],
    path("", include("studiobook.calendars.urls")),
]
