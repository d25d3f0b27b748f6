"""History: every result, the current state of each check, transitions, hourly rollups."""

from __future__ import annotations

from django.db import models

STATUS_CHOICES = [
    ("passing", "passing"),
    ("warning", "warning"),
    ("failing", "failing"),
]


class CheckResult(models.Model):
    """One result of one run of one check. ``name`` rather than ``check``: Model.check()."""

    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES)
    message = models.TextField(blank=True)
    value = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=20, blank=True)
    duration = models.FloatField(help_text="seconds")
    checked_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            # With the duration, the p95 of a check reads this index alone (an index-only
            # scan on PostgreSQL), never the table.
            models.Index(fields=["name", "-checked_at", "duration"],
                         name="healthd_result_name_time_dur"),
            models.Index(fields=["status", "-checked_at"], name="healthd_result_status_time"),
            models.Index(fields=["-checked_at"], name="healthd_result_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.status} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class CheckStatus(models.Model):
    """The current state of one check: a copy for the admin and for a Redis outage."""

    name = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES)
    since = models.DateTimeField()
    streak = models.PositiveIntegerField(default=1, help_text="consecutive results in this state")
    last_checked_at = models.DateTimeField()
    last_message = models.TextField(blank=True)
    last_duration = models.FloatField(default=0.0)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "check statuses"

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"


class Transition(models.Model):
    """A change of state of a check, kept longer than raw results."""

    name = models.CharField(max_length=100)
    previous = models.CharField(max_length=10)
    status = models.CharField(max_length=10)
    at = models.DateTimeField()
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["name", "-at"], name="healthd_transition_name_at")]

    def __str__(self) -> str:
        return f"{self.name}: {self.previous} -> {self.status}"


class HourlyRollup(models.Model):
    """Per check and hour: runs, failures, duration sum and max, for long-range uptime."""

    name = models.CharField(max_length=100)
    hour = models.DateTimeField()
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0)
    duration_max = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-hour", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "hour"], name="healthd_rollup_name_hour")
        ]
        # The admin's ordering and date hierarchy, and retention's range of old hours.
        indexes = [models.Index(fields=["-hour", "name"], name="healthd_rollup_hour_name")]

    def __str__(self) -> str:
        return f"{self.name} {self.hour:%Y-%m-%d %H}:00"


class CurrentState(CheckStatus):
    """No table of its own: the admin index's entry for the current-state page."""

    class Meta:
        proxy = True
        verbose_name = "current state"
        verbose_name_plural = "current state of every check"
