"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping what it receives.

    with running_smtp_server() as inbox:
        ...  # point Django (or a subprocess's EMAIL_HOST/EMAIL_PORT) at 127.0.0.1:inbox.port
        inbox.messages   # email.message.EmailMessage objects, oldest first
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it receives. ``port`` is set by
    :func:`running_smtp_server`."""

    def __init__(self):
        self.envelopes = []
        self.port: int | None = None
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self._arrived:
            self.envelopes.append(envelope)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(e.original_content or e.content,
                                         policy=email.policy.default)
                for e in self.envelopes]

    def wait_for(self, predicate, timeout: float = 10.0) -> email.message.EmailMessage:
        """The first message for which ``predicate(message)`` is true, waiting up to
        ``timeout`` seconds for it to arrive (AssertionError after that)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no matching email within {timeout} s; got subjects "
                        f"{[m['Subject'] for m in self.messages]}")
                self._arrived.wait(left)


@contextlib.contextmanager
def running_smtp_server() -> Iterator[Inbox]:
    """Start aiosmtpd on a free loopback port; stop it on the way out."""
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
