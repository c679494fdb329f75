"""Sign-up with email verification through the real pages, email and all."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible


def sign_up(page, site, email: str, password: str, shots) -> None:
    """Sign up on the site's form, follow the link in the verification email, confirm."""
    page.goto(site.url + "/accounts/signup/")
    shots(page, "sign-up")
    assert_accessible(page)
    # allauth's own field ids: the labels are the product's to change.
    page.locator("#id_email").fill(email)
    page.locator("#id_password1").fill(password)
    page.locator("#id_password2").fill(password)
    page.get_by_role("button", name=re.compile("^sign up$", re.I)).click()
    shots(page, "verification-sent")
    message = site.inbox.wait_for(lambda m: email in m["To"])
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", body).group(0)
    page.goto(re.sub(r"^https?://[^/]+", site.url, link))
    shots(page, "confirm-email")
    page.get_by_role("button", name="Confirm").click()


def test_guest_signs_up_and_confirms_email(site, page, shots):
    sign_up(page, site, "smoke@example.test", "a-long-secret-9", shots)
    shots(page, "signed-in")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
