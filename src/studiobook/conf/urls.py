from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from studiobook.api.app import api

# The Django admin signs in through allauth's form, so its password guesses spend the same
# rate-limited budget as the site's and the API's (its own form had no limit at all).
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    # Before "api/": the live-availability stream URL is a redirect to the stream server.
    path("", include("studiobook.live.urls")),
    path("admin/", admin.site.urls),  # platform operators only
    path("api/", api.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("studiobook.calendars.urls")),
    path("", include("studiobook.web.urls")),
]

if settings.STUDIOBOOK_SERVE_MEDIA:
    # The embedded default keeps uploads (room photos) on the filesystem and serves them from
    # the app; a deployment with object storage sets STUDIOBOOK_SERVE_MEDIA=0.
    urlpatterns.append(re_path(r"^media/(?P<path>.*)$", serve,
                               {"document_root": settings.MEDIA_ROOT}))
