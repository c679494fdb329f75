"""The templates of recording-studio-prd.md section 13: every one carries the PRD's variables,
with wall-clock times in the studio's zone and names in the user's language."""

from __future__ import annotations

import pytest
from django.core import mail

from studiobook.accounts.models import User
from studiobook.bookings import services as bookings
from studiobook.bookings.models import Booking
from studiobook.notify import services
from studiobook.notify.models import Channel, NotificationPreference, Template
from studiobook.studios.models import Room, Service, Studio
from tests.notify.conftest import START
from tests.support.factories import NOW, utc

PRD_VARIABLES = ("artist_name", "booking_code", "room_name", "date", "start_time",
                 "end_time", "total", "deposit", "address", "policies_url")

EXTRA = {
    Template.REJECTED: {"reason": "double-booked engineer", "refund_minor": 13560,
                        "released_minor": 0},
    Template.CANCELED: {"reason": "drummer sick", "refund_minor": 13560},
    Template.RESCHEDULED: {"old_start_at": "2026-11-27T15:00:00+00:00",
                           "old_end_at": "2026-11-27T19:00:00+00:00"},
    Template.PAYMENT_FAILED: {"action_url": "/bookings/SB-TEST01/pay", "code": "card_declined",
                              "payment_minor": 13560},
}
BOOKING_TEMPLATES = [t for t in Template.values if t != Template.TEST]


def unsaved_booking(start, end, *, name="Ari Artist", zone="America/Toronto") -> Booking:
    studio = Studio(slug="northside", name="Northside Sound", time_zone=zone,
                    currency="CAD", address="12 Queen St W", city="Toronto")
    return Booking(studio=studio, code="SB-TEST01", user=User(email="ari@example.test",
                                                               name=name),
                   service=Service(studio=studio, name="Lockout"),
                   room=Room(id=1, studio=studio, name="Studio A"), start_at=start,
                   end_at=end, currency="CAD", total_minor=27120, deposit_minor=13560,
                   policy_snapshot={"summary": "Full refund until 48 h before."})


def context_for(template: str, booking: Booking, language: str = "en") -> dict:
    return services.booking_context(booking, language=language) | services._extra_context(
        template, booking, EXTRA.get(template, {}), language)


@pytest.mark.parametrize("template", BOOKING_TEMPLATES)
def test_every_email_template_shows_the_prd_variables_in_the_studio_zone(template):
    booking = unsaved_booking(START, utc(2026, 11, 28, 19, 0))  # 15:00-19:00 UTC
    context = context_for(template, booking)
    assert {name: context[name] for name in PRD_VARIABLES} == {
        "artist_name": "Ari Artist", "booking_code": "SB-TEST01", "room_name": "Studio A",
        "date": "Saturday 28 November 2026", "start_time": "10:00", "end_time": "14:00",
        "total": "CAD 271.20", "deposit": "CAD 135.60",
        "address": "12 Queen St W, Toronto",
        "policies_url": "https://book.example.test/studios/northside/policies"}

    rendered = services.render(template, context, channel=Channel.EMAIL)

    assert rendered.subject and "\n" not in rendered.subject
    assert "SB-TEST01" in rendered.subject or "Saturday 28 November 2026" in rendered.subject
    for body in (rendered.text, rendered.html):
        for name in PRD_VARIABLES:
            assert context[name] in body, (template, name)
    assert "15:00" not in rendered.text  # UTC never shows
    assert "Time: 10:00–14:00 (America/Toronto)" in rendered.text
    assert rendered.html.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("template", [t for t in BOOKING_TEMPLATES
                                      if Channel.SMS in services.CHANNELS[t]])
def test_sms_templates_are_one_short_line_in_the_studio_zone(template):
    booking = unsaved_booking(START, utc(2026, 11, 28, 19, 0))
    sms = services.render(template, context_for(template, booking), channel=Channel.SMS).sms
    assert "SB-TEST01" in sms and "\n" not in sms and len(sms) <= 320
    if template != Template.PAYMENT_FAILED:
        assert "Sat 28 Nov 10:00" in sms
    else:
        assert "https://book.example.test/bookings/SB-TEST01/pay" in sms


def test_the_template_specific_details():
    booking = unsaved_booking(START, utc(2026, 11, 28, 19, 0))
    render = {t: services.render(t, context_for(t, booking), channel=Channel.EMAIL).text
              for t in BOOKING_TEMPLATES}
    assert "Reason: double-booked engineer" in render[Template.REJECTED]
    assert "We are refunding CAD 135.60 to your original payment method" in \
        render[Template.REJECTED]
    assert "Reason: drummer sick" in render[Template.CANCELED]
    assert "A refund of CAD 135.60 is on its way" in render[Template.CANCELED]
    assert "Before: Friday 27 November 2026, 10:00–14:00" in render[Template.RESCHEDULED]
    assert "Now: Saturday 28 November 2026, 10:00–14:00" in render[Template.RESCHEDULED]
    assert "We could not take the payment (CAD 135.60)" in render[Template.PAYMENT_FAILED]
    assert "https://book.example.test/bookings/SB-TEST01/pay" in render[Template.PAYMENT_FAILED]
    assert "approval" in render[Template.SUBMITTED]
    assert "Cancellation and reschedule policy: Full refund until 48 h before." in \
        render[Template.APPROVED]


@pytest.mark.parametrize(("start", "end", "expected"), [
    # 2027-03-14: Toronto moves from EST (UTC-5) to EDT (UTC-4) at 02:00.
    (utc(2027, 3, 13, 15), utc(2027, 3, 13, 19), ("Saturday 13 March 2027", "10:00", "14:00")),
    (utc(2027, 3, 14, 15), utc(2027, 3, 14, 19), ("Sunday 14 March 2027", "11:00", "15:00")),
    # 2026-11-01: back to EST at 02:00; a session across the change.
    (utc(2026, 11, 1, 4), utc(2026, 11, 1, 8), ("Sunday 1 November 2026", "00:00", "03:00")),
    # Ending after midnight shows the day it ends.
    (utc(2026, 11, 29, 2), utc(2026, 11, 29, 6),
     ("Saturday 28 November 2026", "21:00", "01:00 (Sun 29 Nov)")),
])
def test_times_are_wall_clock_times_in_the_studio_zone_across_dst(start, end, expected):
    context = services.booking_context(unsaved_booking(start, end), language="en")
    assert (context["date"], context["start_time"], context["end_time"]) == expected


def test_text_is_not_html_escaped_and_html_is(world):
    booking = unsaved_booking(START, utc(2026, 11, 28, 19, 0), name="Zoë O'Brien & Co")
    rendered = services.render(Template.APPROVED, context_for(Template.APPROVED, booking),
                               channel=Channel.EMAIL)
    assert "Hello Zoë O'Brien & Co," in rendered.text
    assert "Zoë O&#x27;Brien &amp; Co" in rendered.html
    assert "O'Brien & Co" not in rendered.html


def test_the_users_language_names_days_and_months(world, book, committed):
    NotificationPreference.objects.create(user=world["artist"], language="fr")
    booking = book()
    committed(bookings.approve_booking, actor=world["admin"], booking=booking, now=NOW)

    submitted, approved = mail.outbox
    assert "samedi 28 novembre 2026" in approved.subject
    assert "samedi 28 novembre 2026" in approved.body
    assert "10:00" in approved.body
    assert approved.alternatives[0].content.startswith("<!DOCTYPE html>\n<html lang=\"fr\">")
