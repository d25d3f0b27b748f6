"""The summaries the pages read instead of the results: each hourly rollup's durations as a
fixed logarithmic histogram (``d00`` … ``d63``, healthd.history.buckets), and a daily
rollup per check and day of the site's time zone.

The daily rollups are filled here from the hourly ones (grouped by day in the database,
a month at a time); the histograms of the hours written before this stay empty until
``manage.py healthd_rollups --rebuild`` counts them from the results kept.
"""

import datetime as dt

from django.db import migrations, models
from django.db.models import Max, Min, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

BUCKET_COLUMNS = [f"d{index:02d}" for index in range(64)]


def fill_daily(apps, schema_editor):
    HourlyRollup = apps.get_model("healthd", "HourlyRollup")
    DailyRollup = apps.get_model("healthd", "DailyRollup")
    hours = HourlyRollup.objects.using(schema_editor.connection.alias)
    first = hours.order_by("hour").values_list("hour", flat=True).first()
    if first is None:
        return
    last = hours.order_by("-hour").values_list("hour", flat=True).first()
    tz = timezone.get_default_timezone()
    start = first
    while start <= last:
        end = start + dt.timedelta(days=31)
        DailyRollup.objects.using(schema_editor.connection.alias).bulk_create([
            DailyRollup(name=row["name"], day=row["day"], first_hour=row["first"],
                        runs=row["all_runs"], failures=row["all_failures"],
                        warnings=row["all_warnings"], duration_sum=row["all_sum"],
                        duration_max=row["all_max"])
            for row in hours.filter(hour__gte=start, hour__lt=end, runs__gt=0)
            .annotate(day=TruncDay("hour", tzinfo=tz)).order_by().values("name", "day")
            .annotate(first=Min("hour"), all_runs=Sum("runs"), all_failures=Sum("failures"),
                      all_warnings=Sum("warnings"), all_sum=Sum("duration_sum"),
                      all_max=Max("duration_max"))
        ], batch_size=1000, ignore_conflicts=True)
        start = end


class Migration(migrations.Migration):

    dependencies = [
        ("healthd", "0009_partition_results_postgres"),
    ]

    operations = [
        *[migrations.AddField(model_name="hourlyrollup", name=column,
                              field=models.PositiveIntegerField(default=0, editable=False))
          for column in BUCKET_COLUMNS],
        migrations.CreateModel(
            name="DailyRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("day", models.DateTimeField()),
                ("first_hour", models.DateTimeField()),
                ("runs", models.PositiveIntegerField(default=0)),
                ("failures", models.PositiveIntegerField(default=0)),
                ("warnings", models.PositiveIntegerField(default=0)),
                ("duration_sum", models.FloatField(default=0.0)),
                ("duration_max", models.FloatField(default=0.0)),
            ],
            options={
                "ordering": ["-day", "name"],
                "indexes": [models.Index(fields=["-day", "name"], name="healthd_daily_day_name")],
                "constraints": [models.UniqueConstraint(fields=["name", "day"],
                                                        name="healthd_daily_name_day")],
            },
        ),
        migrations.RunPython(fill_daily, migrations.RunPython.noop),
    ]
