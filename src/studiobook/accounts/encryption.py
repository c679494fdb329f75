"""Personal data and secrets encrypted at rest (recording-studio-prd.md section 14): phone
numbers, notification recipients, CalDAV passwords, external calendars' secret URLs and
passwords.

``EncryptedTextField`` stores a Fernet token (AES-128-CBC with HMAC-SHA256, from the
``cryptography`` library) instead of the text; the database never sees the plaintext.
The keys are ``settings.STUDIOBOOK_FIELD_ENCRYPTION_KEYS`` (from the environment variable of
that name, comma separated): the first encrypts, every one decrypts (``MultiFernet``), so a
new key goes first and the old one stays until ``studiobook rotate-encryption-keys`` has
re-encrypted every row with the new one (docs/security.md).

Why not a field library: the maintained one (django-fernet-encrypted-fields) derives its
keys from SECRET_KEY (rotating SECRET_KEY after a leak would make every row unreadable),
returns the stored token as the value when it cannot decrypt (a wrong key would send a
ciphertext as a CalDAV password), stores "" as NULL, and marks a shared field instance
while a form cleans it, which a second thread reads as "already decrypted". This module is
the small field the cryptography library makes easy, without those four.

The empty string is stored as itself (``phone=""`` means "no number" and stays
filterable). Fernet tokens are random, so a stored value cannot be compared with a given
one: lookups other than ``isnull`` and ``exact`` against "" raise ``FieldError``, except on a
``searchable`` field, which prefixes the token with a keyed digest of the lower-cased value
(HMAC-SHA256, 128 bits, per key) so that ``exact``/``iexact`` lookups (the admin's
``=recipient`` search) still work. A digest reveals which rows hold the same value, so only
fields that are looked up are searchable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models
from django.db.models.lookups import Lookup

DIGEST_SEPARATOR = ":"
DIGEST_CHARACTERS = 32  # hex: 128 bits


class UndecryptableValue(ImproperlyConfigured):
    """A stored value that no key in STUDIOBOOK_FIELD_ENCRYPTION_KEYS opens: a key was
    removed before ``rotate-encryption-keys`` re-encrypted the rows (docs/security.md)."""


def _keys() -> tuple[str, ...]:
    keys = tuple(getattr(settings, "STUDIOBOOK_FIELD_ENCRYPTION_KEYS", ()) or ())
    if not keys:
        raise ImproperlyConfigured("STUDIOBOOK_FIELD_ENCRYPTION_KEYS is empty")
    return keys


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


@lru_cache(maxsize=8)
def _digest_keys_for(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    # A key of its own for digests (domain-separated from the Fernet key it comes from).
    return tuple(hashlib.sha256(b"studiobook lookup digest\x00"
                                + base64.urlsafe_b64decode(key)).digest() for key in keys)


def encrypt(text: str) -> str:
    """``text`` as a Fernet token under the first key (url-safe ASCII, about 4/3 of the
    UTF-8 length plus 76 characters)."""
    return _fernet_for(_keys()).encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, label: str = "a value") -> str:
    """The text of ``token`` under any of the keys. Raises UndecryptableValue naming
    ``label`` (e.g. ``"accounts.User.phone"``) when none opens it; never echoes the token."""
    try:
        return _fernet_for(_keys()).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError) as error:
        raise UndecryptableValue(
            f"cannot decrypt {label} with any key in STUDIOBOOK_FIELD_ENCRYPTION_KEYS: the "
            "key it was written with is missing (put it back, run `studiobook "
            "rotate-encryption-keys`, then remove it; docs/security.md)") from error


def digests(text: str) -> list[str]:
    """The lookup digests of ``text`` (lower-cased) under each key, first key first."""
    message = text.strip().lower().encode("utf-8")
    return [hmac.new(key, message, hashlib.sha256).hexdigest()[:DIGEST_CHARACTERS]
            for key in _digest_keys_for(_keys())]


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token of the value (see the module docstring).

    ``max_length`` bounds the plaintext (forms and ``full_clean`` check it); the column is
    ``text`` because the token is longer. ``searchable=True`` adds the lookup digest."""

    description = "Text encrypted at rest"

    def __init__(self, *args, searchable: bool = False, **kwargs):
        self.searchable = searchable
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.searchable:
            kwargs["searchable"] = True
        return name, path, args, kwargs

    @property
    def label(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model is not None else self.name

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        token = encrypt(value)
        if self.searchable:
            return f"{digests(value)[0]}{DIGEST_SEPARATOR}{token}"
        return token

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        if self.searchable:
            value = value.rpartition(DIGEST_SEPARATOR)[2]
        return decrypt(value, label=self.label)

    def is_under_first_key(self, stored: str | None) -> bool:
        """Whether a stored value (as in the column) opens with the first key alone and, on a
        searchable field, carries the first key's digest."""
        if stored in (None, ""):
            return True
        digest, _, token = stored.rpartition(DIGEST_SEPARATOR)
        try:
            text = Fernet(_keys()[0]).decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            return False
        return not self.searchable or digest == digests(text)[0]

    def get_lookup(self, lookup_name):
        if lookup_name not in ("exact", "iexact", "isnull"):
            return None  # Django raises FieldError: "Unsupported lookup ..."
        return super().get_lookup(lookup_name)


class EncryptedExact(Lookup):
    """``field=value`` (and ``iexact``) on an encrypted field: "" compares as stored; any other
    value needs a searchable field, whose stored digest is compared under every key."""

    lookup_name = "exact"
    prepare_rhs = False
    can_use_none_as_rhs = True

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        value = self.rhs
        if hasattr(value, "resolve_expression") or not (value is None or isinstance(value, str)):
            raise FieldError(f"{self.lhs.output_field.label} is encrypted: compare it with a "
                             "string only")
        if value is None:
            return f"{lhs_sql} IS NULL", list(lhs_params)
        if value == "":
            return f"{lhs_sql} = %s", [*lhs_params, ""]
        if not self.lhs.output_field.searchable:
            raise FieldError(f"{self.lhs.output_field.label} is encrypted and not searchable: "
                             "it can only be compared with ''")
        # Digests are hex and the separator ':', so LIKE sees no wildcard in the prefix.
        prefixes = [digest + DIGEST_SEPARATOR + "%" for digest in digests(value)]
        sql = " OR ".join(f"{lhs_sql} LIKE %s" for _ in prefixes)
        params = []
        for prefix in prefixes:
            params.extend([*lhs_params, prefix])
        return f"({sql})", params


class EncryptedIExact(EncryptedExact):
    lookup_name = "iexact"  # the digest is of the lower-cased value already


EncryptedTextField.register_lookup(EncryptedExact)
EncryptedTextField.register_lookup(EncryptedIExact)


def encrypted_fields() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every installed model with encrypted fields, and those fields."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            found.append((model, fields))
    return found


def encrypt_existing_rows(app_label: str, model_name: str, field_names: list[str]):
    """A migration operation that encrypts the plaintext already in ``field_names`` (after
    the AlterField that made them EncryptedTextFields), and decrypts them back when the
    migration is reversed. Reads and writes the columns with SQL, so the historical model's
    field only encrypts (it never tries to decrypt plaintext)."""
    from django.db import migrations

    def convert(apps, schema_editor, *, forward: bool) -> None:
        model = apps.get_model(app_label, model_name)
        connection = schema_editor.connection
        quote = connection.ops.quote_name
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        for name in field_names:
            field = model._meta.get_field(name)
            column = quote(field.column)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {pk}, {column} FROM {table} "
                               f"WHERE {column} IS NOT NULL AND {column} <> ''")
                rows = cursor.fetchall()
                for row_pk, value in rows:
                    new = (field.get_prep_value(value) if forward
                           else field.from_db_value(value, None, connection))
                    cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",
                                   [new, row_pk])
                if connection.vendor == "postgresql":
                    # Fire the deferred foreign-key checks now: PostgreSQL refuses an ALTER
                    # TABLE (the AlterField, when reversing) with trigger events pending.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    return migrations.RunPython(
        lambda apps, schema_editor: convert(apps, schema_editor, forward=True),
        lambda apps, schema_editor: convert(apps, schema_editor, forward=False),
        elidable=False)
