"""PostgreSQL only: no two enforced allocations of one room or one engineer may overlap.

``EXCLUDE USING gist (room_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&)`` and the same
for ``staff_id``, over rows matching ``ENFORCED_ALLOCATION`` (the time-free part of
``Allocation.objects.blocking``). NULL resource ids never compare equal, so a staff row never
conflicts on the room constraint and vice versa. On SQLite this migration does nothing: the
booking services' IMMEDIATE transactions are the guard there.
"""

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.db import migrations
from django.db.models import Func

from studiobook.bookings.models import ENFORCED_ALLOCATION


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def no_overlap(resource: str) -> ExclusionConstraint:
    return ExclusionConstraint(
        name=f"allocation_{resource}_no_overlap",
        expressions=[
            (resource, RangeOperators.EQUAL),
            (TsTzRange("start_at", "end_at", RangeBoundary()), RangeOperators.OVERLAPS),
        ],
        condition=ENFORCED_ALLOCATION,
    )


def add_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    allocation = apps.get_model("bookings", "Allocation")
    for resource in ("room", "staff"):
        schema_editor.add_constraint(allocation, no_overlap(resource))


def remove_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    allocation = apps.get_model("bookings", "Allocation")
    for resource in ("room", "staff"):
        schema_editor.remove_constraint(allocation, no_overlap(resource))


class Migration(migrations.Migration):
    dependencies = [("bookings", "0001_initial")]
    operations = [migrations.RunPython(add_constraints, remove_constraints)]
