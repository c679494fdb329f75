"""Secrets and hosts: settings refuse to start without SECRET_KEY, the field-encryption keys
and ALLOWED_HOSTS outside the demo and DEBUG, never fall back to a published key or a
wildcard host, and a password reset asked for with a forged Host header sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import override_settings

from studiobook.conf.local_secrets import LOOPBACK_HOSTS

REQUIRED = ("SECRET_KEY", "STUDIOBOOK_FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS")
PRINT_SETTINGS = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'SECRET_KEY': settings.SECRET_KEY, 'ALLOWED_HOSTS': "
    "settings.ALLOWED_HOSTS, 'KEYS': settings.STUDIOBOOK_FIELD_ENCRYPTION_KEYS}))")


def load_settings(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter whose environment has none of the required
    secrets (nor DEBUG), plus ``env``."""
    clean = {k: v for k, v in os.environ.items()
             if k not in (*REQUIRED, "DEBUG", "STUDIOBOOK_DEMO") and not k.startswith("PYTEST")}
    clean.update(DJANGO_SETTINGS_MODULE="studiobook.conf.settings",
                 STUDIOBOOK_DATA_DIR=str(tmp_path / "data"), PYTHONWARNINGS="ignore", **env)
    return subprocess.run([sys.executable, "-c", PRINT_SETTINGS], env=clean,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("missing", REQUIRED)
def test_settings_refuse_to_load_without_each_secret(tmp_path, missing):
    given = {"SECRET_KEY": "x" * 50,
             "STUDIOBOOK_FIELD_ENCRYPTION_KEYS": "ILvAf2S-h8R73pWrESBrb4Qi_wR3AZVnvPlvBbYyimA=",
             "ALLOWED_HOSTS": "bookings.example.com"}
    given.pop(missing)

    result = load_settings(tmp_path, **given)

    assert result.returncode == 1
    assert (f"django.core.exceptions.ImproperlyConfigured: {missing} is not set: "
            in result.stderr)
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()  # nothing made, not even the data folder


def test_a_malformed_encryption_key_is_refused_without_echoing_it(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY="x" * 50, ALLOWED_HOSTS="a.example",
                           STUDIOBOOK_FIELD_ENCRYPTION_KEYS=(
                               "ILvAf2S-h8R73pWrESBrb4Qi_wR3AZVnvPlvBbYyimA=,not-a-key"))

    assert result.returncode == 1
    assert ("STUDIOBOOK_FIELD_ENCRYPTION_KEYS: key 2 is not a Fernet key (url-safe base64 of "
            "32 bytes)") in result.stderr
    assert "not-a-key" not in result.stderr


@pytest.mark.parametrize("mode", [{"STUDIOBOOK_DEMO": "1"}, {"DEBUG": "1"}])
def test_the_demo_and_debug_make_their_own_secrets_once(tmp_path, mode):
    first = load_settings(tmp_path, **mode)
    assert first.returncode == 0, first.stderr
    values = json.loads(first.stdout)

    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert len(values["SECRET_KEY"]) >= 50
    assert values["SECRET_KEY"] == (tmp_path / "data" / "secret_key").read_text().strip()
    assert values["KEYS"] == [(tmp_path / "data" / "field_encryption_key").read_text().strip()]
    # The next start reuses them; another data folder gets others (none is published).
    assert json.loads(load_settings(tmp_path, **mode).stdout) == values
    other = json.loads(load_settings(tmp_path / "other", **mode).stdout)
    assert (other["SECRET_KEY"], other["KEYS"]) != (values["SECRET_KEY"], values["KEYS"])


def test_a_wildcard_is_never_the_default(tmp_path):
    demo = json.loads(load_settings(tmp_path, STUDIOBOOK_DEMO="1").stdout)
    production = load_settings(tmp_path, SECRET_KEY="x" * 50,
                               STUDIOBOOK_FIELD_ENCRYPTION_KEYS=(
                                   "ILvAf2S-h8R73pWrESBrb4Qi_wR3AZVnvPlvBbYyimA="))

    assert "*" not in demo["ALLOWED_HOSTS"]
    assert production.returncode == 1
    assert "ALLOWED_HOSTS is not set" in production.stderr


# --- the password-reset host-header attack ---------------------------------------------------

@pytest.fixture
def account(make_user):
    user = make_user(email="ari@example.test")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.mark.parametrize("allowed", [["bookings.example.com"], list(LOOPBACK_HOSTS)])
def test_a_reset_asked_with_a_forged_host_sends_nothing(client, account, allowed):
    with override_settings(ALLOWED_HOSTS=allowed):
        response = client.post("/accounts/password/reset/", {"email": account.email},
                               HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert mail.outbox == []


def test_a_reset_asked_on_the_real_host_links_to_the_real_host(client, account):
    with override_settings(ALLOWED_HOSTS=["bookings.example.com"]):
        response = client.post("/accounts/password/reset/", {"email": account.email},
                               HTTP_HOST="bookings.example.com")

    assert (response.status_code, response["Location"]) == (302,
                                                            "/accounts/password/reset/done/")
    [message] = mail.outbox
    assert message.to == [account.email]
    hosts = {link.split("/")[2] for link in message.body.split() if link.startswith("http")}
    assert hosts == {"bookings.example.com"}


def test_canary_a_wildcard_host_list_mails_the_attackers_link(client, account):
    """What the old default (``*``) allowed, and why the host list matters: the reset link is
    built from the request's Host."""
    with override_settings(ALLOWED_HOSTS=["*"]):
        client.post("/accounts/password/reset/", {"email": account.email},
                    HTTP_HOST="attacker.example")

    [message] = mail.outbox
    assert "http://attacker.example/accounts/password/reset/key/" in message.body
