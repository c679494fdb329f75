"""Delivery channels behind small interfaces (ARCHITECTURE.md principle 7).

Email goes through Django's email backends (``settings.EMAIL_BACKEND``: SMTP in production,
the console in the demo, any django-anymail ESP backend), as one ``EmailMultiAlternatives``:
plain text, an HTML alternative, and the calendar invite as a ``text/calendar; method=...``
attachment. SMS goes through an ``SMSChannel``: ``TwilioSMS`` (the official twilio SDK,
``Client.messages.create``) when ``SMS_BACKEND`` is ``twilio``, else ``ConsoleSMS``, which
prints the message (the offline adapter). ``get_sms_channel()`` reads the settings at call
time; ``use_sms_channel()`` replaces the configured channel (tests).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from dataclasses import dataclass, field
from email import encoders
from email.message import Message
from email.mime.base import MIMEBase
from email.utils import formataddr, make_msgid, parseaddr
from typing import Protocol, TextIO

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

# --- email ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attachment:
    """A file to attach: ``content_type`` may carry parameters, e.g. ``text/calendar;
    method=REQUEST; charset=UTF-8`` (RFC 5545 section 8.1, RFC 6047 section 2.4)."""

    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class EmailMessageSpec:
    to: str
    subject: str
    text: str
    html: str
    sender_name: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


def mime_part(attachment: Attachment) -> MIMEBase:
    """``attachment`` as a MIME part whose Content-Type keeps every parameter of
    ``content_type`` (Django's ``attach(filename, content, mimetype)`` would drop them), with
    ``Content-Disposition: attachment; filename=...``. Text is sent base64 encoded, so long
    lines and non-ASCII names survive any relay."""
    parsed = Message()
    parsed["Content-Type"] = attachment.content_type
    maintype, subtype = parsed.get_content_maintype(), parsed.get_content_subtype()
    params = {name: value for name, value in parsed.get_params()[1:]}
    part = MIMEBase(maintype, subtype, **params)
    part.set_payload(attachment.content)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
    return part


def sender_address(name: str = "") -> str:
    """``settings.DEFAULT_FROM_EMAIL`` with ``name`` (the studio's) as its display name."""
    display, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((name or display, address)) if address else settings.DEFAULT_FROM_EMAIL


class EmailChannel:
    """Sends through ``django.core.mail.get_connection()`` (``settings.EMAIL_BACKEND``)."""

    name = "email"

    def send(self, spec: EmailMessageSpec) -> str:
        """Send one message; returns its Message-ID (with django-anymail, the ESP's message
        id). Raises whatever the backend raises (``smtplib.SMTPException``, ``OSError``, an
        ``anymail.exceptions.AnymailError`` ...)."""
        _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
        domain = address.rpartition("@")[2] or "studiobook.local"
        message_id = make_msgid(domain=domain)
        message = EmailMultiAlternatives(
            subject=spec.subject, body=spec.text, from_email=sender_address(spec.sender_name),
            to=[spec.to], headers={"Message-ID": message_id, **spec.headers},
            connection=get_connection(fail_silently=False))
        if spec.html:
            message.attach_alternative(spec.html, "text/html")
        for attachment in spec.attachments:
            message.attach(mime_part(attachment))
        message.send(fail_silently=False)
        # django-anymail reports the ESP's own id for the message; SMTP keeps ours.
        status = getattr(message, "anymail_status", None)
        return str(getattr(status, "message_id", None) or message_id)


# --- SMS -----------------------------------------------------------------------------------

class DeliveryError(Exception):
    """A channel refused a message. ``is_permanent``: sending it again cannot succeed (an
    invalid number, a number that opted out), so it is not retried."""

    def __init__(self, message: str, *, is_permanent: bool = False):
        super().__init__(message)
        self.is_permanent = is_permanent


class SMSChannel(Protocol):
    name: str

    def send(self, *, to: str, body: str) -> str:
        """Send ``body`` to ``to`` (E.164); returns the provider's message id. Raises on
        failure."""
        ...


class ConsoleSMS:
    """Prints each message to ``stream`` (default stdout), like Django's console email
    backend: the SMS adapter that works offline."""

    name = "console"

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self._lock = threading.Lock()
        self._count = 0

    def send(self, *, to: str, body: str) -> str:
        stream = self.stream or sys.stdout
        with self._lock:
            self._count += 1
            message_id = f"console-{os.getpid()}-{self._count}"
            stream.write(f"SMS to {to} ({message_id})\n{body}\n{'-' * 40}\n")
            stream.flush()
        return message_id


class TwilioSMS:
    """Twilio Programmable Messaging through the official SDK: ``POST
    /2010-04-01/Accounts/{AccountSid}/Messages.json`` with ``To``, ``From`` (or
    ``MessagingServiceSid`` when ``from_number`` is an ``MG...`` sid) and ``Body``
    (https://www.twilio.com/docs/messaging/api/message-resource). ``http_client`` replaces
    the SDK's ``TwilioHttpClient`` (tests give one on a recorded transport)."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, from_number: str, *,
                 http_client=None):
        from twilio.rest import Client

        self.from_number = from_number
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def send(self, *, to: str, body: str) -> str:
        sender = ({"messaging_service_sid": self.from_number}
                  if self.from_number.startswith("MG") else {"from_": self.from_number})
        from twilio.base.exceptions import TwilioRestException

        try:
            message = self.client.messages.create(to=to, body=body, **sender)
        except TwilioRestException as error:
            # 4xx (bad number, opted out, ...) will fail the same way again; 429 and 5xx
            # are worth retrying. https://www.twilio.com/docs/api/errors
            raise DeliveryError(
                f"Twilio error {error.code} (HTTP {error.status}): "
                f"{without_number(str(error.msg), to)}"
                + (f" https://www.twilio.com/docs/errors/{error.code}" if error.code else ""),
                is_permanent=400 <= error.status < 500 and error.status != 429) from error
        return message.sid


def without_number(text: str, number: str) -> str:
    """``text`` with the phone ``number`` (with or without its +) replaced by
    ``<recipient>``: provider errors quote the number, and the error is stored in clear
    beside the encrypted recipient (``Notification.error``)."""
    for form in sorted({number, number.lstrip("+")} - {""}, key=len, reverse=True):
        text = text.replace(form, "<recipient>")
    return text


_sms_override: SMSChannel | None = None


def use_sms_channel(channel: SMSChannel | None) -> None:
    """Replace the configured SMS channel (None: back to the settings)."""
    global _sms_override
    _sms_override = channel


def _setting(name: str, default: str = "") -> str:
    return getattr(settings, name, None) or os.environ.get(name, default)


def get_sms_channel() -> SMSChannel:
    """``TwilioSMS`` when ``SMS_BACKEND`` is ``twilio`` (the default when
    ``TWILIO_ACCOUNT_SID`` is set), else ``ConsoleSMS``. Settings, then the environment, read
    at call time: ``SMS_BACKEND``, ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``,
    ``TWILIO_FROM``."""
    if _sms_override is not None:
        return _sms_override
    account_sid = _setting("TWILIO_ACCOUNT_SID")
    backend = _setting("SMS_BACKEND", "twilio" if account_sid else "console")
    if backend == "twilio":
        return _twilio(account_sid, _setting("TWILIO_AUTH_TOKEN"), _setting("TWILIO_FROM"))
    return _console()


@functools.lru_cache(maxsize=4)
def _twilio(account_sid: str, auth_token: str, from_number: str) -> TwilioSMS:
    # One client per credentials, so its HTTP connections are reused.
    if not (account_sid and auth_token and from_number):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM")
    return TwilioSMS(account_sid, auth_token, from_number)


@functools.lru_cache(maxsize=1)
def _console() -> ConsoleSMS:
    return ConsoleSMS()
