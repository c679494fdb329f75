"""Tax rates move from basis points (1300 = 13 %) to parts per million (130000 = 13 %), so
that rates such as Quebec's QST 9.975 % (99750 ppm) are exact. Every stored rate is kept
exactly: ppm = basis points x 100 (and back, for a rollback of rates that are whole basis
points; a finer rate is rounded half-even to basis points on the way back)."""

from django.db import migrations, models


def basis_points_to_ppm(apps, schema_editor):
    TaxRate = apps.get_model("studios", "TaxRate")
    for tax in TaxRate.objects.all().only("pk", "rate_basis_points"):
        TaxRate.objects.filter(pk=tax.pk).update(rate_ppm=tax.rate_basis_points * 100)


def ppm_to_basis_points(apps, schema_editor):
    TaxRate = apps.get_model("studios", "TaxRate")
    for tax in TaxRate.objects.all().only("pk", "rate_ppm"):
        whole, rest = divmod(tax.rate_ppm, 100)
        if rest > 50 or (rest == 50 and whole % 2):
            whole += 1
        TaxRate.objects.filter(pk=tax.pk).update(rate_basis_points=whole)


class Migration(migrations.Migration):

    dependencies = [
        ("studios", "0003_room_photo"),
    ]

    operations = [
        migrations.AddField(
            model_name="taxrate",
            name="rate_ppm",
            field=models.PositiveIntegerField(
                default=0, help_text="parts per million: 130000 = 13 %, 99750 = 9.975 %"),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="taxrate",
            name="rate_basis_points",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(basis_points_to_ppm, ppm_to_basis_points),
        migrations.RemoveConstraint(
            model_name="taxrate",
            name="tax_rate_at_most_100_percent",
        ),
        migrations.RemoveField(
            model_name="taxrate",
            name="rate_basis_points",
        ),
        migrations.AddConstraint(
            model_name="taxrate",
            constraint=models.CheckConstraint(
                condition=models.Q(rate_ppm__lte=1_000_000),
                name="tax_rate_ppm_at_most_100_percent"),
        ),
    ]
