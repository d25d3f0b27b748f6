"""Django system checks for healthd's settings: a malformed setting stops start-up
(``manage.py check``, ``runserver``, ``migrate``) with an error that names it.

Health checks are not registered here: they run on the schedule, not at start-up.
"""

from __future__ import annotations

from typing import Any

from django.core import checks as django_checks

from healthd import conf
from healthd.checks import registry
from healthd.checks.base import Check
from healthd.checks.passive import is_passive
from healthd.local import checks as local_checks
from healthd.system_checks import alerting as notify_checks  # noqa: F401 - registers NOTIFY's check
from healthd.system_checks import database as database_checks  # noqa: F401 - registers its checks
from healthd.util import redis_connect
from healthd.util.redact import redact

TAG = "healthd"

# Stable IDs: a site may silence one with SILENCED_SYSTEM_CHECKS.
E_NOT_A_DICT = "healthd.E001"
E_UNKNOWN_KEY = "healthd.E002"
E_NOT_POSITIVE = "healthd.E003"
E_BAD_REDIS_URL = "healthd.E004"
E_BAD_CHECKS = "healthd.E005"
E_NOT_WHOLE = "healthd.E006"
E_BAD_FAILED_STATUS = "healthd.E007"
E_BAD_GROUPS = "healthd.E008"
E_NOT_A_BOOL = "healthd.E009"
E_BAD_LOCAL_CHECKS = "healthd.E010"
E_BAD_INSTANCE = "healthd.E020"
W_RUN_LONGER_THAN_INTERVAL = "healthd.W001"

POSITIVE = ("INTERVAL", "TIMEOUT", "STALE_AFTER_INTERVALS", "REDIS_TIMEOUT", "CACHE_SECONDS",
            "CELERY_TIMEOUT", "STATS_INTERVAL", "SCHEDULE_REFRESH_SECONDS",
            "PASSIVE_SWEEP_INTERVAL", "INSTANCE_TTL", "INSTANCE_GRACE", "LOCAL_CHECK_SECONDS")
# Zero turns the feature off (DRAIN_SECONDS, RECYCLE_SECONDS) or is a meaningful floor
# (LOCAL_SHARED_FRACTION: 0 shares any failure another pod reports too).
NOT_NEGATIVE = ("DRAIN_SECONDS", "RECYCLE_SECONDS", "LOCAL_DISK_MIN_FREE_MB",
                "LOCAL_SHARED_FRACTION")
WHOLE = ("RETENTION_DAYS", "TRANSITION_RETENTION_DAYS", "CELERY_MIN_WORKERS")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://",
                 *redis_connect.CLUSTER_SCHEMES)


def _error(setting: str, problem: str, check_id: str) -> django_checks.CheckMessage:
    return django_checks.Error(f"{setting}: {problem}", id=check_id)


def _number_problems(user: dict[str, Any]) -> list[django_checks.CheckMessage]:
    found = []
    for name in POSITIVE:
        value = user.get(name, conf.DEFAULTS.get(name))
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            found.append(_error(f'HEALTHD["{name}"]', f"must be a positive number, not {value!r}",
                                E_NOT_POSITIVE))
    for name in NOT_NEGATIVE:
        value = user.get(name, conf.DEFAULTS.get(name))
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            found.append(_error(f'HEALTHD["{name}"]', f"must be a number >= 0, not {value!r}",
                                E_NOT_POSITIVE))
    instance = user.get("INSTANCE")
    if instance is not None and (not isinstance(instance, str) or not instance.strip()):
        found.append(_error('HEALTHD["INSTANCE"]', f"must be a non-empty string or None, not "
                            f"{instance!r}", E_BAD_INSTANCE))
    for name in WHOLE:
        value = user.get(name, conf.DEFAULTS.get(name))
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            found.append(_error(f'HEALTHD["{name}"]', f"must be a whole number >= 0, not {value!r}",
                                E_NOT_WHOLE))
    return found


@django_checks.register(TAG)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[django_checks.CheckMessage]:
    """Every malformed healthd setting, each naming the setting; empty when all is well."""
    user = conf.healthd_as_set()
    if user is None:
        user = {}
    if not isinstance(user, dict):
        return [_error("HEALTHD", f"must be a dict, not {type(user).__name__}", E_NOT_A_DICT)]
    found = []
    unknown = sorted(set(user) - set(conf.DEFAULTS))
    if unknown:
        found.append(_error("HEALTHD", f"unknown key(s) {unknown}; known: {sorted(conf.DEFAULTS)}",
                            E_UNKNOWN_KEY))
    found += _number_problems(user)
    url = user.get("REDIS_URL")
    if url is not None and (not isinstance(url, str) or not url.startswith(REDIS_SCHEMES)):
        found.append(_error('HEALTHD["REDIS_URL"]',
                            "must be a redis://, rediss://, unix://, redis+sentinel:// or "
                            f"redis+cluster:// URL, not {redact(url)!r}", E_BAD_REDIS_URL))
    elif isinstance(url, str) and url.startswith(redis_connect.CLUSTER_SCHEMES):
        try:
            redis_connect.cluster_nodes(url)
        except ValueError as exc:
            found.append(_error('HEALTHD["REDIS_URL"]', f"{exc}, not {redact(url)!r}",
                                E_BAD_REDIS_URL))
    status = conf.get().heartbeat_failed_status
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        found.append(_error("DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE",
                            f"must be an HTTP error status (400-599), not {status!r}",
                            E_BAD_FAILED_STATUS))
    public_page = user.get("PUBLIC_STATUS_PAGE", False)
    if not isinstance(public_page, bool):
        found.append(_error('HEALTHD["PUBLIC_STATUS_PAGE"]',
                            f"must be True or False, not {public_page!r}", E_NOT_A_BOOL))
    found += _group_problems(user.get("GROUPS"))
    if not found:
        # The checks are resolved from the other settings, so only once those are sound.
        for problem in registry.problems():
            found.append(_error('HEALTHD["CHECKS"]', problem, E_BAD_CHECKS))
        for problem in local_checks.problems():
            found.append(_error('HEALTHD["LOCAL_CHECKS"]', problem, E_BAD_LOCAL_CHECKS))
        if not found:
            found += _unknown_group_members(user.get("GROUPS"))
    if not found:
        found += _runs_that_outlast_their_interval()
    return found


def _group_problems(groups: Any) -> list[django_checks.CheckMessage]:
    """GROUPS is None or {label: [check names]}, each label and name a non-empty string."""
    if groups is None:
        return []
    setting = 'HEALTHD["GROUPS"]'
    if not isinstance(groups, dict):
        return [_error(setting, f"must be a dict of {{label: [check names]}}, not "
                                f"{type(groups).__name__}", E_BAD_GROUPS)]
    found = []
    for label, members in groups.items():
        if not isinstance(label, str) or not label.strip():
            found.append(_error(setting, f"a group label must be a non-empty string, not "
                                         f"{label!r}", E_BAD_GROUPS))
        if (isinstance(members, str) or not isinstance(members, list | tuple) or not members
                or not all(isinstance(name, str) for name in members)):
            found.append(_error(setting, f"group {label!r} must list check names, not "
                                         f"{members!r}", E_BAD_GROUPS))
    return found


def _unknown_group_members(groups: dict[str, list[str]] | None
                           ) -> list[django_checks.CheckMessage]:
    """A group member that is no configured check would silently never show."""
    if not groups:
        return []
    configured = {check.name for check in registry.configured_checks()}
    return [_error('HEALTHD["GROUPS"]', f"group {label!r} names {name!r}, which is not a "
                                        f"configured check", E_BAD_GROUPS)
            for label, members in groups.items() for name in members
            if name not in configured]


def _longest_run(check: Check) -> float:
    """How long one run of the check may take: its timeout, or less when the check bounds
    itself (the celery check waits at most its own ping timeout)."""
    own = getattr(getattr(check.func, "__self__", None), "timeout", None)
    if isinstance(own, int | float) and not isinstance(own, bool) and 0 < own < check.timeout:
        return float(own)
    return check.timeout


def _runs_that_outlast_their_interval() -> list[django_checks.CheckMessage]:
    """A check whose run can take longer than its interval cannot keep up: each scheduled
    run expires after one interval, so runs queued behind a slow one expire unrun."""
    warnings: list[django_checks.CheckMessage] = []
    for check in registry.configured_checks():
        if is_passive(check):
            continue  # never run: it reports in
        longest = _longest_run(check)
        if longest < check.interval:
            continue
        warnings.append(django_checks.Warning(
            f'HEALTHD["CHECKS"]: check {check.name!r} may take up to {longest:g} s a run '
            f"(its timeout) but is scheduled every {check.interval:g} s, so a run cannot "
            f"finish within its interval",
            hint=(f"Each scheduled run expires after one interval: runs queued behind a slow "
                  f"one expire unrun (at a 1 s interval, 43 % of runs did in a soak). Raise "
                  f"the interval above {longest:g} s or lower the check's timeout. Its results "
                  f"count as stale after {check.effective_stale_after:g} s."),
            id=W_RUN_LONGER_THAN_INTERVAL,
        ))
    return warnings
