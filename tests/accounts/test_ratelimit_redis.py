"""Rate limits are shared across processes through the Redis cache (127.0.0.1:6379): a
budget spent in one process is spent for the next. Skipped when Redis is not running, except
in CI (CI=true), where .ci/run starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest
from allauth.account.models import EmailAddress
from django.test import override_settings

from studiobook.accounts.models import ApiToken

# Not under tests/api: its frozen clock would put this process in another rate window than
# the child process, which runs on the real clock.
REDIS_URL = os.environ.get("STUDIOBOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "a-long-studio-passphrase"


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not os.environ.get("CI") and not redis_reachable(),
                                reason="no Redis on 127.0.0.1:6379")


@pytest.fixture
def redis_cache():
    """The default cache on Redis under a prefix of this test's own; yields the prefix."""
    import redis

    prefix = f"sbtest-{uuid.uuid4().hex[:12]}"
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": prefix}}
    with override_settings(CACHES=caches):
        yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def in_another_process(prefix: str, code: str, **env) -> list:
    """Run ``code`` (which sets ``result``) in a fresh Python process with the same cache
    settings (CACHE_URL and CACHE_KEY_PREFIX) and return ``result``, JSON-decoded."""
    script = ("import django, json\ndjango.setup()\n"
              "from django.contrib.auth.models import AnonymousUser\n"
              "from django.test import RequestFactory\n"
              f"{code}\nprint(json.dumps(result))\n")
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment |= {"DJANGO_SETTINGS_MODULE": "studiobook.conf.settings",
                    "STUDIOBOOK_DATA_DIR": tempfile.mkdtemp(), "CACHE_URL": REDIS_URL,
                    "CACHE_KEY_PREFIX": prefix} | env
    done = subprocess.run([sys.executable, "-c", script], env=environment, check=True,
                          capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@override_settings(STUDIOBOOK_RATE_LIMITS={"holds": {"user": "100/10m", "ip": "3/10m"}})
def test_holds_spent_in_another_process_limit_this_one(api, redis_cache, studio, artist):
    spent = in_another_process(redis_cache, """
from studiobook.api import ratelimits
request = RequestFactory().post("/api/studios/northside/holds", REMOTE_ADDR="203.0.113.9")
request.user = AnonymousUser()
result = [ratelimits.retry_after(request, "holds") for _ in range(3)]
""", STUDIOBOOK_RATE_HOLDS_IP="3/10m")
    assert spent == [None, None, None]
    status, body = api.post("/studios/northside/holds", {}, user=artist,
                            headers={"REMOTE_ADDR": "203.0.113.9"})
    assert (status, body["limit"]) == (429, "holds")
    assert 1 <= int(api.last["Retry-After"]) <= 600
    # Another address still has its budget (422: the empty body, past the limiter).
    assert api.post("/studios/northside/holds", {}, user=artist,
                    headers={"REMOTE_ADDR": "203.0.113.10"})[0] == 422


def test_failed_logins_in_another_process_lock_the_account_here(api, redis_cache, make_user):
    user = make_user(email="ari@example.test")
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    spent = in_another_process(redis_cache, """
from allauth.core import ratelimit
result = []
for n in range(5):
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=f"198.51.100.{n}")
    request.user = AnonymousUser()
    result.append(bool(ratelimit.consume(request, action="login_failed",
                                         key="login:ari@example.test")))
""")
    assert spent == [True] * 5
    status, body = api.post("/auth/login", {"email": "ari@example.test", "password": PASSWORD})
    assert (status, body["limit"]) == (429, "login")
    assert ApiToken.objects.count() == 0
