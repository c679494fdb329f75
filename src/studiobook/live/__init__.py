"""Live availability: a Server-Sent Events stream of "this room or engineer just changed".

Pieces (docs/live-availability.md tells the whole story):

- ``models.AvailabilityChange``: the outbox. ``publish.record_change`` (subscribed to the
  bookings' ``availability.changed`` event, which runs right after the booking commits) writes
  one row per event and sends a wake-up signal: PostgreSQL ``NOTIFY`` and/or Redis
  ``PUBLISH``; with neither (SQLite alone) the stream server polls the table.
- ``stream``: the ASGI application (plain ASGI, no framework) that serves
  ``GET /api/studios/{slug}/availability/stream`` to any number of clients from one process:
  one tail of the outbox per process, fanned out in memory, resumable with ``Last-Event-ID``.
- ``server``: runs it under uvicorn on its own port, beside gunicorn (``studiobook serve``).
- ``views.stream_redirect``: the WSGI side of the same URL, a 307 to the stream server, so the
  sync workers never hold a long-lived connection.
"""
