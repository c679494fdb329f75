"""The reports page and its CSV export (/dashboard/<slug>/reports[.csv]), for studio admins."""

from __future__ import annotations

import csv
import io

import lxml.html
import pytest
import time_machine

from studiobook.bookings import services as bookings
from studiobook.payments import services as payments
from studiobook.studios.models import Membership, TaxRate
from tests.support.factories import NOW, utc

T1 = utc(2026, 11, 24, 14)  # Tue 24 Nov 09:00 in Toronto: two payments
T2 = utc(2026, 11, 24, 15)  # 28 h before b3: canceled with a 50 % refund
URL = "/dashboard/northside/reports"
RANGE = "?from=2026-11-24&to=2026-11-26"
FORM = "//form[contains(@class,'report-range')]"  # the range form (not the header's sign-out)


@pytest.fixture
def world(studio, make_room, make_service, make_staff, artist, admin_user):
    """Toronto, open 09:00-21:00, HST 13 %, a 10 % platform fee; Room A, engineer Eve.
    b1 Tracking 3 h on the 24th (paid), b2 Mixing with Eve on the 25th (unpaid), b3 Tracking
    1 h on the 25th (paid, then canceled 28 h before: half refunded)."""
    TaxRate.objects.create(studio=studio, name="HST", rate_ppm=130000)
    studio.platform_fee_basis_points = 1000
    studio.save()
    room = make_room(name="Room A")
    eve = make_staff(display_name="Eve Engineer")
    tracking = make_service(name="Tracking", price_unit="hour", base_price_minor=6000)
    mixing = make_service(name="Mixing", price_unit="session", base_price_minor=40000,
                          requires_room=False, room_tags=[], requires_engineer=True,
                          staff_skill_required="recording")
    b1 = bookings.create_booking(actor=artist, studio=studio, service=tracking,
                                 start_at=utc(2026, 11, 24, 15), duration_minutes=180,
                                 room_id=room.id, now=NOW)
    b2 = bookings.create_booking(actor=artist, studio=studio, service=mixing,
                                 start_at=utc(2026, 11, 25, 15), duration_minutes=120,
                                 staff_ids=[eve.id], now=NOW)
    b3 = bookings.create_booking(actor=artist, studio=studio, service=tracking,
                                 start_at=utc(2026, 11, 25, 19), duration_minutes=60,
                                 room_id=room.id, now=NOW)
    with time_machine.travel(T1, tick=False):
        for booking in (b1, b3):
            payments.record_offline_payment(actor=admin_user, booking=booking,
                                            amount_minor=booking.total_minor)
    with time_machine.travel(T2, tick=False):
        bookings.cancel_booking(actor=artist, booking=b3, now=T2)
    return {"studio": studio, "admin": admin_user, "bookings": (b1, b2, b3)}


def parse(response):
    return lxml.html.fromstring(response.content.decode())


def texts(page, xpath: str) -> list[str]:
    return [" ".join(node.text_content().split()) for node in page.xpath(xpath)]


def table(page, caption: str) -> list[list[str]]:
    rows = page.xpath(f"//table[caption[normalize-space()='{caption}']]//tr")
    return [[" ".join(cell.text_content().split()) for cell in row.xpath("th|td")]
            for row in rows]


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_page_shows_totals_charts_and_tables(world, client):
    client.force_login(world["admin"])
    response = client.get(URL + RANGE)
    assert response.status_code == 200
    page = parse(response)
    assert texts(page, "//h1") == ["Reports"]
    assert texts(page, "//*[@id='report-showing']") == [
        "Showing Tue 24 Nov 2026 to Wed 25 Nov 2026 (2 days, America/Toronto)."]
    cards = {card.get("data-metric"): " ".join(card.xpath("string(dd)").split())
             for card in page.xpath("//div[contains(@class,'report-card')]")}
    assert cards == {
        "gross-booked": "CAD 655.40", "collected": "CAD 237.30", "refunds": "CAD 33.90",
        "taxes": "CAD 27.30", "platform-fees": "CAD 21.00", "net": "CAD 189.00",
        "bookings": "3", "cancellation-rate": "33.3 %"}

    charts = page.xpath("//svg[@role='img']")
    names = []
    for chart in charts:
        title_id, desc_id = chart.get("aria-labelledby").split()
        names.append((texts(page, f"//*[@id='{title_id}']")[0],
                      texts(page, f"//*[@id='{desc_id}']")[0]))
    assert names == [
        ("Booked revenue per day, 24 Nov to 25 Nov 2026",
         "Bars show the total of sold bookings per day by session date, 24 Nov to 25 Nov "
         "2026, in CAD. Total CAD 655.40; highest CAD 452.00 on 25 Nov."),
        ("Utilization per room, 24 Nov to 25 Nov 2026",
         "Booked time as a share of open time per room: Room A 12.5 %."),
        ("Utilization per engineer, 24 Nov to 25 Nov 2026",
         "Booked time as a share of open time per engineer: Eve Engineer 8.3 %."),
        ("Top services by revenue, 24 Nov to 25 Nov 2026",
         "Revenue of sold bookings per service, highest first: Mixing CAD 452.00 from 1 "
         "booking; Tracking CAD 203.40 from 1 booking."),
    ]
    # Bars carry their values as text, not colour alone; and a bar per day with revenue.
    assert texts(page, "//svg[@id='chart-rooms']//*[@class='chart-value']") == ["12.5 %"]
    assert len(page.xpath("//svg[@id='chart-revenue']//rect[@class='chart-bar']")) == 2

    assert table(page, "Revenue per day (CAD)") == [
        ["Day", "Booked", "Collected", "Refunded"],
        ["Tue 24 Nov", "CAD 203.40", "CAD 237.30", "CAD 33.90"],
        ["Wed 25 Nov", "CAD 452.00", "CAD 0.00", "CAD 0.00"],
        ["Total", "CAD 655.40", "CAD 237.30", "CAD 33.90"],
    ]
    assert table(page, "Utilization per room") == [
        ["Room", "Booked", "Open", "Utilization"], ["Room A", "3 h", "24 h", "12.5 %"]]
    assert table(page, "Utilization per engineer") == [
        ["Engineer", "Booked", "Open", "Utilization"],
        ["Eve Engineer", "2 h", "24 h", "8.3 %"]]
    assert table(page, "Top services by revenue") == [
        ["Service", "Bookings", "Time", "Revenue"],
        ["Mixing", "1", "2 h", "CAD 452.00"], ["Tracking", "1", "3 h", "CAD 203.40"]]
    assert table(page, "Bookings that did not go ahead") == [
        ["Outcome", "Bookings", "Share of all bookings"], ["Canceled", "1", "33.3 %"],
        ["Rejected", "0", "0.0 %"], ["No-show", "0", "0.0 %"], ["All bookings", "3", ""]]
    assert table(page, "Cancellations by notice given") == [
        ["Canceled", "Bookings"], ["48 h or more before", "0"], ["24 to 48 h before", "1"],
        ["Less than 24 h before", "0"]]
    assert texts(page, "//*[@data-metric='cancellation-refunds']") == [
        "Refunded on canceled and rejected bookings: CAD 33.90"]
    links = {a.text_content(): a.get("href")
             for a in page.xpath("//ul[@class='report-exports']//a")}
    assert links == {
        "Download revenue CSV":
            "/dashboard/northside/reports.csv?section=revenue&from=2026-11-24&to=2026-11-26",
        "Download utilization CSV":
            "/dashboard/northside/reports.csv?section=utilization&from=2026-11-24&to=2026-11-26",
        "Download top services CSV":
            "/dashboard/northside/reports.csv?section=services&from=2026-11-24&to=2026-11-26",
        "Download cancellations CSV":
            "/dashboard/northside/reports.csv?section=cancellations&from=2026-11-24"
            "&to=2026-11-26",
        "Download payouts CSV": "/api/studios/northside/admin/payouts.csv"
            "?start=2026-11-24T05%3A00%3A00Z&end=2026-11-26T05%3A00%3A00Z",
    }
    assert not page.xpath("//*[contains(@class,'empty')]")


def test_the_form_keeps_labels_and_the_range(world, client):
    client.force_login(world["admin"])
    page = parse(client.get(URL + RANGE))
    labels = {label.get("for"): " ".join(label.text_content().split())
              for label in page.xpath(FORM + "//label")}
    assert labels == {"id_from": "From *", "id_to": "To *"}
    assert [(i.get("type"), i.get("value")) for i in page.xpath(FORM + "//input")] == [
        ("date", "2026-11-24"), ("date", "2026-11-26")]
    assert texts(page, FORM + "//button") == ["Show report"]


def test_without_a_range_the_page_shows_this_month(world, client):
    client.force_login(world["admin"])
    page = parse(client.get(URL))
    assert [i.get("value") for i in page.xpath(FORM + "//input")] == ["2026-11-01",
                                                                     "2026-12-01"]
    presets = {a.text_content(): (a.get("href"), a.get("aria-current"))
               for a in page.xpath("//nav[@aria-label='Quick ranges']//a")}
    assert presets == {
        "This month": ("/dashboard/northside/reports?from=2026-11-01&to=2026-12-01", "true"),
        "Last month": ("/dashboard/northside/reports?from=2026-10-01&to=2026-11-01", None),
        "Last 30 days": ("/dashboard/northside/reports?from=2026-10-25&to=2026-11-24", None),
    }
    cards = {c.get("data-metric"): " ".join(c.xpath("string(dd)").split())
             for c in page.xpath("//div[contains(@class,'report-card')]")}
    assert (cards["gross-booked"], cards["bookings"]) == ("CAD 655.40", "3")


def test_a_range_without_bookings_shows_the_empty_state(world, client):
    client.force_login(world["admin"])
    response = client.get(URL + "?from=2026-10-01&to=2026-11-01")
    assert response.status_code == 200
    page = parse(response)
    assert texts(page, "//div[@class='empty']/p[@class='empty-title']") == [
        "No bookings in this range"]
    assert page.xpath("//div[@class='empty']//a/@href") == ["/dashboard/northside/"]
    assert page.xpath("//svg") == []
    assert texts(page, "//h2") == ["Range", "Totals", "Export"]


@pytest.mark.parametrize(("query", "field", "message"), [
    ("?from=2026-11-26&to=2026-11-24", "to", "“To” must be after “From”."),
    ("?from=2026-11-24&to=2026-11-24", "to", "“To” must be after “From”."),
    ("?from=2025-11-01&to=2026-11-03", "to",
     "A report covers at most 366 days; choose a shorter range."),
    ("?from=someday&to=2026-11-24", "from", "Enter a valid date."),
])
def test_a_bad_range_is_422_with_the_error_beside_the_field(world, client, query, field,
                                                            message):
    client.force_login(world["admin"])
    response = client.get(URL + query)
    assert response.status_code == 422
    page = parse(response)
    beside = page.xpath(f"//div[contains(@class,'field')][.//input[@id='id_{field}']]"
                        "//p[@class='error']")
    assert [" ".join(p.text_content().split()) for p in beside] == [message]
    assert page.xpath(f"//input[@id='id_{field}']/@aria-invalid") == ["true"]
    typed = dict(part.split("=") for part in query[1:].split("&"))
    assert [i.get("value") for i in page.xpath(FORM + "//input")] == [typed["from"],
                                                                     typed["to"]]
    assert texts(page, "//*[@id='report-unavailable']") == [
        "The report could not be shown: correct the range above and choose “Show report”."]
    assert page.xpath("//svg") == [] and not page.xpath("//*[@id='totals-heading']")


def test_htmx_gets_the_body_partial(world, client):
    client.force_login(world["admin"])
    response = client.get(URL + RANGE, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and 'id="reports-body"' not in body
    page = lxml.html.fromstring(f"<div>{body}</div>")
    assert page.xpath(FORM + "/@hx-target") == ["#reports-body"]
    assert len(page.xpath("//svg[@role='img']")) == 4
    bad = client.get(URL + "?from=2026-11-26&to=2026-11-24", headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "<html" not in bad.content.decode()


EXPECTED_CSV = {
    "revenue": [
        ["period", "first_day", "last_day", "currency", "booked", "booked_minor", "captured",
         "captured_minor", "refunded", "refunded_minor", "collected", "collected_minor",
         "taxes", "taxes_minor", "platform_fee", "platform_fee_minor", "studio_net",
         "studio_net_minor"],
        ["day", "2026-11-24", "2026-11-24", "CAD", "203.40", "20340", "271.20", "27120",
         "33.90", "3390", "237.30", "23730", "27.30", "2730", "21.00", "2100", "189.00",
         "18900"],
        ["day", "2026-11-25", "2026-11-25", "CAD", "452.00", "45200", "0.00", "0", "0.00",
         "0", "0.00", "0", "0.00", "0", "0.00", "0", "0.00", "0"],
        ["total", "2026-11-24", "2026-11-25", "CAD", "655.40", "65540", "271.20", "27120",
         "33.90", "3390", "237.30", "23730", "27.30", "2730", "21.00", "2100", "189.00",
         "18900"],
    ],
    "utilization": [
        ["kind", "name", "booked_minutes", "open_minutes", "utilization_percent"],
        ["room", "Room A", "180", "1440", "12.5"],
        ["engineer", "Eve Engineer", "120", "1440", "8.3"],
    ],
    "services": [
        ["service", "bookings", "minutes", "currency", "revenue", "revenue_minor"],
        ["Mixing", "1", "120", "CAD", "452.00", "45200"],
        ["Tracking", "1", "180", "CAD", "203.40", "20340"],
        ["TOTAL", "2", "300", "CAD", "655.40", "65540"],
    ],
    "cancellations": [
        ["measure", "count", "percent_of_bookings", "currency", "amount", "amount_minor"],
        ["bookings", "3", "", "", "", ""],
        ["canceled", "1", "33.3", "", "", ""],
        ["rejected", "0", "0.0", "", "", ""],
        ["no_show", "0", "0.0", "", "", ""],
        ["canceled_48h_or_more", "0", "", "", "", ""],
        ["canceled_24h_to_48h", "1", "", "", "", ""],
        ["canceled_under_24h", "0", "", "", "", ""],
        ["refunds", "", "", "CAD", "33.90", "3390"],
    ],
}


@pytest.mark.parametrize("section", list(EXPECTED_CSV))
def test_csv_sections(world, client, section):
    client.force_login(world["admin"])
    response = client.get(f"{URL}.csv?section={section}&from=2026-11-24&to=2026-11-26")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="studiobook-northside-{section}-2026-11-24-2026-11-26.csv"')
    assert csv_rows(response) == EXPECTED_CSV[section]


@pytest.mark.parametrize(("query", "message"), [
    ("section=everything&from=2026-11-24&to=2026-11-26",
     "section: choose one of revenue, utilization, services, cancellations"),
    ("section=revenue&from=2026-11-26&to=2026-11-24", "to: “To” must be after “From”."),
    ("section=revenue&to=2026-11-24", "from: This field is required."),
])
def test_csv_bad_input_is_422(world, client, query, message):
    client.force_login(world["admin"])
    response = client.get(f"{URL}.csv?{query}")
    assert response.status_code == 422
    assert response.content.decode().strip() == message


def test_staff_who_are_not_admins_get_404(world, client, make_staff):
    staff = make_staff(display_name="Sam Staff")
    client.force_login(staff.user)
    assert client.get(URL + RANGE).status_code == 404
    assert client.get(f"{URL}.csv?section=revenue&from=2026-11-24&to=2026-11-26"
                      ).status_code == 404


def test_another_studios_admin_gets_404(world, client, make_studio, make_user):
    other = make_studio(slug="elsewhere", name="Elsewhere")
    stranger = make_user(email="other-admin@example.test")
    Membership.objects.create(studio=other, user=stranger, role="admin")
    client.force_login(stranger)
    assert client.get(URL + RANGE).status_code == 404
    assert client.get(f"{URL}.csv?section=revenue&from=2026-11-24&to=2026-11-26"
                      ).status_code == 404
    # ...and their own studio's report has none of Northside's numbers.
    page = parse(client.get("/dashboard/elsewhere/reports" + RANGE))
    assert texts(page, "//div[@data-metric='gross-booked']/dd") == ["CAD 0.00"]
    assert client.get("/dashboard/nowhere/reports").status_code == 404


def test_anonymous_users_are_sent_to_sign_in(world, client):
    response = client.get(URL + RANGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/dashboard/northside/reports")


def test_weekly_series_for_a_long_range(world, client):
    client.force_login(world["admin"])
    page = parse(client.get(URL + "?from=2026-09-01&to=2026-12-01"))
    rows = table(page, "Revenue per week (CAD)")
    assert rows[1] == ["1 Sep – 6 Sep", "CAD 0.00", "CAD 0.00", "CAD 0.00"]
    assert ["23 Nov – 29 Nov", "CAD 655.40", "CAD 237.30", "CAD 33.90"] in rows
    assert rows[-1] == ["Total", "CAD 655.40", "CAD 237.30", "CAD 33.90"]
    assert texts(page, "//*[@id='chart-revenue-title']") == [
        "Booked revenue per week, 1 Sep to 30 Nov 2026"]
