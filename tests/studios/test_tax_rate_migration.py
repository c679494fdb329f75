"""The data migration of tax rates from basis points to parts per million keeps every rate
exactly (ppm = bp x 100), and rolls back to basis points."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("studios", "0003_room_photo")]
AFTER = [("studios", "0004_tax_rate_parts_per_million")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_basis_points_become_parts_per_million_and_back():
    try:
        apps = migrate(BEFORE)
        studio = apps.get_model("studios", "Studio").objects.create(
            slug="mtl", name="Montréal", time_zone="America/Toronto")
        tax_model = apps.get_model("studios", "TaxRate")
        for name, points in (("GST", 500), ("QST", 998), ("HST", 1300), ("None", 0),
                             ("All", 10_000)):
            tax_model.objects.create(studio=studio, name=name, rate_basis_points=points)

        apps = migrate(AFTER)
        rows = apps.get_model("studios", "TaxRate").objects.order_by("id")
        assert list(rows.values_list("name", "rate_ppm")) == [
            ("GST", 50_000), ("QST", 99_800), ("HST", 130_000), ("None", 0),
            ("All", 1_000_000)]
        rows.filter(name="QST").update(rate_ppm=99_750)  # 9.975 %: no basis-point form

        apps = migrate(BEFORE)
        rows = apps.get_model("studios", "TaxRate").objects.order_by("id")
        assert list(rows.values_list("name", "rate_basis_points")) == [
            ("GST", 500), ("QST", 998), ("HST", 1300), ("None", 0), ("All", 10_000)]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
