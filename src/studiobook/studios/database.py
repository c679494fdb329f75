"""Reading back what PostgreSQL holds but Python cannot: a ``timestamptz`` before year 1
(BC) or ``infinity``, a ``date`` BC or infinite. psycopg refuses such a value
(``DataError: timestamp too small``), which made every read of a studio that had stored one
(a blackout from "0001-01-01T00:00:00+14:00", before ``studiobook.limits`` bounded input) a
500, even the DELETE that would remove it.

On each new PostgreSQL connection the loaders of ``timestamptz`` and ``date`` are replaced
by ones that read such a value as the nearest bound of ``studiobook.limits``
(``EARLIEST_INSTANT``/``LATEST_INSTANT``, ``EARLIEST_DATE``/``LATEST_DATE``): a blackout
"from the beginning of time" still blocks everything the studio can sell, and can be seen,
edited and deleted. Every readable value is returned exactly as psycopg reads it.
"""

from __future__ import annotations

from django.db.backends.signals import connection_created


def _below(data) -> bool:
    text = bytes(data).strip()
    return text.startswith(b"-infinity") or text.endswith(b"BC")


def install(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: register the tolerant loaders on a PostgreSQL
    connection (nothing on other databases)."""
    if connection.vendor != "postgresql":
        return
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg import DataError
    from psycopg.types.datetime import DateLoader

    from studiobook import limits

    class TolerantTimestamptzLoader(BaseTzLoader):
        # Django re-registers its own loader on a cursor whose zone differs from this one's.
        timezone = connection.timezone

        def load(self, data):
            try:
                return super().load(data)
            except DataError:
                bound = limits.EARLIEST_INSTANT if _below(data) else limits.LATEST_INSTANT
                return bound.astimezone(self.timezone) if self.timezone else bound.replace(
                    tzinfo=None)

    class TolerantDateLoader(DateLoader):
        def load(self, data):
            try:
                return super().load(data)
            except DataError:
                return limits.EARLIEST_DATE if _below(data) else limits.LATEST_DATE

    adapters = connection.connection.adapters
    adapters.register_loader("timestamptz", TolerantTimestamptzLoader)
    adapters.register_loader("date", TolerantDateLoader)


def connect() -> None:
    """Called from ``StudiosConfig.ready``."""
    connection_created.connect(install, dispatch_uid="studiobook.tolerant_loaders")
