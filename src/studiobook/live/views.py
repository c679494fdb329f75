"""The WSGI side of ``/api/studios/{slug}/availability/stream``: a redirect.

A stream holds its connection for as long as the page is open; served by gunicorn's gthread
workers it would hold a worker thread too, and a few dozen open pages would leave none for
anything else. So the WSGI application answers ``307`` to the stream server (an asyncio
process beside gunicorn, ``studiobook.live.server``), which sends CORS headers so a page's
EventSource follows the redirect. In production a reverse proxy routes this path to the stream
server and the redirect is never seen.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpResponse

from studiobook.live import conf


def stream_base_url(request) -> str:
    """``STUDIOBOOK_STREAM_URL``, else the host the client used on the stream port
    (``STUDIOBOOK_STREAM_PORT``, else this server's port + 1)."""
    configured = conf.stream_url()
    if configured:
        return configured
    parts = urlsplit(f"//{request.get_host()}")
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = conf.stream_port()
    if port is None:
        port = int(parts.port or request.get_port() or (443 if request.is_secure() else 80)) + 1
    return f"{request.scheme}://{host}:{port}"


def stream_redirect(request, slug: str) -> HttpResponse:
    response = HttpResponse(status=307)
    response["Location"] = stream_base_url(request) + request.get_full_path()
    response["Cache-Control"] = "no-store"
    response["Access-Control-Allow-Origin"] = "*"
    return response
