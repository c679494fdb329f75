"""WSGI entry point; `studiobook serve` runs it on gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiobook.conf.settings")
application = get_wsgi_application()
