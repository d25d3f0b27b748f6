"""History: every result, the current state of each check, transitions, hourly rollups."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from healthd.util import durations, recurrence

STATUS_CHOICES = [
    ("passing", "passing"),
    ("warning", "warning"),
    ("failing", "failing"),
]


class CheckResult(models.Model):
    """One result of one run of one check. ``name`` rather than ``check``: Model.check().

    On PostgreSQL the table is partitioned by day (migration 0009,
    :mod:`healthd.history.partitions`): there its primary key is (id, checked_at), as a
    partitioned table requires, while Django keeps ``id`` as the key (unique all the
    same: one sequence). Not a ``CompositePrimaryKey``: the admin does not take one, and
    the other databases keep a plain table.
    """

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
    # The outbox's id for it: a redelivery after a crash finds the row and writes nothing.
    transition_id = models.CharField(max_length=64, unique=True, null=True, blank=True,
                                     editable=False)
    silenced = models.BooleanField(default=False, help_text="nobody was notified: a silence")
    suppressed_by = models.CharField(
        max_length=100, blank=True, default="",
        help_text="nobody was notified: this dependency was failing")
    # The notification group it was first told in (HEALTHD["GROUP_WAIT"]); its
    # Idempotency-Key, and the Delivery key of the group's notifications.
    group = models.CharField(max_length=100, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["name", "-at"], name="healthd_transition_name_at")]

    def __str__(self) -> str:
        return f"{self.name}: {self.previous} -> {self.status}"


# An hourly rollup's durations as a fixed logarithmic histogram, one count column per
# bucket (``d00`` … ``d63``), so that the upsert adds bucket to bucket in SQL on every
# database and a p95 over a day or a week is a sum of buckets (healthd.history.buckets
# says where each bucket begins).
DURATION_BUCKETS = 64
BUCKET_COLUMNS = [f"d{index:02d}" for index in range(DURATION_BUCKETS)]


class RollupCounts(models.Model):
    """What an hourly and a daily rollup both count of a check's runs."""

    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0)
    duration_max = models.FloatField(default=0.0)

    class Meta:
        abstract = True


class HourlyRollup(RollupCounts):
    """Per check and hour: runs, failures, duration sum and max, for long-range uptime;
    and the durations' histogram (BUCKET_COLUMNS), for the p95."""

    name = models.CharField(max_length=100)
    hour = models.DateTimeField()

    class Meta:
        ordering = ["-hour", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "hour"], name="healthd_rollup_name_hour")
        ]
        # The admin's ordering and date hierarchy, and retention's range of old hours.
        indexes = [models.Index(fields=["-hour", "name"], name="healthd_rollup_hour_name")]

    def __str__(self) -> str:
        return f"{self.name} {self.hour:%Y-%m-%d %H}:00"


for _column in BUCKET_COLUMNS:
    HourlyRollup.add_to_class(_column, models.PositiveIntegerField(default=0, editable=False))


class DailyRollup(RollupCounts):
    """Per check and day (a day of the site's ``TIME_ZONE``): the day's hourly rollups
    added up, for the status page's 90 days and the history API's year.

    ``day`` is when that day began, an instant; a day begun at another instant than the
    site's time zone says now (the zone was changed) is not used, and
    ``healthd_rollups --rebuild`` makes them again. ``first_hour`` is the day's first
    hour with a run, which tells when a check began.
    """

    name = models.CharField(max_length=100)
    day = models.DateTimeField()
    first_hour = models.DateTimeField()

    class Meta:
        ordering = ["-day", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "day"], name="healthd_daily_name_day")
        ]
        indexes = [models.Index(fields=["-day", "name"], name="healthd_daily_day_name")]

    def __str__(self) -> str:
        return f"{self.name} {self.day:%Y-%m-%d}"


class CurrentState(CheckStatus):
    """No table of its own: the admin index's entry for the current-state page."""

    class Meta:
        proxy = True
        verbose_name = "current state"
        verbose_name_plural = "current state of every check"


class Silence(models.Model):
    """A planned quiet time: transitions of these checks are recorded but nobody is told.

    While a check is silenced a failure counts as a warning for the health views; when
    the silence ends and the check's state differs from its state when the silence
    began, that change is told once. A silence with ``every`` (a cron expression)
    repeats: a window of ``duration`` each time it fires in ``time_zone``, between
    ``starts_at`` and ``ends_at`` (none: for ever); each window is a silence of its own.
    """

    checks = models.JSONField(default=list, blank=True,
                              help_text="check names; empty: every check")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(
        null=True, blank=True,
        help_text="when it ends; for a repeating silence, when it stops repeating "
                  "(empty: never)")
    every = models.CharField(
        max_length=100, blank=True,
        help_text="repeats: a cron expression (minute hour day-of-month month "
                  "day-of-week) for when each window starts; empty: once")
    duration = models.DurationField(null=True, blank=True,
                                    help_text="how long each window of a repeating "
                                              "silence lasts")
    time_zone = models.CharField(max_length=64, blank=True,
                                 help_text="the IANA time zone of a repeating silence's "
                                           "times; empty: the site's TIME_ZONE")
    reason = models.TextField(blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at"))
                | (models.Q(ends_at__isnull=True) & ~models.Q(every="")),
                name="healthd_silence_ends_after_start"),
            models.CheckConstraint(
                condition=models.Q(every="") | models.Q(duration__gt=datetime.timedelta(0)),
                name="healthd_silence_repeats_for_a_while"),
        ]

    def __str__(self) -> str:
        which = ", ".join(self.checks) if self.checks else "every check"
        if self.every:
            length = durations.format_duration(self.duration or datetime.timedelta(0))
            return f"{which} every {self.every} for {length} ({self.zone_name})"
        return f"{which} until {self.ends_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if isinstance(self.checks, str):  # checks="database" means that one check
            self.checks = [self.checks]
        if isinstance(self.checks, list) and all(isinstance(n, str) for n in self.checks):
            self.checks = list(dict.fromkeys(self.checks))  # each name once
        super().save(*args, **kwargs)

    @property
    def zone_name(self) -> str:
        return self.time_zone or str(timezone.get_default_timezone())

    def recurrence(self) -> recurrence.Recurrence | None:
        """The windows of a repeating silence (None for a one-off one); ValueError when
        its cron expression or time zone is not one."""
        if not self.every:
            return None
        return recurrence.Recurrence(recurrence.normal_cron(self.every),
                                     self.duration or datetime.timedelta(0),
                                     recurrence.parse_zone(self.zone_name))

    def windows(self, since: datetime.datetime, until: datetime.datetime,
                limit: int = 1000) -> list[tuple[datetime.datetime, datetime.datetime]]:
        """Its windows (start, end) overlapping [since, until), cut to [starts_at, ends_at)."""
        first, last = self.starts_at, self.ends_at
        rule = self.recurrence()
        if rule is None:
            assert last is not None  # a one-off silence ends (the constraint says so)
            return [(first, last)] if first < until and last > since else []
        found = []
        for start, end in rule.windows(max(since, first), until if last is None
                                       else min(until, last), limit):
            start, end = max(start, first), end if last is None else min(end, last)
            if start < end:
                found.append((start, end))
        return found

    def covers(self, name: str) -> bool:
        return not self.checks or name in self.checks

    def is_active(self, now: datetime.datetime | None = None) -> bool:
        now = now or timezone.now()
        return bool(self.windows(now, now + datetime.timedelta(microseconds=1), limit=1))


class Delivery(models.Model):
    """One notification of one transition (or reminder) to one channel: how it went."""

    transition = models.ForeignKey(
        Transition, to_field="transition_id", db_constraint=False, on_delete=models.DO_NOTHING,
        null=True, blank=True, related_name="deliveries",
        help_text="written by the delivery, which may run before the transition's row",
    )
    # The receiver's Idempotency-Key: the transition id, or "<id>-reminder-<n>".
    key = models.CharField(max_length=100)
    reminder = models.PositiveIntegerField(default=0, help_text="0: the transition itself")
    channel = models.CharField(max_length=64, help_text="the channel's stable id")
    # Never any part of the channel's URL: for most Apprise services the path is the secret.
    channel_label = models.CharField(
        max_length=300, help_text="the channel's name, or its service and position (slack#1)")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="secrets masked")
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True,
                                     help_text="set when the retries ran out")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["key", "channel"], name="healthd_delivery_key_channel")
        ]

    def __str__(self) -> str:
        return f"{self.key} to {self.channel_label}: {self.outcome}"

    @property
    def outcome(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.failed_at:
            return "failed"
        return "retrying" if self.attempts else "queued"
