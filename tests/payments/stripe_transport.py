"""A Stripe SDK HTTP client serving recorded responses and recording what was sent.

The gateway and the real ``stripe`` SDK run unchanged; only the transport (the
``stripe.HTTPClient`` at the bottom of the SDK) is replaced, so the tests see exactly the
requests the SDK would put on the wire (method, URL, headers such as ``Idempotency-Key``, the
form-encoded body) and the SDK parses real Stripe-shaped JSON bodies from
``stripe_responses/``.

    transport = RecordingTransport()
    transport.reply("POST", "/v1/payment_intents", "payment_intent_manual_created.json")
    transport.reply("POST", "/v1/payment_intents", "error_card_declined.json", status=402)
    transport.fail("GET", "/v1/payment_intents/pi_x", TimeoutError("read timed out"))

Replies queue per (method, path) and are consumed in order; a request with no reply left fails
the test.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import stripe
from requests.structures import CaseInsensitiveDict

FIXTURES = Path(__file__).parent / "stripe_responses"


def load_fixture(name: str) -> dict[str, Any]:
    """A recorded response body from ``stripe_responses/``."""
    return json.loads((FIXTURES / name).read_text())


def _flatten(pairs: dict[str, list[str]]) -> dict[str, str | list[str]]:
    return {key: values[0] if len(values) == 1 else values for key, values in pairs.items()}


@dataclass(frozen=True)
class SentRequest:
    """One request as the SDK sent it: ``method`` upper-case, ``path`` without the query,
    ``query`` and ``form`` decoded from the URL and the form-encoded body (a key sent once maps
    to its value, a repeated key to the list of values), ``headers`` as sent."""

    method: str
    url: str
    path: str
    query: dict[str, str | list[str]]
    headers: dict[str, str]
    form: dict[str, str | list[str]]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class _Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    failure: BaseException | None = None


class RecordingTransport(stripe.HTTPClient):
    """Serves queued replies keyed by (method, path) and records every request in ``sent``."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.replies: defaultdict[tuple[str, str], deque[_Reply]] = defaultdict(deque)
        self.sent: list[SentRequest] = []

    def reply(self, method: str, path: str, fixture: str | Mapping[str, Any], *,
              status: int = 200) -> RecordingTransport:
        """Queue a response: a fixture file name or a body, with an HTTP status."""
        body = load_fixture(fixture) if isinstance(fixture, str) else dict(fixture)
        self.replies[(method.upper(), path)].append(_Reply(status=status, body=body))
        return self

    def fail(self, method: str, path: str, cause: BaseException) -> RecordingTransport:
        """Queue a network failure: raised as the SDK's own clients do, an
        ``APIConnectionError`` chained from the library's exception."""
        self.replies[(method.upper(), path)].append(_Reply(failure=cause))
        return self

    @property
    def last(self) -> SentRequest:
        """The most recent request."""
        return self.sent[-1]

    def request(self, method: str, url: str, headers: Mapping[str, str] | None,
                post_data: Any = None, **_: Any) -> tuple[bytes, int, Mapping[str, str]]:
        """The SDK's transport hook: record the request, answer with the next queued reply
        (JSON body, status, headers with a ``Request-Id``) or raise its network failure."""
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        sent = SentRequest(
            method=method.upper(),
            url=url,
            path=parts.path,
            query=_flatten(parse_qs(parts.query, keep_blank_values=True)),
            headers=dict(headers or {}),
            form=_flatten(parse_qs(body, keep_blank_values=True)),
        )
        self.sent.append(sent)
        queue = self.replies.get((sent.method, sent.path))
        if not queue:
            raise AssertionError(f"unexpected request {sent.method} {sent.path}")
        reply = queue.popleft()
        if reply.failure is not None:
            raise stripe.APIConnectionError(
                f"Unexpected error communicating with Stripe. (Network error: "
                f"{type(reply.failure).__name__}: {reply.failure})",
                should_retry=True,
            ) from reply.failure
        response_headers = CaseInsensitiveDict({
            "Content-Type": "application/json",
            "Request-Id": f"req_test{len(self.sent):04d}",
            "Stripe-Version": sent.headers.get("Stripe-Version", ""),
        })
        if sent.idempotency_key:
            response_headers["Idempotency-Key"] = sent.idempotency_key
        return json.dumps(reply.body).encode(), reply.status, response_headers

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        """Not used by the gateway."""
        raise NotImplementedError("the gateway never streams")

    def close(self) -> None:
        """Nothing to release."""

    def unused(self) -> list[tuple[str, str]]:
        """Routes with replies that were never requested."""
        return [route for route, queue in self.replies.items() if queue]
