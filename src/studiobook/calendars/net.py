"""Outbound HTTP for calendars: which URLs may be fetched, and a bounded GET.

Calendar URLs are typed in by studio admins and engineers, and Studiobook fetches them from
its own servers. So that a URL cannot make it reach into its own network (the database, a
cloud metadata service at 169.254.169.254, an admin port on 127.0.0.1), hosts that resolve
to loopback, private, link-local or otherwise non-public addresses are refused unless
``settings.STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS`` is true (a single-studio install
with its own Nextcloud on the LAN; the tests, whose servers are on 127.0.0.1). Redirects
are checked the same way. The check resolves the name before the request does, so a DNS
answer that changes in between (rebinding) is not covered; a deployment that must rule that
out too should send outbound traffic through an egress proxy.

Settings, read at call time: ``STUDIOBOOK_CALENDARS_FETCH_TIMEOUT`` (seconds, default 20)
and ``STUDIOBOOK_CALENDARS_MAX_BYTES`` (default 10 MiB).
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

USER_AGENT = "Studiobook-Calendars/1.0"


class UnsafeUrl(ValueError):
    """The URL's scheme is not http(s)/webcal, or its host is not on the public internet."""


def fetch_timeout() -> float:
    return float(getattr(settings, "STUDIOBOOK_CALENDARS_FETCH_TIMEOUT", 20))


def max_bytes() -> int:
    return int(getattr(settings, "STUDIOBOOK_CALENDARS_MAX_BYTES", 10 * 1024 * 1024))


def normalize_url(url: str) -> str:
    """``webcal://`` and ``webcals://`` (how Apple and Google hand out subscriptions) become
    ``https://``; ``http(s)`` URLs are returned as they are. Raises UnsafeUrl otherwise."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        return urlunsplit(("https", *parts[1:]))
    if scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"only http, https and webcal URLs can be used, not {url[:60]!r}")
    return url


def check_url(url: str) -> str:
    """``normalize_url(url)``, after checking that its host resolves only to public
    addresses (see the module docstring). Raises UnsafeUrl."""
    url = normalize_url(url)
    if getattr(settings, "STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS", False):
        return url
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnsafeUrl(f"cannot resolve {parts.hostname}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise UnsafeUrl(f"{parts.hostname} resolves to a non-public address ({address}); "
                            "set STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS to allow it")
    return url


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class FetchError(Exception):
    """The URL could not be fetched: HTTP error status, network error, timeout, too big."""


def http_get(url: str, *, username: str = "", password: str = "",
             accept: str = "text/calendar, */*;q=0.5") -> bytes:
    """GET ``url`` (checked with ``check_url``, redirects too) with a timeout and a size
    limit; HTTP Basic auth when ``username`` is given. Raises UnsafeUrl, FetchError."""
    url = check_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": accept})
    if username:
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {credentials}")
    opener = urllib.request.build_opener(_CheckedRedirects)
    limit = max_bytes()
    try:
        with opener.open(request, timeout=fetch_timeout()) as response:
            body = response.read(limit + 1)
    except urllib.error.HTTPError as error:
        error.close()
        raise FetchError(f"HTTP {error.code} {error.reason} from {_display(url)}") from None
    except urllib.error.URLError as error:
        raise FetchError(f"cannot fetch {_display(url)}: {error.reason}") from None
    except (TimeoutError, OSError) as error:
        raise FetchError(f"cannot fetch {_display(url)}: {error or type(error).__name__}"
                         ) from None
    if len(body) > limit:
        raise FetchError(f"{_display(url)} is larger than {limit} bytes")
    return body


def _display(url: str) -> str:
    """The URL without its path and query, which often hold a secret (Google's secret
    address), for error messages shown in the admin."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], "/...", "", ""))
