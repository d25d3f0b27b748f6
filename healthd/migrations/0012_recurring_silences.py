"""Silences that repeat: a cron expression, a duration and a time zone; a repeating silence
may repeat for ever (no end)."""

import datetime

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('healthd', '0011_transition_groups'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='silence',
            name='healthd_silence_ends_after_start',
        ),
        migrations.AddField(
            model_name='silence',
            name='duration',
            field=models.DurationField(blank=True, help_text='how long each window of a repeating silence lasts', null=True),
        ),
        migrations.AddField(
            model_name='silence',
            name='every',
            field=models.CharField(blank=True, help_text='repeats: a cron expression (minute hour day-of-month month day-of-week) for when each window starts; empty: once', max_length=100),
        ),
        migrations.AddField(
            model_name='silence',
            name='time_zone',
            field=models.CharField(blank=True, help_text="the IANA time zone of a repeating silence's times; empty: the site's TIME_ZONE", max_length=64),
        ),
        migrations.AlterField(
            model_name='silence',
            name='ends_at',
            field=models.DateTimeField(blank=True, help_text='when it ends; for a repeating silence, when it stops repeating (empty: never)', null=True),
        ),
        migrations.AddConstraint(
            model_name='silence',
            constraint=models.CheckConstraint(condition=models.Q(('ends_at__gt', models.F('starts_at')), models.Q(('ends_at__isnull', True), models.Q(('every', ''), _negated=True)), _connector='OR'), name='healthd_silence_ends_after_start'),
        ),
        migrations.AddConstraint(
            model_name='silence',
            constraint=models.CheckConstraint(condition=models.Q(('every', ''), ('duration__gt', datetime.timedelta(0)), _connector='OR'), name='healthd_silence_repeats_for_a_while'),
        ),
    ]
