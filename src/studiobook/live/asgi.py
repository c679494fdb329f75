"""ASGI entry point of the stream server, for any ASGI server::

    uvicorn studiobook.live.asgi:application --host 127.0.0.1 --port 8001

(``studiobook serve`` starts it for you: ``studiobook.live.server``.) It serves only
``/api/studios/{slug}/availability/stream`` and ``/healthz``; the rest of the site is the
WSGI application under gunicorn.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiobook.conf.settings")
django.setup()

from studiobook.live.stream import StreamApp  # noqa: E402  (needs the apps loaded)

application = StreamApp()
