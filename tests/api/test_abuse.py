"""Issue 9, section 4 (abuse): rate limits, JSON-only bodies, API sign-up under the web's
email verification and password rules, API token expiry and revocation."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from studiobook.accounts.models import ApiToken
from studiobook.bookings.models import Hold
from tests.support.factories import NOW, utc

User = get_user_model()
PASSWORD = "a-long-studio-passphrase"
TEN_AM = "2026-11-24T15:00:00Z"


@pytest.fixture
def verified(make_user):
    user = make_user(email="ari@example.test", name="Ari")
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def password_checks(monkeypatch):
    """Counts password hashings (User.check_password), the 0.8 s a login costs."""
    calls = []
    original = User.check_password

    def counting(self, raw):
        calls.append(self.email)
        return original(self, raw)

    monkeypatch.setattr(User, "check_password", counting)
    return calls


def login(api, email, password):
    return api.post("/auth/login", {"email": email, "password": password})


# --- content types ---------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_login_with_a_non_json_body_is_415_and_signs_nobody_in(verified, content_type):
    client = Client()
    body = json.dumps({"email": verified.email, "password": PASSWORD})
    response = client.generic("POST", "/api/auth/login", body, content_type=content_type)
    assert response.status_code == 415
    problem = json.loads(response.content)
    assert (problem["code"], problem["errors"]) == ("unsupported_media_type", [
        {"field": "Content-Type", "rule": "media_type", "message": "must be application/json"}])
    assert response["Accept"] == "application/json"
    assert "sessionid" not in response.cookies and "_auth_user_id" not in client.session
    assert ApiToken.objects.count() == 0


def test_json_with_a_charset_is_accepted(verified):
    response = Client().post("/api/auth/login",
                             json.dumps({"email": verified.email, "password": PASSWORD}),
                             content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_every_body_taking_endpoint_refuses_text_plain(api, studio, admin_user, token_for):
    before = (studio.hold_minutes, Hold.objects.count())
    response = api.client.generic("PATCH", "/api/studios/northside/admin/settings",
                                  json.dumps({"hold_minutes": 20}), content_type="text/plain",
                                  **token_for(admin_user))
    assert response.status_code == 415
    response = api.client.generic("POST", "/api/studios/northside/holds", "{}",
                                  content_type="text/plain", **token_for(admin_user))
    assert response.status_code == 415
    studio.refresh_from_db()
    assert (studio.hold_minutes, Hold.objects.count()) == before


# --- login limits ----------------------------------------------------------------------------

def test_wrong_api_passwords_lock_the_account_before_hashing(api, verified, password_checks):
    for _ in range(5):
        assert login(api, verified.email, "wrong-password")[0] == 422
    assert len(password_checks) == 5
    status, body = login(api, verified.email, PASSWORD)  # even the right one, now
    assert status == 429
    assert password_checks == [verified.email] * 5  # refused before authenticate()
    assert (body["code"], body["limit"], body["errors"][0]["rule"]) == (
        "rate_limited", "login", "rate_limit:login")
    assert api.last["Retry-After"] == "300" and body["retry_after"] == 300
    assert ApiToken.objects.count() == 0


def test_api_failures_lock_the_browser_form_too(api, verified):
    for _ in range(5):
        login(api, verified.email, "wrong-password")
    browser = Client()
    response = browser.post("/accounts/login/", {"login": verified.email,
                                                 "password": PASSWORD})
    assert response.status_code == 200  # the form again, with allauth's error
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in browser.session


def test_browser_failures_lock_the_api_too(api, verified):
    browser = Client()
    for _ in range(5):
        browser.post("/accounts/login/", {"login": verified.email, "password": "wrong-pw"})
    assert login(api, verified.email, PASSWORD)[0] == 429


def test_a_varied_host_header_does_not_reset_the_account_budget(verified):
    for host in ("a.example", "b.example", "c.example", "d.example", "e.example"):
        with override_settings(ALLOWED_HOSTS=["*"]):
            Client(HTTP_HOST=host).post("/api/auth/login", {"email": verified.email,
                                                             "password": "wrong"},
                                        content_type="application/json")
    with override_settings(ALLOWED_HOSTS=["*"]):
        response = Client(HTTP_HOST="f.example").post(
            "/api/auth/login", {"email": verified.email, "password": PASSWORD},
            content_type="application/json")
    assert response.status_code == 429


def test_failed_logins_are_limited_per_ip_across_accounts(api, make_user, password_checks):
    for n in range(10):
        assert login(api, f"nobody{n}@example.test", "wrong")[0] == 422
    status, body = login(api, "nobody10@example.test", "wrong")
    assert (status, body["code"]) == (429, "rate_limited")
    assert 1 <= int(api.last["Retry-After"]) <= 60


@override_settings(ACCOUNT_RATE_LIMITS={"login": "3/m/ip"})
def test_every_login_attempt_is_limited_per_ip(api, verified):
    for _ in range(3):
        assert login(api, verified.email, PASSWORD)[0] == 200
    status, _ = login(api, verified.email, PASSWORD)
    assert status == 429 and api.last["Retry-After"] == "60"


# --- registration ----------------------------------------------------------------------------

@override_settings(ACCOUNT_RATE_LIMITS={"signup": "2/h/ip"})
def test_registration_is_limited_per_ip(api, db):
    for n in range(2):
        assert api.post("/auth/register", {"email": f"n{n}@example.test",
                                           "password": PASSWORD, "name": "N"})[0] == 201
    status, body = api.post("/auth/register", {"email": "n2@example.test",
                                               "password": PASSWORD, "name": "N"})
    assert (status, body["limit"], api.last["Retry-After"]) == (429, "register", "3600")
    assert User.objects.count() == 2


@override_settings(ACCOUNT_RATE_LIMITS={"signup": "2/h/ip"})
def test_web_and_api_sign_ups_share_the_budget(api, db):
    Client().post("/accounts/signup/", {"email": "w@example.test", "password1": PASSWORD,
                                        "password2": PASSWORD})
    assert api.post("/auth/register", {"email": "a@example.test", "password": PASSWORD,
                                       "name": "A"})[0] == 201
    assert api.post("/auth/register", {"email": "b@example.test", "password": PASSWORD,
                                       "name": "B"})[0] == 429


def test_an_api_account_gets_no_token_until_its_address_is_confirmed(api, db, mailoutbox):
    status, body = api.post("/auth/register", {"email": "nia@example.test",
                                               "password": PASSWORD, "name": "Nia"})
    assert (status, body["token"], body["email_verification"]) == (201, None, "sent")
    assert "_auth_user_id" not in api.client.session and ApiToken.objects.count() == 0
    status, body = login(api, "nia@example.test", PASSWORD)
    assert (status, body["code"], body["errors"][0]["field"]) == (403, "email_unverified",
                                                                 "email")
    assert ApiToken.objects.count() == 0
    assert api.get("/auth/session")[1] == {"user": None}
    # The web sign-up's link (allauth's HMAC key) confirms it.
    link = re.search(r"http://testserver(/accounts/confirm-email/[^/\s]+/)",
                     mailoutbox[0].body).group(1)
    assert Client().post(link).status_code == 302
    assert EmailAddress.objects.get(email="nia@example.test").verified is True
    assert login(api, "nia@example.test", PASSWORD)[0] == 200


@override_settings(ACCOUNT_EMAIL_VERIFICATION="optional")
def test_without_mandatory_verification_registration_signs_in(api, db):
    status, body = api.post("/auth/register", {"email": "nia@example.test",
                                               "password": PASSWORD, "name": "Nia"})
    assert (status, body["email_verification"]) == (201, "not_required")
    assert body["token"] and ApiToken.objects.count() == 1


@pytest.mark.parametrize("password", ["        ", "nia@example.test", "Nia@Example.test1",
                                      "1234567890123"])
def test_api_registration_runs_the_password_validators(api, db, password):
    status, body = api.post("/auth/register", {"email": "nia@example.test",
                                               "password": password, "name": "Nia"})
    assert status == 422
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("password",
                                                                  "password_strength")]
    assert User.objects.count() == 0


@pytest.mark.parametrize("password", ["        ", "nia@example.test"])
def test_web_sign_up_runs_the_same_validators(client, db, password):
    response = client.post("/accounts/signup/", {"email": "nia@example.test",
                                                 "password1": password, "password2": password})
    assert response.status_code == 200
    assert User.objects.count() == 0
    assert response.context["form"].errors["password1"]


def test_password_change_runs_the_validators(client, verified):
    client.force_login(verified)
    response = client.post("/accounts/password/change/", {
        "oldpassword": PASSWORD, "password1": "        ", "password2": "        "})
    assert response.status_code == 200 and response.context["form"].errors["password1"]
    verified.refresh_from_db()
    assert verified.check_password(PASSWORD)


# --- tokens ----------------------------------------------------------------------------------

def session_user(api, token):
    return api.get("/auth/session", headers={"HTTP_AUTHORIZATION": f"Bearer {token}"})[1]


def test_a_token_expires_after_the_lifetime(api, verified):
    token = login(api, verified.email, PASSWORD)[1]["token"]
    assert ApiToken.objects.get().expires_at == NOW + timedelta(days=30)
    with time_machine.travel(NOW + timedelta(days=30) - timedelta(seconds=1), tick=False):
        assert session_user(api, token)["user"]["email"] == verified.email
    with time_machine.travel(NOW + timedelta(days=30), tick=False):
        assert session_user(api, token) == {"user": None}


@override_settings(API_TOKEN_LIFETIME_DAYS=2)
def test_the_lifetime_is_a_setting(api, verified):
    login(api, verified.email, PASSWORD)
    assert ApiToken.objects.get().expires_at == NOW + timedelta(days=2)


def test_a_password_change_by_any_path_revokes_every_token(api, verified):
    tokens = [login(api, verified.email, PASSWORD)[1]["token"] for _ in range(2)]
    verified.set_password("another-long-passphrase")  # a shell, the Django admin, a reset
    verified.save()
    assert [session_user(api, t) for t in tokens] == [{"user": None}, {"user": None}]
    assert ApiToken.objects.count() == 0


def test_the_password_change_page_revokes_tokens(api, verified):
    token = login(api, verified.email, PASSWORD)[1]["token"]
    browser = Client()
    browser.force_login(verified)
    response = browser.post("/accounts/password/change/", {
        "oldpassword": PASSWORD, "password1": "another-long-passphrase",
        "password2": "another-long-passphrase"})
    assert response.status_code == 302
    assert session_user(api, token) == {"user": None}


def test_logout_all_revokes_every_token(api, verified, make_user, token_for):
    tokens = [login(api, verified.email, PASSWORD)[1]["token"] for _ in range(3)]
    other = token_for(make_user())
    status, body = api.post("/auth/logout", {"all": True},
                            headers={"HTTP_AUTHORIZATION": f"Bearer {tokens[0]}"})
    assert (status, body) == (200, {"detail": "signed out", "revoked_tokens": 3})
    assert [session_user(api, t) for t in tokens] == [{"user": None}] * 3
    assert ApiToken.objects.count() == 1 and api.get("/auth/session",
                                                     headers=other)[1]["user"] is not None


def test_logout_without_all_revokes_only_the_token_used(api, verified):
    first, second = (login(api, verified.email, PASSWORD)[1]["token"] for _ in range(2))
    status, body = api.post("/auth/logout", headers={"HTTP_AUTHORIZATION": f"Bearer {first}"})
    assert body["revoked_tokens"] == 1
    assert session_user(api, second)["user"]["email"] == verified.email


def test_logout_all_is_in_the_openapi_document(api, db):
    document = api.get("/openapi.json")[1]
    body = document["paths"]["/api/auth/logout"]["post"]["requestBody"]
    assert body["required"] is False
    assert body["content"]["application/json"]["schema"]["anyOf"] == [
        {"$ref": "#/components/schemas/LogoutIn"}, {"type": "null"}]
    assert document["components"]["schemas"]["LogoutIn"]["properties"]["all"]["type"] == \
        "boolean"


def test_last_used_at_is_written_at_most_every_five_minutes(api, verified):
    token = login(api, verified.email, PASSWORD)[1]["token"]
    session_user(api, token)
    assert ApiToken.objects.get().last_used_at == NOW
    with time_machine.travel(NOW + timedelta(minutes=4), tick=False):
        session_user(api, token)
    assert ApiToken.objects.get().last_used_at == NOW
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        session_user(api, token)
    assert ApiToken.objects.get().last_used_at == NOW + timedelta(minutes=5)


# --- holds, bookings, payments ---------------------------------------------------------------

@pytest.fixture
def bookable(make_room, make_service):
    make_room(name="Studio A")
    return make_service(name="Rehearsal")


def hold(api, service, user, hours=0):
    start = (utc(2026, 11, 24, 15) + timedelta(hours=hours)).isoformat()
    return api.post("/studios/northside/holds", {"service_id": service.id, "start_at": start,
                                                 "duration_min": 60}, user=user)


@override_settings(STUDIOBOOK_RATE_LIMITS={"holds": {"user": "2/10m", "ip": "100/10m"}})
def test_holds_are_limited_per_user(api, bookable, artist, make_user):
    assert [hold(api, bookable, artist, h)[0] for h in (0, 2)] == [201, 201]
    status, body = hold(api, bookable, artist, 4)
    assert (status, body["code"], body["limit"]) == (429, "rate_limited", "holds")
    assert api.last["Content-Type"] == "application/problem+json"
    assert 1 <= int(api.last["Retry-After"]) <= 600
    assert Hold.objects.filter(user=artist).count() == 2
    assert hold(api, bookable, make_user(), 4)[0] == 201  # another user is not limited


@override_settings(STUDIOBOOK_RATE_LIMITS={"holds": {"user": "100/10m", "ip": "2/10m"}})
def test_holds_are_limited_per_ip(api, bookable, make_user):
    assert [hold(api, bookable, make_user(), h)[0] for h in (0, 2)] == [201, 201]
    assert hold(api, bookable, make_user(), 4)[0] == 429
    assert Hold.objects.count() == 2


@override_settings(STUDIOBOOK_RATE_LIMITS={"bookings": {"user": "1/10m", "ip": "100/10m"},
                                           "payments": {"user": "1/10m", "ip": "100/10m"}})
def test_bookings_and_payments_are_limited_per_user(api, bookable, artist):
    first = api.post("/bookings", {"hold_id": hold(api, bookable, artist)[1]["hold_id"]},
                     user=artist)[1]
    second_hold = hold(api, bookable, artist, 2)[1]
    status, body = api.post("/bookings", {"hold_id": second_hold["hold_id"]}, user=artist)
    assert (status, body["limit"]) == (429, "bookings")
    api.post(f"/bookings/{first['code']}/pay", user=artist)
    status, body = api.post(f"/bookings/{first['code']}/pay", user=artist)
    assert (status, body["limit"]) == (429, "payments")


@override_settings(STUDIOBOOK_RATE_LIMITS={"holds": {"user": "1/10m", "ip": "100/10m"}})
def test_a_limited_page_is_the_429_page(client, bookable, artist):
    client.force_login(artist)
    client.post("/studios/northside/book", {})
    response = client.post("/studios/northside/book", {})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 600
    assert "Too many requests" in response.content.decode()
    assert response.templates[0].name == "429.html"


# --- unpaid bookings per artist --------------------------------------------------------------

def test_the_unpaid_limit_is_a_409_problem_naming_the_rule(api, bookable, studio, artist):
    studio.max_unpaid_bookings = 1
    studio.save()
    first = hold(api, bookable, artist)[1]
    assert api.post("/bookings", {"hold_id": first["hold_id"]}, user=artist)[0] == 201
    status, body = hold(api, bookable, artist, 2)
    assert (status, body["code"], body["rule"], body["limit"]) == (
        409, "unpaid_limit_reached", "max_unpaid_bookings", 1)
    assert body["detail"] == ("you have 1 unpaid upcoming bookings at Northside Sound; pay "
                              "or cancel one first (limit 1)")
    direct = {"studio": "northside", "service_id": bookable.id,
              "start_at": "2026-11-24T19:00:00Z", "duration_min": 60}
    status, body = api.post("/bookings", direct, user=artist)
    assert (status, body["rule"]) == (409, "max_unpaid_bookings")
    assert Hold.objects.filter(user=artist).count() == 1


def test_a_limited_request_is_not_stored_under_its_idempotency_key(api, bookable, artist):
    key = {"HTTP_IDEMPOTENCY_KEY": "hold-2"}
    with override_settings(STUDIOBOOK_RATE_LIMITS={"holds": {"user": "1/10m"}}):
        assert hold(api, bookable, artist)[0] == 201
        start = "2026-11-24T17:00:00Z"
        body = {"service_id": bookable.id, "start_at": start, "duration_min": 60}
        assert api.post("/studios/northside/holds", body, user=artist, headers=key)[0] == 429
    # The window has passed: the same key now does the work, it does not replay the 429.
    status, created = api.post("/studios/northside/holds", body, user=artist, headers=key)
    assert status == 201 and created["start_at"] == start
    assert "Idempotent-Replayed" not in api.last


def test_the_auth_refusals_are_in_the_openapi_document(api, db):
    paths = api.get("/openapi.json")[1]["paths"]
    assert sorted(paths["/api/auth/login"]["post"]["responses"]) == ["200", "403", "415", "429"]
    assert sorted(paths["/api/auth/register"]["post"]["responses"]) == ["201", "415", "429"]


def test_the_django_admin_signs_in_through_the_rate_limited_form(client, db):
    response = client.post("/admin/login/", {"username": "ops@example.test",
                                             "password": "guess"})
    assert (response.status_code, response["Location"]) == (
        302, "/accounts/login/?next=%2Fadmin%2Flogin%2F")


def hold_from(address_meta: dict, service, user, hours: int) -> int:
    client = Client(**address_meta)
    client.force_login(user)
    start = (utc(2026, 11, 24, 15) + timedelta(hours=hours)).isoformat()
    return client.post("/api/studios/northside/holds",
                       json.dumps({"service_id": service.id, "start_at": start,
                                   "duration_min": 60}),
                       content_type="application/json").status_code


@override_settings(STUDIOBOOK_RATE_LIMITS={"holds": {"user": "100/10m", "ip": "2/10m"}})
def test_requests_with_no_or_a_malformed_address_share_one_bucket_and_are_no_500(
        bookable, make_user):
    # A WSGI server on a Unix socket sends no REMOTE_ADDR (django-ratelimit's own key raises).
    metas = [{"REMOTE_ADDR": ""}, {"REMOTE_ADDR": "not-an-address"}, {"REMOTE_ADDR": ""}]
    assert [hold_from(meta, bookable, make_user(), hours)
            for meta, hours in zip(metas, (0, 2, 4), strict=True)] == [201, 201, 429]


@override_settings(STUDIOBOOK_RATE_LIMITS={"holds": {"user": "100/10m", "ip": "2/10m"}},
                   RATELIMIT_IP_META_KEY="HTTP_X_FORWARDED_FOR")
def test_behind_a_proxy_the_address_the_proxy_wrote_counts_not_the_clients_choice(
        bookable, make_user):
    spoofed = [{"HTTP_X_FORWARDED_FOR": f"203.0.113.{n}, 198.51.100.7"} for n in (1, 2, 3)]
    assert [hold_from(meta, bookable, make_user(), hours)
            for meta, hours in zip(spoofed, (0, 2, 4), strict=True)] == [201, 201, 429]
