"""Feed URLs; the project URLconf includes them with
``path("", include("studiobook.calendars.urls"))``."""

from django.urls import path

from studiobook.calendars import feeds

app_name = "calendars"

urlpatterns = [
    path("calendar/staff/<int:staff_id>.ics", feeds.staff_feed, name="staff-feed"),
    path("calendar/rooms/<int:room_id>.ics", feeds.room_feed, name="room-feed"),
    path("calendar/me/<int:user_id>.ics", feeds.artist_feed, name="artist-feed"),
]
