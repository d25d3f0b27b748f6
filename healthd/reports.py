"""Report queries over the history tables: uptime, p95 duration, the latest results.

Kept apart from the admin (as django-celery-beat keeps its querysets apart from its
admin) so that what a page costs in queries can be read, and tested, in one place.
"""

from __future__ import annotations

import datetime
import math

from django.db import connections
from django.db.models import Q, Sum

from healthd.models import CheckResult, HourlyRollup

STRIP_LENGTH = 50
# The p95 of a check is taken over at most this many of its latest results in 24 h.
P95_SAMPLE_LIMIT = 5000


def percent(runs: int | None, failures: int | None) -> str:
    """The share of runs that did not fail, for display ("-" without runs)."""
    if not runs:
        return "-"
    return f"{100.0 * (runs - (failures or 0)) / runs:.2f} %"


def p95(values: list[float]) -> float | None:
    """The 95th percentile by nearest rank (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def uptime_counts(names: list[str], now: datetime.datetime) -> dict[str, dict]:
    """Runs and failures per check over 24 h and 7 d, from the hourly rollups."""
    day_ago, week_ago = now - datetime.timedelta(hours=24), now - datetime.timedelta(days=7)
    day_hour = day_ago.replace(minute=0, second=0, microsecond=0)
    return {
        row["name"]: row
        for row in HourlyRollup.objects.filter(name__in=names, hour__gte=week_ago)
        .values("name").order_by("name")
        .annotate(runs_7d=Sum("runs"), failures_7d=Sum("failures"),
                  runs_24h=Sum("runs", filter=Q(hour__gte=day_hour)),
                  failures_24h=Sum("failures", filter=Q(hour__gte=day_hour)))
    }


def latest_results(name: str) -> list[tuple[str, datetime.datetime, float]]:
    """The last STRIP_LENGTH results of one check as (status, checked_at, duration),
    oldest first."""
    latest = list(
        CheckResult.objects.filter(name=name).order_by("-checked_at")
        .values_list("status", "checked_at", "duration")[:STRIP_LENGTH]
    )
    latest.reverse()
    return latest


def p95_ms(name: str, since: datetime.datetime) -> float | None:
    """p95 of one check's latest results since ``since``: an index range, capped in size.

    PostgreSQL works it out itself (percentile_disc is the nearest rank); elsewhere the
    durations are fetched and ranked here.
    """
    latest = (CheckResult.objects.filter(name=name, checked_at__gte=since)
              .order_by("-checked_at")[:P95_SAMPLE_LIMIT])
    connection = connections[latest.db]
    if connection.vendor == "postgresql":
        sql, params = latest.values("duration").query.sql_with_params()
        with connection.cursor() as cursor:
            # The inner SQL is Django's own, its values bound as parameters.
            percentile = "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY duration)"
            query = f"{percentile} FROM ({sql}) AS latest"
            cursor.execute(query, params)
            value = cursor.fetchone()[0]
    else:
        value = p95(list(latest.values_list("duration", flat=True)))
    return None if value is None else value * 1000
