"""The artist's booking flow and the studio's approval, end to end in Chromium (issue 5):

a guest signs up and books a 2-hour session with an engineer and sees the awaiting-approval
screen; the admin approves it from the queue and records the artist's payment; the artist
sees Confirmed, downloads the .ics, reschedules, then cancels with the refund shown; and a
second browser watching the same day sees a slot disappear when someone else holds it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.test_smoke_accounts import sign_up

TORONTO = ZoneInfo("America/Toronto")
DESKTOP = {"width": 1280, "height": 900}
ADMIN = ("admin@studiobook.test", "studiobook-admin")
SERVICE = "Recording session"  # Studio A with a recording engineer; 2 h to 10 h


def weekdays_from(days_ahead: int):
    """Toronto weekdays from ``days_ahead`` days on (the recording engineer works Mon-Fri)."""
    day = datetime.now(TORONTO).date() + timedelta(days=days_ahead)
    while True:
        if day.isoweekday() <= 5:
            yield day
        day += timedelta(days=1)


def show_free_time(page, site, day: date, minutes: int = 120) -> None:
    """Open the availability page for ``SERVICE`` on ``day`` (the form, as an artist would)."""
    page.goto(f"{site.url}/studios/{site.slug}/availability")
    page.locator("#id_service").select_option(label=SERVICE)
    page.locator("#id_duration").fill(str(minutes))
    page.locator("#id_date").fill(day.isoformat())
    page.get_by_role("button", name="Show free times").click()
    # The form re-fetches the strip on every change; wait for the one this search asked for.
    expect(page.locator(f"#tape-strip .strip[data-day='{day.isoformat()}']")).to_have_count(1)
    expect(page.locator("#tape-strip .strip-summary")).to_contain_text(
        f"{SERVICE}, {minutes} minutes")


def first_free_block(page, site, days_ahead: int):
    """Show ``SERVICE`` for 2 h on weekdays from ``days_ahead`` on until one has a free
    block; return (day, the block's locator, its data-start)."""
    for _, day in zip(range(6), weekdays_from(days_ahead), strict=False):
        show_free_time(page, site, day)
        blocks = page.locator("#tape-strip [data-start]")
        if blocks.count():
            block = blocks.first
            return day, block, block.get_attribute("data-start")
    raise AssertionError("no free 2-hour recording slot on six weekdays")


def sign_in(page, site, email: str, password: str) -> None:
    page.goto(site.url + "/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_book_approve_confirm_reschedule_and_cancel(site, browser, shots):
    artist = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-CA",
                                 timezone_id="America/Vancouver")
    page = artist.new_page()

    # A guest signs up (the verification email arrives over SMTP) ...
    sign_up(page, site, "nova@example.test", "tape-and-reels-42", shots)

    # ... finds the studio and its free time ...
    page.goto(f"{site.url}/studios/{site.slug}/")
    shots(page, "studio-home")
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("Check availability")).first.click()
    expect(page).to_have_url(re.compile(r"/availability"))
    day, block, start = first_free_block(page, site, days_ahead=4)
    shots(page, "availability")
    assert_accessible(page)

    # ... opens the drawer on a free block: the quote and the policy ...
    block.click()
    drawer = page.get_by_role("dialog")
    expect(drawer).to_be_visible()
    expect(drawer).to_contain_text(re.compile(r"Total\s*CAD \d"))
    shots(page, "booking-drawer")
    assert_accessible(page)
    drawer.get_by_label(re.compile("I agree")).check()
    drawer.get_by_role("button", name="Hold this slot").click()

    # ... holds it (a countdown runs) and books it.
    expect(page.get_by_role("timer")).to_be_visible()
    shots(page, "hold")
    assert_accessible(page)
    page.get_by_role("button", name="Confirm booking").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Awaiting approval")
    shots(page, "awaiting-approval")
    assert_accessible(page)
    code = re.search(r"/me/bookings/([^/?#]+)$", page.url).group(1)

    # The admin approves it from the queue and records the artist's payment at the desk.
    admin = browser.new_context(viewport=DESKTOP, locale="en-CA", timezone_id="America/Toronto")
    desk = admin.new_page()
    sign_in(desk, site, *ADMIN)
    desk.goto(f"{site.url}/dashboard/{site.slug}/approvals")
    shots(desk, "approval-queue")
    assert_accessible(desk)
    desk.get_by_label(f"Select booking {code}").check()
    desk.get_by_label("Internal note").fill("Regular client; drums load in at 9:30.")
    desk.get_by_role("button", name="Approve selected").click()
    expect(desk.locator(".messages")).to_contain_text(code)
    expect(desk.locator(f"tr[data-booking-code='{code}']")).to_have_count(0)
    desk.goto(f"{site.url}/dashboard/{site.slug}/bookings/{code}")
    desk.get_by_label("Amount (CAD)").fill("100.00")
    desk.get_by_role("button", name="Record payment").click()
    expect(desk.locator(".messages")).to_contain_text("100.00")
    shots(desk, "dashboard-booking")
    desk.goto(f"{site.url}/dashboard/{site.slug}/?date={day.isoformat()}")
    expect(desk.locator(f"li[data-booking-code='{code}']")).to_have_count(1)
    shots(desk, "calendar-board")
    assert_accessible(desk)

    # The artist sees Confirmed and downloads the invite.
    page.goto(site.url + "/me/bookings")
    card = page.locator(f"article[data-booking='{code}']")
    expect(card.locator(".chip")).to_have_text("Confirmed")
    shots(page, "my-bookings")
    assert_accessible(page)
    card.get_by_role("link", name=f"View booking {code}").click()
    expect(heading).to_contain_text("Confirmed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .ics").click()
    invite = icalendar.Calendar.from_ical(Path(download.value.path()).read_bytes())
    event = next(iter(invite.walk("VEVENT")))
    starts = event.decoded("DTSTART")
    assert starts == datetime.fromisoformat(start.replace("Z", "+00:00")), (starts, start)
    shots(page, "confirmed")

    # It moves to another weekday: the fee (or "Free") is shown before confirming.
    page.get_by_role("link", name="Reschedule").first.click()
    moved_day = next(d for d in weekdays_from((day - datetime.now(TORONTO).date()).days + 1))
    page.locator("#id_date").fill(moved_day.isoformat())
    page.get_by_role("button", name="Show free times").click()
    page.locator("form button").filter(has_text=re.compile(r"^\d\d:\d\d$")).first.click()
    expect(page.locator("#reschedule-fee")).to_be_visible()
    shots(page, "reschedule-preview")
    assert_accessible(page)
    page.get_by_role("button", name="Confirm reschedule").click()
    expect(page.locator(".messages")).to_contain_text("Booking moved to")

    # And cancels: well before the session, the whole CAD 100.00 comes back.
    page.get_by_role("link", name="Cancel booking").first.click()
    expect(page.locator("#refund-text")).to_contain_text("CAD 100.00")
    shots(page, "cancel-preview")
    assert_accessible(page)
    page.get_by_role("button", name="Cancel booking").click()
    expect(page.locator(".messages")).to_contain_text("refund CAD 100.00")
    expect(heading).to_contain_text("Canceled")
    shots(page, "canceled")
    artist.close()
    admin.close()


def test_a_slot_held_in_one_browser_disappears_from_another(site, browser, shots):
    watcher_context = browser.new_context(viewport={"width": 390, "height": 844})
    holder_context = browser.new_context(viewport={"width": 390, "height": 844})
    watcher, holder = watcher_context.new_page(), holder_context.new_page()
    sign_up(holder, site, "holder@example.test", "tape-and-reels-43", shots)

    day, block, start = first_free_block(holder, site, days_ahead=12)
    show_free_time(watcher, site, day)
    watched = watcher.locator(f"#tape-strip [data-start='{start}']")
    expect(watched.first).to_be_visible()
    shots(watcher, "watcher-before")
    # The studio's calendar board for that day is open too.
    desk_context = browser.new_context(viewport=DESKTOP)
    desk = desk_context.new_page()
    sign_in(desk, site, *ADMIN)
    desk.goto(f"{site.url}/dashboard/{site.slug}/?date={day.isoformat()}")
    holds_on_board = desk.locator("#board [data-kind='hold']")
    expect(holds_on_board).to_have_count(0)

    block.click()
    holder.get_by_role("dialog").get_by_label(re.compile("I agree")).check()
    holder.get_by_role("dialog").get_by_role("button", name="Hold this slot").click()
    expect(holder.get_by_role("timer")).to_be_visible()

    # No reload: the availability stream tells the watcher's page to fetch its strip again.
    expect(watched).to_have_count(0, timeout=15_000)
    shots(watcher, "watcher-after")
    expect(holds_on_board).to_have_count(1, timeout=15_000)
    shots(desk, "board-after")
    for context in (watcher_context, holder_context, desk_context):
        context.close()


ARTIST = ("artist@studiobook.test", "studiobook-artist")
PUBLIC_PAGES = ["/", "/studios/{slug}/", "/studios/{slug}/policies",
                "/studios/{slug}/availability", "/accounts/login/",
                "/accounts/password/reset/"]
ARTIST_PAGES = ["/me/bookings", "/me/bookings?tab=past", "/me/settings"]
DASHBOARD_PAGES = ["", "?view=week", "?by=staff", "approvals", "bookings",
                   *(f"manage/{kind}" for kind in ("rooms", "services", "staff", "hours",
                                                   "blackouts", "buffers", "taxes", "fees")),
                   "manage/rooms/new", "settings", "integrations", "reports"]


def test_the_main_pages_have_no_serious_accessibility_violations(site, browser, shots):
    """axe-core (vendored) on every main page, as a guest, an artist and an admin: no
    violation of impact "serious" or "critical". Each page is also saved as a screenshot."""
    guest = browser.new_context(viewport={"width": 390, "height": 844})
    page = guest.new_page()
    for path in PUBLIC_PAGES:
        response = page.goto(site.url + path.format(slug=site.slug))
        assert response.status == 200, path
        shots(page, "guest" + re.sub(r"[^a-z]+", "-", path.format(slug="")))
        assert_accessible(page)

    artist = browser.new_context(viewport={"width": 390, "height": 844})
    page = artist.new_page()
    sign_in(page, site, *ARTIST)
    for path in ARTIST_PAGES:
        assert page.goto(site.url + path).status == 200, path
        shots(page, "artist" + re.sub(r"[^a-z]+", "-", path))
        assert_accessible(page)

    admin = browser.new_context(viewport=DESKTOP)
    page = admin.new_page()
    sign_in(page, site, *ADMIN)
    for path in DASHBOARD_PAGES:
        response = page.goto(f"{site.url}/dashboard/{site.slug}/{path}")
        assert response.status == 200, path
        shots(page, "dashboard-" + (re.sub(r"[^a-z]+", "-", path).strip("-") or "board"))
        assert_accessible(page)
    for context in (guest, artist, admin):
        context.close()
