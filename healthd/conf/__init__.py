"""The one accessor for healthd's settings, read at call time.

Everything healthd reads from ``django.conf.settings`` goes through :func:`get`, so
tests can use ``override_settings`` and a site can change settings without a
restart of the import machinery. The merged view is memoised and dropped whenever
Django reports a setting change, which keeps the heartbeat's hot path cheap.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # None: every built-in the site's settings make meaningful (see checks.registry).
    "CHECKS": None,
    "INTERVAL": 30.0,
    "TIMEOUT": 10.0,
    "MAX_CONCURRENCY": 32,  # checks or stats providers run at once; a hung one stops counting
    # A result older than this many intervals counts as stale (failing).
    "STALE_AFTER_INTERVALS": 3,
    "REDIS_URL": None,
    "KEY_PREFIX": "healthd:",
    # Socket and connect timeout of the reading client, in seconds.
    "REDIS_TIMEOUT": 0.25,
    # How old the per-process copy of the latest results may get, in seconds.
    "CACHE_SECONDS": 1.0,
    # Show per-check details to anonymous callers of the heartbeat (DEBUG does too).
    "PUBLIC_DETAILS": False,
    # Tokens that unlock details; WATCHMAN_TOKEN(S) are read as well.
    "TOKENS": [],
    "MIGRATIONS_LEVEL": "warning",
    "CELERY_MIN_WORKERS": 1,
    "CELERY_TIMEOUT": 3.0,
    "EMAIL_RECIPIENT": None,
    "RETENTION_DAYS": 14,
    "TRANSITION_RETENTION_DAYS": 365,
    "SENTRY": True,
    # Sentry Crons check-ins around each scheduled run (a dead man's switch for beat).
    "SENTRY_CRONS": False,
    "STATS": True,
    # Seconds between runs of healthd.tasks.gather_stats; stats older than
    # STALE_AFTER_INTERVALS of these show as stale on the status pages.
    "STATS_INTERVAL": 60.0,
    # Paths RequestSummaryMiddleware does not log and sentry_traces_sampler does not trace:
    # each entry matches itself and every path below it ("/watchman" matches "/watchman/x").
    # None: healthd.logging.PROBE_PATHS (every health probe healthd serves).
    "SUMMARY_SKIP_PATHS": None,
    # The traces sample rate healthd.logging.sentry_traces_sampler gives other requests.
    "TRACES_SAMPLE_RATE": 1.0,
    # Notification channels: Apprise URLs, {"url": ..., "checks": [...], "on": [...]} or
    # signed webhooks {"webhook": ..., "secret": ..., "checks": [...]} (see the README).
    "NOTIFY": [],
    # Seconds between reminders to the channels while a check stays failing; None: never.
    "REMIND_EVERY": None,
    # Seconds one notification request may take.
    "NOTIFY_TIMEOUT": 10.0,
    # A failed notification is retried for this many seconds, with exponential backoff
    # (first delay NOTIFY_BACKOFF, at most NOTIFY_BACKOFF_MAX) and jitter; then kept as failed.
    "NOTIFY_RETRY_FOR": 3600.0,
    "NOTIFY_BACKOFF": 2.0,
    "NOTIFY_BACKOFF_MAX": 300.0,
    # Seconds after which a transition a worker took from the outbox and stopped renewing
    # its claim on (it died) is taken again by the next run on any worker.
    "OUTBOX_VISIBILITY_TIMEOUT": 15.0,
    # The outbox stream is trimmed to the entries not yet delivered, and never holds more
    # than about this many.
    "OUTBOX_MAXLEN": 100_000,
    # Seconds between healthd.beat.Scheduler's full re-reads of the schedule (at most 300).
    "SCHEDULE_REFRESH_SECONDS": 300.0,
    # Watch every enabled django-celery-beat row as a passive check: True, or a dict with
    # "grace" and "critical" for all of them (see healthd.passive.beat).
    "WATCH_PERIODIC_TASKS": False,
    # Seconds between two lateness sweeps of the passive checks (a check due sooner gets
    # a one-shot sweep at its deadline).
    "PASSIVE_SWEEP_INTERVAL": 60.0,
    # /status/uptime/: {label: [check names]} shows each group as one row (its worst day,
    # its least available member); checks in no group get a row each.
    "GROUPS": None,
    # The uptime page and the badges answer anyone; off: only callers who may see details.
    "PUBLIC_STATUS_PAGE": False,
}


@dataclass(frozen=True)
class HealthdSettings:
    """healthd's settings merged with their defaults, plus the legacy names it honours."""

    checks: Any
    interval: float
    timeout: float
    stale_after_intervals: float
    redis_url: str | None = field(repr=False)  # may carry a password
    key_prefix: str
    redis_timeout: float
    cache_seconds: float
    public_details: bool
    tokens: tuple[str, ...] = field(repr=False)
    migrations_level: str
    celery_min_workers: int
    celery_timeout: float
    celery_workers: tuple[str, ...]
    email_recipient: str | None
    retention_days: int
    transition_retention_days: int
    sentry: bool
    sentry_crons: bool
    stats: bool
    dockerflow_checks: tuple[str, ...]
    watchman_checks: tuple[str, ...]
    token_name: str
    heartbeat_failed_status: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _broker_redis_url() -> str | None:
    broker = getattr(settings, "CELERY_BROKER_URL", None) or os.environ.get("CELERY_BROKER_URL")
    if broker and broker.startswith(("redis://", "rediss://")):
        return broker
    if broker and broker.startswith("redis+socket://"):
        return "unix://" + broker[len("redis+socket://") :]
    return None


@functools.lru_cache(maxsize=1)
def get() -> HealthdSettings:
    """Return the merged settings; cached until Django reports a setting change."""
    user = dict(getattr(settings, "HEALTHD", None) or {})
    merged = {**DEFAULTS, **user}
    tokens = list(merged["TOKENS"] or [])
    watchman_token = getattr(settings, "WATCHMAN_TOKEN", None)
    if watchman_token:
        tokens.append(watchman_token)
    watchman_tokens = getattr(settings, "WATCHMAN_TOKENS", None)
    if watchman_tokens:
        tokens.extend(t.strip() for t in str(watchman_tokens).split(",") if t.strip())
    redis_url = merged["REDIS_URL"] or os.environ.get("REDIS_URL") or _broker_redis_url()
    return HealthdSettings(
        checks=merged["CHECKS"],
        interval=merged["INTERVAL"],
        timeout=merged["TIMEOUT"],
        stale_after_intervals=merged["STALE_AFTER_INTERVALS"],
        redis_url=redis_url,
        key_prefix=merged["KEY_PREFIX"],
        redis_timeout=merged["REDIS_TIMEOUT"],
        cache_seconds=merged["CACHE_SECONDS"],
        public_details=bool(merged["PUBLIC_DETAILS"]),
        tokens=tuple(tokens),
        migrations_level=merged["MIGRATIONS_LEVEL"],
        celery_min_workers=merged["CELERY_MIN_WORKERS"],
        celery_timeout=merged["CELERY_TIMEOUT"],
        celery_workers=tuple(getattr(settings, "STATUS_CELERY_WORKERS", ()) or ()),
        email_recipient=merged["EMAIL_RECIPIENT"],
        retention_days=merged["RETENTION_DAYS"],
        transition_retention_days=merged["TRANSITION_RETENTION_DAYS"],
        sentry=bool(merged["SENTRY"]),
        sentry_crons=bool(merged["SENTRY_CRONS"]),
        stats=bool(merged["STATS"]),
        dockerflow_checks=tuple(getattr(settings, "DOCKERFLOW_CHECKS", ()) or ()),
        watchman_checks=tuple(getattr(settings, "WATCHMAN_CHECKS", ()) or ()),
        token_name=getattr(settings, "WATCHMAN_TOKEN_NAME", "watchman-token"),
        heartbeat_failed_status=getattr(settings, "DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE", 500),
        raw=merged,
    )


@receiver(setting_changed)
def _forget_on_change(**kwargs: Any) -> None:
    """Drop the merged settings; each cache above this module clears itself the same way."""
    get.cache_clear()
