"""Django settings for Studiobook.

Everything that differs between machines comes from the environment, read when this module is
imported (that is, at process start):

- ``DATABASE_URL``: defaults to SQLite at ``$STUDIOBOOK_DATA_DIR/studiobook.sqlite3``.
  ``postgres://user@host:5432/name`` switches to PostgreSQL (psycopg 3).
- ``STUDIOBOOK_DATA_DIR``: where the embedded database lives (default ``./data``).
- ``SECRET_KEY``, ``DEBUG`` (``1``/``0``), ``ALLOWED_HOSTS`` (comma separated).
  ``SECRET_KEY`` and ``STUDIOBOOK_FIELD_ENCRYPTION_KEYS`` (comma separated Fernet keys: the
  first encrypts, all decrypt; docs/security.md) are required: without them the process
  refuses to start, unless ``DEBUG`` is on or it is the demo (``STUDIOBOOK_DEMO=1``, set by
  ``studiobook demo``), which generate them once and keep them in the data folder.
  ``ALLOWED_HOSTS`` is required likewise; the demo and DEBUG default to the loopback names.
- ``STUDIOBOOK_MAX_BODY_BYTES``: the largest JSON body the API accepts (default 64 KiB).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from studiobook.conf.local_secrets import (
    LOOPBACK_HOSTS,
    encryption_keys_from,
    local_encryption_key,
    local_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("STUDIOBOOK_DATA_DIR", "data")).resolve()


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _flag("DEBUG", False)
# The demo (`studiobook demo` sets it) and development (DEBUG) run without an operator's
# secrets: they make their own, once, in the data folder. Anything else must be given them.
STUDIOBOOK_DEMO = _flag("STUDIOBOOK_DEMO", False)
_LOCAL = STUDIOBOOK_DEMO or DEBUG
_NOT_LOCAL_HINT = ("(or run `studiobook demo`, or set DEBUG=1 on a development machine; "
                   "docs/security.md)")

SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()
if not SECRET_KEY:
    if not _LOCAL:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set it to a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` "
            + _NOT_LOCAL_HINT)
    SECRET_KEY = local_secret_key(DATA_DIR)

# Keys of the encrypted model fields (phone numbers, calendar passwords and secret URLs):
# Fernet keys, the first encrypts, every one decrypts (studiobook.accounts.encryption).
STUDIOBOOK_FIELD_ENCRYPTION_KEYS = encryption_keys_from(
    os.environ.get("STUDIOBOOK_FIELD_ENCRYPTION_KEYS", ""), name="STUDIOBOOK_FIELD_ENCRYPTION_KEYS")
if not STUDIOBOOK_FIELD_ENCRYPTION_KEYS:
    if not _LOCAL:
        raise ImproperlyConfigured(
            "STUDIOBOOK_FIELD_ENCRYPTION_KEYS is not set: set it to a key made by "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'` " + _NOT_LOCAL_HINT)
    STUDIOBOOK_FIELD_ENCRYPTION_KEYS = [local_encryption_key(DATA_DIR)]

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if not ALLOWED_HOSTS:
    if not _LOCAL:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set: set it to the host names this site answers to, comma "
            "separated (e.g. bookings.example.com); links in emails (password resets, "
            "confirmations) are built from the request's Host " + _NOT_LOCAL_HINT)
    ALLOWED_HOSTS = list(LOOPBACK_HOSTS)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before allauth, so that its templates under web/templates/allauth/ and account/ win.
    "studiobook.web",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "django_tasks",
    "django_tasks_db",
    "studiobook.jobs",
    "studiobook.accounts",
    "studiobook.studios",
    "studiobook.bookings",
    "studiobook.payments",
    "studiobook.calendars",
    "studiobook.notify",
    "studiobook.api",
    "studiobook.live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "studiobook.api.middleware.BodySizeLimitMiddleware",
    "studiobook.api.middleware.EdgeInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "studiobook.accounts.middleware.BearerTokenMiddleware",
    "studiobook.api.middleware.ContentTypeMiddleware",
    "studiobook.api.middleware.RateLimitMiddleware",
    "studiobook.api.middleware.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "studiobook.conf.urls"
WSGI_APPLICATION = "studiobook.conf.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studiobook.web.context.site",
            ],
        },
    },
]


def database_from_url(url: str | None) -> dict:
    """The Django DATABASES['default'] dict for ``url`` (SQLite in DATA_DIR when None).

    SQLite runs every transaction as BEGIN IMMEDIATE so that writers serialise and the booking
    services can re-check conflicts inside their transaction (SQLite has no exclusion
    constraints, and select_for_update is a no-op there); WAL lets readers run beside the writer.
    """
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'studiobook.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    if os.environ.get("STUDIOBOOK_TEST_DATABASE_NAME"):
        # Set by the test suite so that concurrent runs on one server never share a test DB.
        config["TEST"] = {"NAME": os.environ["STUDIOBOOK_TEST_DATABASE_NAME"]}
    return config


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# Every path that sets a password (API register, allauth's sign-up, change and reset pages,
# the Django admin) runs these. The similarity check compares with the email address and
# name; the last one refuses a password that is only whitespace.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
     "OPTIONS": {"user_attributes": ("email", "name")}},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "studiobook.accounts.passwords.NotOnlyWhitespaceValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# whitenoise serves static files from gunicorn; without a collectstatic run (the demo, the
# tests) it finds them in the apps' static/ folders. Front-end libraries are vendored in
# web/static/vendor: nothing is loaded from a CDN.
WHITENOISE_USE_FINDERS = True
# whitenoise warns about a missing STATIC_ROOT at every start; an empty one costs nothing.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Uploads (room photos): the filesystem under DATA_DIR/media by default (STORAGES["default"]
# can point at S3 through django-storages).
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("STUDIOBOOK_MEDIA_ROOT", DATA_DIR / "media"))
STUDIOBOOK_SERVE_MEDIA = _flag("STUDIOBOOK_SERVE_MEDIA", True)
WHITENOISE_AUTOREFRESH = DEBUG

# Accounts in the browser (django-allauth): email and password, email verification, password
# reset; Google sign-in when GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are set.
# One backend: allauth's (a ModelBackend: it also serves the Django admin's username field,
# read as the email, and permissions). With Django's ModelBackend listed too, every wrong
# password was hashed twice (each backend tried it), doubling what a failed login costs.
AUTHENTICATION_BACKENDS = [
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# "mandatory": no sign-in before the address is confirmed; "optional": a reminder only.
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Studiobook] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = os.environ.get("ACCOUNT_DEFAULT_HTTP_PROTOCOL", "http")
ACCOUNT_ADAPTER = "studiobook.accounts.adapter.AccountAdapter"
SOCIALACCOUNT_PROVIDERS: dict = {}
if os.environ.get("GOOGLE_CLIENT_ID"):
    INSTALLED_APPS.append("allauth.socialaccount.providers.google")
    SOCIALACCOUNT_PROVIDERS["google"] = {
        "APPS": [{"client_id": os.environ["GOOGLE_CLIENT_ID"],
                  "secret": os.environ.get("GOOGLE_CLIENT_SECRET", ""), "key": ""}],
        "SCOPE": ["profile", "email"],
        "EMAIL_AUTHENTICATION": True,
    }

# Cache, and with it every rate-limit counter (studiobook.api.ratelimits): Redis when
# CACHE_URL (else REDIS_URL) is a redis:// or rediss:// URL, so that all processes and servers
# count together; local memory otherwise (one process only: the embedded default).
CACHE_URL = os.environ.get("CACHE_URL", "") or os.environ.get("REDIS_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": CACHE_URL,
                          # Several deployments may share one Redis: one prefix each.
                          "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "studiobook")}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "LOCATION": "studiobook"}}


def _rate(name: str, default: str) -> str:
    return os.environ.get(f"STUDIOBOOK_RATE_{name}", default)


# Rate limits (README "Security"). Sign-in and sign-up use allauth's limits, shared by the
# /accounts/ forms and /api/auth/: "amount/duration/per" with per = ip | key (the account).
# Every sign-in attempt: 30 a minute per IP; wrong passwords: 10 a minute per IP and 5 in
# 5 minutes per account; sign-ups: 10 an hour per IP. Both are checked before the password
# is hashed (about 0.8 s of CPU each).
ACCOUNT_RATE_LIMITS = {
    "login": _rate("LOGIN", "30/m/ip"),
    "login_failed": _rate("LOGIN_FAILED", "10/m/ip,5/5m/key"),
    "signup": _rate("SIGNUP", "10/h/ip"),
}
# Holds, bookings (and reschedules) and payments, per signed-in user and per IP, as
# django-ratelimit rates "count/period" (s, m, h, d; e.g. "30/10m").
STUDIOBOOK_RATE_LIMITS = {
    "holds": {"user": _rate("HOLDS_USER", "30/10m"), "ip": _rate("HOLDS_IP", "60/10m")},
    "bookings": {"user": _rate("BOOKINGS_USER", "20/10m"),
                 "ip": _rate("BOOKINGS_IP", "40/10m")},
    "payments": {"user": _rate("PAYMENTS_USER", "20/10m"),
                 "ip": _rate("PAYMENTS_IP", "40/10m")},
}
# STUDIOBOOK_RATE_LIMITS_ENABLED=0 switches every limit off: for load tests and benchmarks
# on a private network only, never in production.
if not _flag("STUDIOBOOK_RATE_LIMITS_ENABLED", True):
    ACCOUNT_RATE_LIMITS = False
    RATELIMIT_ENABLE = False
# Behind a reverse proxy, the header that carries the client's address for django-ratelimit
# (e.g. HTTP_X_FORWARDED_FOR); REMOTE_ADDR by default.
if os.environ.get("RATELIMIT_IP_META_KEY"):
    RATELIMIT_IP_META_KEY = os.environ["RATELIMIT_IP_META_KEY"]

# Background work: django-tasks on the database (run by `studiobook worker`); with
# STUDIOBOOK_TASKS=rq and REDIS_URL, RQ on Redis (install the `redis` extra).
REDIS_URL = os.environ.get("REDIS_URL", "")
if os.environ.get("STUDIOBOOK_TASKS") == "rq":
    INSTALLED_APPS.append("django_tasks_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0"}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Payments: Stripe when a secret key is set, else the offline gateway (pay at the studio).
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
PAYMENT_GATEWAY = os.environ.get("STUDIOBOOK_PAYMENT_GATEWAY",
                                 "stripe" if STRIPE_SECRET_KEY else "offline")

# Email (studiobook.notify): SMTP when EMAIL_HOST is set, else the console; any
# django-anymail backend through EMAIL_BACKEND.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
                               if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _flag("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = _flag("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Studiobook <bookings@localhost>")
# SMS (studiobook.notify): Twilio when TWILIO_ACCOUNT_SID is set, else printed to the console.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = os.environ.get("TWILIO_FROM", "")  # +E.164 number or an MG... Messaging Service
SMS_BACKEND = os.environ.get("SMS_BACKEND", "twilio" if TWILIO_ACCOUNT_SID else "console")
STUDIOBOOK_SITE_URL = os.environ.get("STUDIOBOOK_SITE_URL", "http://localhost:8000")
NOTIFY_REMINDER_LEAD_HOURS = int(os.environ.get("NOTIFY_REMINDER_LEAD_HOURS", "24"))
# Calendars (studiobook.calendars): the invite's ORGANIZER (else DEFAULT_FROM_EMAIL's address),
# and whether external calendar URLs may point at private networks (off: SSRF guard).
STUDIOBOOK_CALENDAR_ORGANIZER_EMAIL = os.environ.get("STUDIOBOOK_CALENDAR_ORGANIZER_EMAIL", "")
STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS = _flag(
    "STUDIOBOOK_CALENDARS_ALLOW_PRIVATE_NETWORKS", False)

# Crash recovery (issue 9 section 3, docs/crash-recovery.md): how often the recovery sweeps
# run (payments, notifications, calendar pushes), how old work must be before a sweep takes it
# over, how long a worker's claim on a notification lasts (longer than EMAIL_TIMEOUT and the
# SMS provider's timeout), and how long an in-progress Idempotency-Key blocks its retries.
STUDIOBOOK_RECOVERY_SWEEP_SECONDS = int(os.environ.get("STUDIOBOOK_RECOVERY_SWEEP_SECONDS", "60"))
STUDIOBOOK_RECOVERY_GRACE_SECONDS = int(os.environ.get("STUDIOBOOK_RECOVERY_GRACE_SECONDS", "60"))
NOTIFY_CLAIM_LEASE_SECONDS = int(os.environ.get("NOTIFY_CLAIM_LEASE_SECONDS", "300"))
API_IDEMPOTENCY_LEASE_SECONDS = int(os.environ.get("STUDIOBOOK_IDEMPOTENCY_LEASE_SECONDS", "120"))

API_MAX_BODY_BYTES = int(os.environ.get("STUDIOBOOK_MAX_BODY_BYTES", 64 * 1024))
# API bearer tokens expire this many days after they are issued (a password change, on any
# path, revokes them at once; POST /api/auth/logout {"all": true} revokes all of a user's).
API_TOKEN_LIFETIME_DAYS = int(os.environ.get("STUDIOBOOK_API_TOKEN_LIFETIME_DAYS", "30"))
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
