"""Every setting healthd reads, with its default: the one table.

``DEFAULTS`` are the keys of the site's ``HEALTHD`` dict. ``PEER_DEFAULTS`` are settings of
their own that healthd honours under the names the packages it replaces gave them
(python-dockerflow, django-watchman, django-status), plus Celery's broker and the
project's folder, so a site switches without an edit. Django's own settings (DEBUG,
DATABASES, CACHES, MIDDLEWARE…) are Django's to default.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

DEFAULTS: dict[str, Any] = {
    # None: every built-in the site's settings make meaningful (see checks.registry).
    "CHECKS": None,
    "INTERVAL": 30.0,
    "TIMEOUT": 10.0,
    "MAX_CONCURRENCY": 32,  # checks or stats providers run at once; a hung one stops counting
    # A result older than this many intervals counts as stale (failing).
    "STALE_AFTER_INTERVALS": 3,
    # None: the REDIS_URL environment variable, else the broker's when it is a Redis.
    "REDIS_URL": None,
    "KEY_PREFIX": "healthd:",
    # Socket and connect timeout of the reading client, in seconds.
    "REDIS_TIMEOUT": 0.25,
    # How old the per-process copy of the latest results may get, in seconds.
    "CACHE_SECONDS": 1.0,
    # Show per-check details to anonymous callers of the heartbeat (DEBUG does too).
    "PUBLIC_DETAILS": False,
    # Tokens that unlock details; WATCHMAN_TOKEN(S) are read as well.
    "TOKENS": (),
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
    "NOTIFY": (),
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
    # Transitions decided within GROUP_WAIT seconds of the first reach each channel as one
    # notification (root causes first, dependents held back listed as suppressed); later
    # ones within GROUP_INTERVAL seconds of that notification join one follow-up.
    # GROUP_WAIT 0: one notification per transition, as soon as it is decided.
    "GROUP_WAIT": 10.0,
    "GROUP_INTERVAL": 60.0,
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
    # Checks each web process runs itself for /readyz (same entry forms as CHECKS, with the
    # built-ins connection, disk and memory); None: every one of those that applies.
    "LOCAL_CHECKS": None,
    # Seconds a web process keeps its local checks' answers before it runs them again.
    "LOCAL_CHECK_SECONDS": 5.0,
    # The local check "disk" fails below this many megabytes free where the site writes.
    "LOCAL_DISK_MIN_FREE_MB": 100.0,
    # A failing local check is "shared", and does not make the pod unready, when more than
    # this fraction of the live pods (and at least 2) report it failing; 1 or more: off.
    "LOCAL_SHARED_FRACTION": 0.5,
    # --- each web process judged on its own (healthd.local) ---
    # Seconds a web process told to stop (SIGTERM) answers 503 "draining" on /readyz while
    # it still serves every other request, before its server starts its graceful stop.
    "DRAIN_SECONDS": 5.0,
    # Seconds a gunicorn worker serves before it is replaced by a fresh one (plus up to a
    # tenth more, so workers go one at a time); 0: never (healthd.local.gunicorn_recycle).
    "RECYCLE_SECONDS": 21600.0,
    # The name a web process publishes its state under; None: the HOSTNAME environment
    # variable (a Kubernetes pod's name), else the host name.
    "INSTANCE": None,
    # Seconds a published state lives in Redis unless refreshed: a dead pod disappears.
    "INSTANCE_TTL": 30.0,
    # Seconds a pod may stay unready before that is a transition (signals, Sentry, channels).
    "INSTANCE_GRACE": 60.0,
}

PEER_DEFAULTS: dict[str, Any] = {
    # python-dockerflow: check functions run on the schedule too.
    "DOCKERFLOW_CHECKS": (),
    # A dotted path called with BASE_DIR for /__version__; None: version.json in BASE_DIR.
    "DOCKERFLOW_VERSION_CALLBACK": None,
    # The heartbeat's status code when a check fails (400-599).
    "DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE": 500,
    # Request summaries carry the query string (its secrets masked).
    "DOCKERFLOW_SUMMARY_LOG_QUERYSTRING": False,
    # Where version.json is (and the repository the code stats look at).
    "BASE_DIR": ".",
    # django-watchman: a token, and a comma-separated list of them, that unlock details.
    "WATCHMAN_TOKEN": None,
    "WATCHMAN_TOKENS": None,
    # The query parameter a token is presented in.
    "WATCHMAN_TOKEN_NAME": "watchman-token",
    # Check functions run on the schedule and shown by /watchman/; None: watchman's defaults.
    "WATCHMAN_CHECKS": None,
    # watchman's default set includes email.
    "WATCHMAN_ENABLE_PAID_CHECKS": False,
    # The database and cache aliases /watchman/ shows; None: every one.
    "WATCHMAN_DATABASES": None,
    "WATCHMAN_CACHES": None,
    # /watchman/'s status code when a check fails.
    "WATCHMAN_ERROR_CODE": 500,
    # The guard of /watchman/ and its dashboard, a dotted path; None: no guard.
    "WATCHMAN_AUTH_DECORATOR": "watchman.decorators.token_required",
    # The answers carry X-Watchman-Version.
    "EXPOSE_WATCHMAN_VERSION": False,
    # django-status: the Celery workers expected to answer (none: whoever answers).
    "STATUS_CELERY_WORKERS": (),
    # {resource: ((name, dotted path, args, kwargs), ...)}: providers added or replaced.
    "STATUS_PROVIDERS": MappingProxyType({}),
    # Celery's broker: a Redis one is a Redis to check, and the store's when none is set.
    "CELERY_BROKER_URL": None,
}
