"""A transition remembers the dependency that held back its notifications and the
notification group it was told in."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("healthd", "0010_rollup_buckets_daily"),
    ]

    operations = [
        migrations.AddField(
            model_name="transition",
            name="suppressed_by",
            field=models.CharField(
                blank=True, default="",
                help_text="nobody was notified: this dependency was failing", max_length=100),
        ),
        migrations.AddField(
            model_name="transition",
            name="group",
            field=models.CharField(blank=True, db_index=True, default="", max_length=100),
        ),
    ]
