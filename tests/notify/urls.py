"""The site's URLs with the notify router mounted in front, on an API that maps errors like
the real one: the notify API tests run whether or not ``api.app`` mounts the router yet."""

from django.urls import path
from ninja import NinjaAPI

from studiobook.api.app import api as site_api
from studiobook.conf.urls import urlpatterns as site_urlpatterns
from studiobook.notify.api import router

api = NinjaAPI(title="notify tests", urls_namespace="notify-tests", docs_url=None)
api.add_router("", router)
for exception_class, handler in site_api._exception_handlers.items():
    api.add_exception_handler(exception_class, handler)

urlpatterns = [path("api/", api.urls), *site_urlpatterns]
