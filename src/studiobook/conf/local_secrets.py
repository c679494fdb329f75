"""Secrets that the demo and development make for themselves, and the parsing of the
encryption keys given in the environment.

Outside the demo (``STUDIOBOOK_DEMO=1``, which ``studiobook demo`` sets) and DEBUG, settings
refuse to start without ``SECRET_KEY`` and ``STUDIOBOOK_FIELD_ENCRYPTION_KEYS``: a default
key in the source would be a published key (anyone could sign a session, a password-reset or
an email-confirmation link). The demo instead generates each one on its first run and keeps
it in its data folder (``secret_key``, ``field_encryption_key``, readable by the owner
only), so the next run reuses it and its sessions and encrypted rows stay readable.

No Django imports: settings import this module.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEY_FILE = "field_encryption_key"


def _kept(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    """The value kept in ``data_dir/name``; made by ``make`` and written (mode 0600, created
    exclusively, so two processes starting at once agree on one value) when missing."""
    path = Path(data_dir) / name
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first: use that one
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value + "\n")
    return value


def local_secret_key(data_dir: Path) -> str:
    """The demo's (or a development machine's) SECRET_KEY: ``data_dir/secret_key``, made on
    first use (50 random url-safe bytes)."""
    return _kept(data_dir, SECRET_KEY_FILE, lambda: secrets.token_urlsafe(50))


def local_encryption_key(data_dir: Path) -> str:
    """The demo's field-encryption key: ``data_dir/field_encryption_key``, a Fernet key made on
    first use."""
    return _kept(data_dir, ENCRYPTION_KEY_FILE,
                 lambda: base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"))


def encryption_keys_from(value: str, *, name: str) -> list[str]:
    """The comma-separated Fernet keys in ``value`` (url-safe base64 of 32 bytes each), in
    order: the first encrypts, every one decrypts. Raises ImproperlyConfigured naming the
    position of a key that is not a Fernet key (its value is never echoed)."""
    keys = [part.strip() for part in value.split(",") if part.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (url-safe base64 of 32 bytes); "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`")
    if len(set(keys)) != len(keys):
        raise ImproperlyConfigured(f"{name}: the same key is listed twice")
    return keys
