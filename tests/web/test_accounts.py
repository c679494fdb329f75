"""Accounts in the browser: django-allauth's views with Studiobook's templates.

Sign up, verify the email address, sign in, reset the password, through the real allauth
views and the Django test client (mandatory email verification, email login).
"""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from lxml import html as lxml_html

User = get_user_model()
PASSWORD = "a-long-studio-passphrase"


def parse(response):
    return lxml_html.fromstring(response.content.decode())


def text(element) -> str:
    return " ".join(element.text_content().split())


def link_in(message) -> str:
    """The first link to this site in an email, as a path."""
    url = re.search(r"http://testserver(/\S+)", message.body).group(1)
    return url


def labels(tree) -> list[str]:
    return [" ".join(label.text_content().replace("*", "").split())
            for label in tree.xpath("//main//form//label")]


def buttons(tree) -> list[str]:
    return [text(b) for b in tree.xpath("//main//form//button")]


@pytest.fixture
def verified_user(make_user):
    user = make_user(email="ari@example.test", name="Ari")
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_sign_up_page_looks_like_studiobook(client, db):
    tree = parse(client.get("/accounts/signup/"))
    assert [text(h) for h in tree.xpath("//h1")] == ["Sign up"]
    assert labels(tree) == ["Email", "Password", "Password (again)"]
    assert buttons(tree) == ["Sign up"]
    assert tree.xpath("//main//a[normalize-space()='Sign in']/@href") == ["/accounts/login/"]
    assert tree.xpath("//main/div[@class='card account-card']")
    assert tree.xpath("//link[contains(@href, 'studiobook/me.css')]")


def test_sign_up_verify_and_be_signed_in(client, db):
    response = client.post("/accounts/signup/", {"email": "Nia@Example.test",
                                                 "password1": PASSWORD,
                                                 "password2": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/accounts/confirm-email/")
    user = User.objects.get()
    assert user.email == "nia@example.test"
    assert "_auth_user_id" not in client.session  # not until the address is confirmed
    [message] = mail.outbox
    assert message.to == ["nia@example.test"]
    sent = parse(client.get(response["Location"]))
    assert [text(h) for h in sent.xpath("//h1")] == ["Check your email"]

    confirm_path = link_in(message)
    tree = parse(client.get(confirm_path))
    assert [text(h) for h in tree.xpath("//h1")] == ["Confirm your email address"]
    assert buttons(tree) == ["Confirm"]
    assert EmailAddress.objects.get(user=user).verified is False

    response = client.post(confirm_path)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified is True
    assert client.session["_auth_user_id"] == str(user.pk)


def test_sign_up_errors_are_next_to_the_field_and_nothing_is_created(client, db):
    response = client.post("/accounts/signup/", {"email": "nia@example.test",
                                                 "password1": PASSWORD,
                                                 "password2": PASSWORD + "x"})
    assert response.status_code == 200
    assert User.objects.count() == 0 and mail.outbox == []
    tree = parse(response)
    field = tree.xpath("//input[@name='password2']/..")[0]
    assert [text(e) for e in field.xpath(".//div[@class='error']")] == [
        "You must type the same password each time."]
    assert field.xpath(".//input/@aria-invalid") == ["true"]
    assert tree.xpath("//input[@name='email']/@value") == ["nia@example.test"]


def test_an_expired_confirmation_link_explains_what_to_do(client, db):
    tree = parse(client.get("/accounts/confirm-email/not-a-key/"))
    assert [text(h) for h in tree.xpath("//h1")] == ["Confirm your email address"]
    assert text(tree.xpath("//div[@role='alert']")[0]) == (
        "This confirmation link has expired or is not valid.")
    assert buttons(tree) == []


def test_sign_in_page_links_to_sign_up_and_password_reset(client, db):
    tree = parse(client.get("/accounts/login/?next=/me/bookings"))
    assert [text(h) for h in tree.xpath("//h1")] == ["Sign in"]
    assert labels(tree) == ["Email", "Password", "Remember Me"]
    assert buttons(tree) == ["Sign in"]
    assert tree.xpath("//a[normalize-space()='Forgot your password?']/@href") == [
        "/accounts/password/reset/"]
    assert tree.xpath("//a[normalize-space()='Create an account']/@href") == [
        "/accounts/signup/?next=%2Fme%2Fbookings"]


def test_wrong_password_shows_the_error_and_signs_nobody_in(client, verified_user):
    response = client.post("/accounts/login/", {"login": verified_user.email,
                                                "password": "not-the-password"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    tree = parse(response)
    assert [text(a) for a in tree.xpath("//main//div[@role='alert']")] == [
        "The email address and/or password you specified are not correct."]
    assert tree.xpath("//input[@name='login']/@value") == [verified_user.email]


def test_right_password_signs_in_and_follows_next(client, verified_user):
    response = client.post("/accounts/login/?next=/me/bookings",
                           {"login": verified_user.email, "password": PASSWORD,
                            "next": "/me/bookings"})
    assert (response.status_code, response["Location"]) == (302, "/me/bookings")
    assert client.session["_auth_user_id"] == str(verified_user.pk)


def test_password_reset_sends_a_link_that_sets_a_new_password(client, verified_user):
    tree = parse(client.get("/accounts/password/reset/"))
    assert [text(h) for h in tree.xpath("//h1")] == ["Reset your password"]
    assert buttons(tree) == ["Email me a reset link"]
    response = client.post("/accounts/password/reset/", {"email": verified_user.email})
    assert (response.status_code, response["Location"]) == (302,
                                                            "/accounts/password/reset/done/")
    [message] = mail.outbox
    assert message.to == [verified_user.email]
    done = parse(client.get(response["Location"]))
    assert [text(h) for h in done.xpath("//h1")] == ["Check your email"]

    response = client.get(link_in(message))
    if response.status_code == 302:  # allauth moves the key into the session first
        response = client.get(response["Location"])
    tree = parse(response)
    assert [text(h) for h in tree.xpath("//h1")] == ["Choose a new password"]
    assert buttons(tree) == ["Change password"]
    action = tree.xpath("//main//form/@action")[0]
    response = client.post(action, {"password1": "a-brand-new-passphrase",
                                    "password2": "a-brand-new-passphrase"})
    assert (response.status_code, response["Location"]) == (
        302, "/accounts/password/reset/key/done/")
    verified_user.refresh_from_db()
    assert verified_user.check_password("a-brand-new-passphrase")
    tree = parse(client.get(response["Location"]))
    assert [text(h) for h in tree.xpath("//h1")] == ["Password changed"]


def test_signed_in_account_pages(client, verified_user):
    client.force_login(verified_user)
    tree = parse(client.get("/accounts/logout/"))
    assert [text(h) for h in tree.xpath("//h1")] == ["Sign out"]
    assert buttons(tree) == ["Sign out"]
    tree = parse(client.get("/accounts/email/"))
    assert [text(h) for h in tree.xpath("//h1")] == ["Email addresses"]
    assert buttons(tree) == ["Make primary", "Re-send verification", "Remove", "Add email"]
    assert [" ".join(text(label).split()) for label in
            tree.xpath("//fieldset//label")] == ["ari@example.test Verified Primary"]
    tree = parse(client.get("/accounts/password/change/"))
    assert [text(h) for h in tree.xpath("//h1")] == ["Change password"]
    assert labels(tree) == ["Current Password", "New Password", "New Password (again)"]
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and "_auth_user_id" not in client.session


GOOGLE_CHECK = """
import json
from urllib.parse import parse_qs, urlsplit
from django.test import Client

client = Client(HTTP_HOST="localhost")  # a host in ALLOWED_HOSTS (not the test runner's)
page = client.get("/accounts/login/").content.decode()
redirect = client.post("/accounts/google/login/?process=login")
target = urlsplit(redirect.headers.get("Location", ""))
print(json.dumps({"button": "/accounts/google/login/" in page,
                  "status": redirect.status_code, "host": target.netloc,
                  "client_id": parse_qs(target.query).get("client_id")}))
"""


def test_google_sign_in_appears_and_goes_to_google_when_configured(tmp_path):
    """With GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET set (read at start-up, so in a fresh
    process), the sign-in page offers Google and its button sends the browser to Google's
    consent screen with our client id. Google itself is not contacted."""
    from tests.support.live import fresh_database_url, migrate, seed

    env = {"GOOGLE_CLIENT_ID": "1234-test.apps.googleusercontent.com",
           "GOOGLE_CLIENT_SECRET": "not-a-real-secret"}
    with fresh_database_url(tmp_path) as url:
        migrate(url)
        configured = seed(url, GOOGLE_CHECK, env=env)
        plain = seed(url, GOOGLE_CHECK)

    assert configured == {"button": True, "status": 302, "host": "accounts.google.com",
                          "client_id": ["1234-test.apps.googleusercontent.com"]}
    assert plain["button"] is False and plain["status"] == 404
