"""The one accessor for healthd's settings, read at call time.

Everything healthd reads of its settings goes through :func:`get`: the keys of the
``HEALTHD`` dict and the settings of the packages it replaces, each with its default in
:mod:`healthd.conf.defaults`, as typed attributes of one :class:`HealthdSettings`. Tests
can use ``override_settings`` and a site can change settings at run time: the object is
memoised and dropped whenever Django reports a setting change
(:mod:`healthd.conf.per_process`), which keeps the heartbeat's hot path cheap. Nothing
here checks a value: the system checks (:mod:`healthd.system_checks`) say which is
malformed, and name it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from healthd.conf import per_process
from healthd.conf.defaults import DEFAULTS, PEER_DEFAULTS

__all__ = ["DEFAULTS", "PEER_DEFAULTS", "HealthdSettings", "get", "healthd_as_set"]


@dataclass(frozen=True)
class HealthdSettings:
    """healthd's settings merged with their defaults, plus the peer settings it honours.

    Each ``HEALTHD`` key is the attribute of its name in lower case, except ``TOKENS`` and
    ``REDIS_URL``, which are read together with the settings that add to them.
    """

    checks: Any  # None or a list of entries (see healthd.checks.registry)
    interval: float
    timeout: float
    max_concurrency: int
    stale_after_intervals: float
    # HEALTHD["REDIS_URL"], else the REDIS_URL environment variable, else a Redis broker's.
    redis_url: str | None = field(repr=False)  # may carry a password
    key_prefix: str
    redis_timeout: float
    cache_seconds: float
    public_details: bool
    # HEALTHD["TOKENS"], WATCHMAN_TOKEN and each of WATCHMAN_TOKENS.
    tokens: tuple[str, ...] = field(repr=False)
    migrations_level: str
    celery_min_workers: int
    celery_timeout: float
    email_recipient: str | None
    retention_days: int
    transition_retention_days: int
    sentry: bool
    sentry_crons: bool
    stats: bool
    stats_interval: float
    summary_skip_paths: Sequence[str] | None  # None: every probe healthd serves
    traces_sample_rate: float
    notify: Any = field(repr=False)  # channels carry secrets
    remind_every: float | None
    notify_timeout: float
    notify_retry_for: float
    notify_backoff: float
    notify_backoff_max: float
    outbox_visibility_timeout: float
    group_wait: float  # 0: no grouping
    group_interval: float
    outbox_maxlen: int
    schedule_refresh_seconds: float
    watch_periodic_tasks: Any  # False, True or {"grace": …, "critical": …}
    passive_sweep_interval: float
    groups: Mapping[str, list[str]]  # empty when not set
    public_status_page: bool
    local_checks: Any  # None or a list of entries (see healthd.local.checks)
    local_check_seconds: float
    local_disk_min_free_mb: float
    local_shared_fraction: float
    drain_seconds: float
    recycle_seconds: float  # 0: never
    instance: str | None  # None: HOSTNAME, else the host name (healthd.local.instances)
    instance_ttl: float
    instance_grace: float
    # --- the peer settings, under their own names ---
    dockerflow_checks: tuple[str, ...]
    dockerflow_version_callback: str | None
    heartbeat_failed_status: int  # DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE
    summary_log_querystring: bool  # DOCKERFLOW_SUMMARY_LOG_QUERYSTRING
    base_dir: Any  # BASE_DIR: a str or a Path
    token_name: str  # WATCHMAN_TOKEN_NAME
    watchman_checks: tuple[str, ...] | None  # None: not set
    watchman_enable_paid_checks: bool
    watchman_databases: Any  # None, or the aliases shown
    watchman_caches: Any  # None, or the aliases shown
    watchman_error_code: int
    watchman_auth_decorator: str | None
    expose_watchman_version: bool
    celery_workers: tuple[str, ...]  # STATUS_CELERY_WORKERS
    status_providers: Any  # a mapping when well-formed (healthd.compat.status.stats)
    celery_broker_url: str | None = field(repr=False)  # CELERY_BROKER_URL
    # The HEALTHD dict merged with its defaults, for code that has not moved to the
    # attributes yet; read the attributes.
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def healthd_as_set() -> Any:
    """The ``HEALTHD`` setting as the site wrote it (None when it did not), for the system
    checks, which judge it; everything else reads :func:`get`."""
    return getattr(settings, "HEALTHD", None)


def _peers() -> dict[str, Any]:
    return {name: getattr(settings, name, default) for name, default in PEER_DEFAULTS.items()}


def _strings(value: Any) -> tuple[str, ...]:
    """A list setting as a tuple; None reads as empty."""
    return tuple(value or ())


def _tokens(merged: dict[str, Any], peers: dict[str, Any]) -> tuple[str, ...]:
    tokens = list(merged["TOKENS"] or ())
    if peers["WATCHMAN_TOKEN"]:
        tokens.append(peers["WATCHMAN_TOKEN"])
    if peers["WATCHMAN_TOKENS"]:
        tokens.extend(t.strip() for t in str(peers["WATCHMAN_TOKENS"]).split(",") if t.strip())
    return tuple(tokens)


def _broker_redis_url(broker: str | None) -> str | None:
    broker = broker or os.environ.get("CELERY_BROKER_URL")
    if broker and broker.startswith(("redis://", "rediss://")):
        return broker
    if broker and broker.startswith("redis+socket://"):
        return "unix://" + broker[len("redis+socket://"):]
    return None


@per_process.memoised
def get() -> HealthdSettings:
    """Return the merged settings; kept until Django reports a setting change."""
    merged = {**DEFAULTS, **dict(healthd_as_set() or {})}
    peers = _peers()
    watchman_checks = peers["WATCHMAN_CHECKS"]
    return HealthdSettings(
        checks=merged["CHECKS"],
        interval=merged["INTERVAL"],
        timeout=merged["TIMEOUT"],
        max_concurrency=merged["MAX_CONCURRENCY"],
        stale_after_intervals=merged["STALE_AFTER_INTERVALS"],
        redis_url=(merged["REDIS_URL"] or os.environ.get("REDIS_URL")
                   or _broker_redis_url(peers["CELERY_BROKER_URL"])),
        key_prefix=merged["KEY_PREFIX"],
        redis_timeout=merged["REDIS_TIMEOUT"],
        cache_seconds=merged["CACHE_SECONDS"],
        public_details=bool(merged["PUBLIC_DETAILS"]),
        tokens=_tokens(merged, peers),
        migrations_level=merged["MIGRATIONS_LEVEL"],
        celery_min_workers=merged["CELERY_MIN_WORKERS"],
        celery_timeout=merged["CELERY_TIMEOUT"],
        email_recipient=merged["EMAIL_RECIPIENT"],
        retention_days=merged["RETENTION_DAYS"],
        transition_retention_days=merged["TRANSITION_RETENTION_DAYS"],
        sentry=bool(merged["SENTRY"]),
        sentry_crons=bool(merged["SENTRY_CRONS"]),
        stats=bool(merged["STATS"]),
        stats_interval=merged["STATS_INTERVAL"],
        summary_skip_paths=merged["SUMMARY_SKIP_PATHS"],
        traces_sample_rate=merged["TRACES_SAMPLE_RATE"],
        notify=merged["NOTIFY"] or (),
        remind_every=merged["REMIND_EVERY"],
        notify_timeout=merged["NOTIFY_TIMEOUT"],
        notify_retry_for=merged["NOTIFY_RETRY_FOR"],
        notify_backoff=merged["NOTIFY_BACKOFF"],
        notify_backoff_max=merged["NOTIFY_BACKOFF_MAX"],
        outbox_visibility_timeout=merged["OUTBOX_VISIBILITY_TIMEOUT"],
        group_wait=merged["GROUP_WAIT"],
        group_interval=merged["GROUP_INTERVAL"],
        outbox_maxlen=merged["OUTBOX_MAXLEN"],
        schedule_refresh_seconds=merged["SCHEDULE_REFRESH_SECONDS"],
        watch_periodic_tasks=merged["WATCH_PERIODIC_TASKS"],
        passive_sweep_interval=merged["PASSIVE_SWEEP_INTERVAL"],
        groups=merged["GROUPS"] or {},
        public_status_page=bool(merged["PUBLIC_STATUS_PAGE"]),
        local_checks=merged["LOCAL_CHECKS"],
        local_check_seconds=merged["LOCAL_CHECK_SECONDS"],
        local_disk_min_free_mb=merged["LOCAL_DISK_MIN_FREE_MB"],
        local_shared_fraction=merged["LOCAL_SHARED_FRACTION"],
        drain_seconds=merged["DRAIN_SECONDS"],
        recycle_seconds=merged["RECYCLE_SECONDS"],
        instance=merged["INSTANCE"],
        instance_ttl=merged["INSTANCE_TTL"],
        instance_grace=merged["INSTANCE_GRACE"],
        dockerflow_checks=_strings(peers["DOCKERFLOW_CHECKS"]),
        dockerflow_version_callback=peers["DOCKERFLOW_VERSION_CALLBACK"],
        heartbeat_failed_status=peers["DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE"],
        summary_log_querystring=bool(peers["DOCKERFLOW_SUMMARY_LOG_QUERYSTRING"]),
        base_dir=peers["BASE_DIR"],
        token_name=peers["WATCHMAN_TOKEN_NAME"],
        watchman_checks=None if watchman_checks is None else tuple(watchman_checks),
        watchman_enable_paid_checks=bool(peers["WATCHMAN_ENABLE_PAID_CHECKS"]),
        watchman_databases=peers["WATCHMAN_DATABASES"],
        watchman_caches=peers["WATCHMAN_CACHES"],
        watchman_error_code=peers["WATCHMAN_ERROR_CODE"],
        watchman_auth_decorator=peers["WATCHMAN_AUTH_DECORATOR"],
        expose_watchman_version=bool(peers["EXPOSE_WATCHMAN_VERSION"]),
        celery_workers=_strings(peers["STATUS_CELERY_WORKERS"]),
        status_providers=peers["STATUS_PROVIDERS"] or {},
        celery_broker_url=peers["CELERY_BROKER_URL"],
        raw=merged,
    )
