"""``studiobook rotate-encryption-keys``: re-encrypt every encrypted value with the first key
of STUDIOBOOK_FIELD_ENCRYPTION_KEYS, so that the other keys can be removed
(docs/security.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from studiobook.accounts.encryption import UndecryptableValue, encrypted_fields

BATCH = 500


def _stored(model, names: list[str], pks: list) -> dict:
    """The columns as stored (tokens, not decrypted), by primary key."""
    table = connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(n).column)
                        for n in names)
    placeholders = ", ".join(["%s"] * len(pks))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(pk.column)}, {columns} FROM {table} "
                       f"WHERE {connection.ops.quote_name(pk.column)} IN ({placeholders})", pks)
        return {row[0]: row[1:] for row in cursor.fetchall()}


def rotate_all(*, check_only: bool = False, write=lambda line: None) -> dict[str, int]:
    """Re-encrypt (or, with ``check_only``, count) the values of every encrypted field not
    under the first key. Returns ``{"model.field": values}``; each batch of rows is one
    transaction, so an interrupted run can simply be run again. Raises UndecryptableValue
    when a value opens with no key."""
    counts: dict[str, int] = {}
    for model, fields in encrypted_fields():
        names = [f.name for f in fields]
        for field in fields:
            counts[f"{model._meta.label}.{field.name}"] = 0
        pks = list(model._base_manager.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(pks), BATCH):
            batch = pks[start:start + BATCH]
            with transaction.atomic():
                stored = _stored(model, names, batch)
                for pk, values in stored.items():
                    stale = {f.name: v for f, v in zip(fields, values, strict=True)
                             if not f.is_under_first_key(v)}
                    if not stale:
                        continue
                    for name in stale:
                        counts[f"{model._meta.label}.{name}"] += 1
                    if check_only:
                        continue
                    # Read through the field (decrypts with any key), write through it
                    # (encrypts with the first); update() leaves auto_now columns alone.
                    current = (model._base_manager.filter(pk=pk)
                               .values(*stale).get())
                    model._base_manager.filter(pk=pk).update(**current)
        total = sum(counts[f"{model._meta.label}.{f.name}"] for f in fields)
        write(f"{model._meta.label}: {total} value(s) "
              f"{'not under the first key' if check_only else 're-encrypted'}")
    return counts


class Command(BaseCommand):
    help = ("Re-encrypt every encrypted value (phone numbers, notification recipients, "
            "calendar passwords and secret URLs) with the first key of "
            "STUDIOBOOK_FIELD_ENCRYPTION_KEYS; --check only counts what is not under it yet.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="count the values not under the first key; change nothing "
                                 "(exit status 1 when there are any)")

    def handle(self, *args, **options) -> None:
        try:
            counts = rotate_all(check_only=options["check"], write=self.stdout.write)
        except UndecryptableValue as error:
            raise CommandError(str(error)) from error
        total = sum(counts.values())
        if options["check"]:
            if total:
                raise CommandError(f"{total} value(s) are not under the first key yet: run "
                                   "`studiobook rotate-encryption-keys`")
            self.stdout.write("Every value is under the first key: the others can be removed.")
        else:
            self.stdout.write(f"Re-encrypted {total} value(s) with the first key; check with "
                              "--check, then remove the old key(s).")
