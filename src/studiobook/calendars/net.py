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
from urllib.parse import urljoin, urlsplit, urlunsplit

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
        addresses = resolve(parts.hostname, parts.port or 443)
    except OSError as error:
        raise UnsafeUrl(f"cannot resolve {parts.hostname}: check the address") from error
    for address in addresses:
        if not address.is_global:
            raise UnsafeUrl(f"{parts.hostname} resolves to a non-public address ({address}); "
                            "set STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS to allow it")
    return url


def resolve(hostname: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses ``hostname`` resolves to (``socket.getaddrinfo``). Raises OSError."""
    infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


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


# --- CalDAV -----------------------------------------------------------------------------------

MAX_REDIRECTS = 5
_REDIRECT_CODES = (301, 302, 303, 307, 308)


def caldav_client(url: str, *, username: str = "", password: str = ""):
    """A ``caldav.DAVClient`` for ``url`` whose every HTTP request goes through the same
    guard as ``http_get``: each request URL (the one given, the hrefs the server hands back,
    and each redirect target, followed here by hand, at most ``MAX_REDIRECTS``) must pass
    ``check_url``; credentials are not sent on to another host; every response body is read
    with the size limit (``max_bytes``) and the whole request, redirects included, within
    ``fetch_timeout`` seconds per step and twice that in all. RFC 6764 DNS discovery is off.
    Raises UnsafeUrl at once for a refused ``url``; requests raise UnsafeUrl or FetchError
    (and the library's own errors, see ``describe_error``)."""
    import caldav

    url = check_url(url)
    client = caldav.DAVClient(url=url, username=username or None, password=password or None,
                              timeout=fetch_timeout(), enable_rfc6764=False)
    send = client.session.request

    def guarded_request(method, request_url, **options):
        import time

        options["allow_redirects"] = False
        options["stream"] = True
        deadline = time.monotonic() + 2 * fetch_timeout()
        origin = urlsplit(str(request_url)).netloc
        for _ in range(MAX_REDIRECTS + 1):
            request_url = check_url(str(request_url))
            response = send(method, request_url, **options)
            location = response.headers.get("Location")
            if response.status_code in _REDIRECT_CODES and location:
                response.close()
                target = urljoin(request_url, location)
                if response.status_code == 303:
                    method, options["data"] = "GET", None
                if urlsplit(target).netloc != origin:
                    options["auth"] = None  # never hand the password to another host
                request_url = target
                continue
            _read_bounded(response, request_url, deadline)
            return response
        raise FetchError(f"more than {MAX_REDIRECTS} redirects from {_display(str(url))}")

    client.session.request = guarded_request
    return client


def _read_bounded(response, url: str, deadline: float) -> None:
    """Read a streamed response's body into it (``response.content`` works afterwards),
    refusing more than ``max_bytes()`` or past ``deadline`` (``time.monotonic()``)."""
    import time

    limit = max_bytes()
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise FetchError(f"{_display(url)} is larger than {limit} bytes")
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk or b"")
        if size > limit:
            response.close()
            raise FetchError(f"{_display(url)} is larger than {limit} bytes")
        if time.monotonic() > deadline:
            response.close()
            raise FetchError(f"{_display(url)} took longer than {2 * fetch_timeout():g} "
                             "seconds to answer")
        chunks.append(chunk or b"")
    response._content = b"".join(chunks)  # what Response.content returns once read
    response._content_consumed = True


def describe_error(error: Exception, url: str = "") -> str:
    """A sentence for a person about a failed calendar request, never the library's own
    text (which can carry response bodies, addresses and binary data): our own errors keep
    their message; CalDAV and HTTP-library errors are mapped by kind (credentials refused,
    not found, timeout, cannot connect, server error); anything else names only its type.
    ``url`` is shown without its path (``_display``)."""
    import caldav.lib.error as caldav_error

    where = _display(url) if url else "the server"
    if isinstance(error, UnsafeUrl | FetchError):
        return str(error)[:1000]
    if isinstance(error, caldav_error.AuthorizationError):
        return (f"{where} refused the username or password (HTTP 401/403): check the "
                "username and use an app-specific password")
    if isinstance(error, caldav_error.NotFoundError):
        return f"{where} has no calendar at that address (HTTP 404): check the calendar URL"
    if isinstance(error, caldav_error.DAVError):
        return (f"{where} refused the request ({type(error).__name__}): try again later, "
                "or check the calendar URL")
    name = type(error).__name__.lower()
    if isinstance(error, TimeoutError) or "timeout" in name:
        return f"{where} did not answer within {fetch_timeout():g} seconds"
    if isinstance(error, ConnectionError | OSError) or "connection" in name or "ssl" in name:
        return f"cannot connect to {where}: check the address and that the server is up"
    return f"the request to {where} failed ({type(error).__name__})"
