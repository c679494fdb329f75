"""SMS: the console adapter, and the Twilio adapter (the official SDK) against a recorded
HTTP transport shaped like Twilio's Message resource
(https://www.twilio.com/docs/messaging/api/message-resource)."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import BaseAdapter
from twilio.http.http_client import TwilioHttpClient

from studiobook.bookings import services as bookings
from studiobook.notify import channels
from studiobook.notify.channels import ConsoleSMS, TwilioSMS, get_sms_channel, use_sms_channel
from studiobook.notify.models import Notification, NotificationPreference
from tests.notify import backends
from tests.support.factories import NOW

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token"
FROM = "+15005550006"
MESSAGE_SID = "SM" + "fedcba9876543210" * 2


def message_resource(to: str, from_: str, body: str) -> dict:
    """Twilio's documented response to ``POST .../Messages.json`` (201 Created)."""
    return {
        "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": body,
        "date_created": "Mon, 23 Nov 2026 12:00:00 +0000", "date_sent": None,
        "date_updated": "Mon, 23 Nov 2026 12:00:00 +0000", "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": from_,
        "messaging_service_sid": None, "num_media": "0", "num_segments": "1", "price": None,
        "price_unit": "USD", "sid": MESSAGE_SID, "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}/Media.json"},
        "to": to, "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}.json",
    }


class TwilioTransport(BaseAdapter):
    """A requests transport standing in for api.twilio.com: records each request and answers
    with the Message resource, or with Twilio's error body when ``error`` is set."""

    def __init__(self, error: dict | None = None):
        super().__init__()
        self.requests: list[requests.PreparedRequest] = []
        self.error = error

    def send(self, request, **kwargs):
        self.requests.append(request)
        response = requests.Response()
        response.request, response.url = request, request.url
        response.headers["Content-Type"] = "application/json"
        if self.error:
            response.status_code = self.error["status"]
            response._content = json.dumps(self.error).encode()
        else:
            form = {k: v[0] for k, v in parse_qs(request.body).items()}
            response.status_code = 201
            response._content = json.dumps(message_resource(
                form["To"], form.get("From", ""), form["Body"])).encode()
        return response

    def close(self):
        pass


def twilio_over(transport: TwilioTransport, from_number: str = FROM) -> TwilioSMS:
    http_client = TwilioHttpClient()
    http_client.session.mount("https://", transport)
    return TwilioSMS(ACCOUNT_SID, AUTH_TOKEN, from_number, http_client=http_client)


@pytest.fixture
def sms_on(world):
    NotificationPreference.objects.create(user=world["artist"], sms=True)


def test_the_console_adapter_prints_the_message(world, book, committed, sms_on, capsys):
    use_sms_channel(None)  # the configured one: console (SMS_BACKEND=console)
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)

    out = capsys.readouterr().out
    assert "SMS to +14165550123 (console-" in out
    assert (f"Northside Sound: booking {booking.code} confirmed for Sat 28 Nov 10:00-14:00, "
            "Studio A.") in out
    sms = Notification.objects.get(booking=booking, channel="sms")
    assert (sms.template, sms.status, sms.recipient) == ("approved", "sent", "+14165550123")
    assert sms.provider_message_id.startswith("console-")


def test_the_twilio_adapter_posts_to_the_messages_resource(world, book, committed, sms_on):
    transport = TwilioTransport()
    use_sms_channel(twilio_over(transport))
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)

    (request,) = transport.requests
    url = urlsplit(request.url)
    assert (request.method, url.scheme, url.hostname, url.path) == (
        "POST", "https", "api.twilio.com", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert parse_qs(request.body) == {
        "To": ["+14165550123"], "From": [FROM],
        "Body": [f"Northside Sound: booking {booking.code} confirmed for Sat 28 Nov "
                 "10:00-14:00, Studio A."]}
    sms = Notification.objects.get(booking=booking, channel="sms")
    assert (sms.status, sms.provider_message_id, sms.recipient) == (
        "sent", MESSAGE_SID, "+14165550123")


def test_a_messaging_service_sid_is_sent_instead_of_from(world, book, committed, sms_on):
    transport = TwilioTransport()
    use_sms_channel(twilio_over(transport, from_number="MG" + "0" * 32))
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    form = parse_qs(transport.requests[0].body)
    assert form["MessagingServiceSid"] == ["MG" + "0" * 32] and "From" not in form


def test_a_rejected_number_fails_the_notification_for_good(world, book, committed, sms_on):
    transport = TwilioTransport(error={
        "code": 21211, "message": "Invalid 'To' Phone Number: +14165550123",
        "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})
    use_sms_channel(twilio_over(transport))
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)

    booking.refresh_from_db()
    assert booking.status == "confirmed"
    sms = Notification.objects.get(booking=booking, channel="sms")
    assert (sms.status, sms.attempts, sms.error) == (
        "failed", 1, "DeliveryError: Twilio error 21211 (HTTP 400): Unable to create record: "
        "Invalid 'To' Phone Number: <recipient> https://www.twilio.com/docs/errors/21211")
    assert backends.DEFERRED == []  # a 4xx fails the same way again: no retry
    assert Notification.objects.get(booking=booking, template="approved",
                                    channel="email").status == "sent"


@pytest.mark.parametrize("status", [429, 503])
def test_a_twilio_outage_is_retried(world, book, committed, sms_on, status):
    transport = TwilioTransport(error={"code": 20429 if status == 429 else 20500,
                                       "message": "try later", "status": status})
    use_sms_channel(twilio_over(transport))
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)
    sms = Notification.objects.get(booking=booking, channel="sms")
    assert sms.status == "failed"
    (retry,) = backends.DEFERRED
    assert retry.args == [sms.id, 2]
    assert sms.next_attempt_at == retry.task.run_after


def test_the_channel_comes_from_the_settings(settings):
    use_sms_channel(None)
    settings.SMS_BACKEND = ""
    settings.TWILIO_ACCOUNT_SID = ""
    assert isinstance(get_sms_channel(), ConsoleSMS)

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_FROM = FROM
    channel = get_sms_channel()
    assert isinstance(channel, TwilioSMS)
    assert (channel.client.username, channel.client.password, channel.from_number) == (
        ACCOUNT_SID, AUTH_TOKEN, FROM)
    assert get_sms_channel() is channel  # one client per credentials

    settings.SMS_BACKEND = "console"
    assert isinstance(get_sms_channel(), ConsoleSMS)

    settings.SMS_BACKEND, settings.TWILIO_AUTH_TOKEN = "twilio", ""
    channels._twilio.cache_clear()
    with pytest.raises(ImproperlyConfigured):
        get_sms_channel()
