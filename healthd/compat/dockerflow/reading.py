"""python-dockerflow's reading of the checks: Django's check levels, its keys and statuses.

dockerflow graded each check by the worst level of the messages it returned (0 for
none, ``INFO`` 20 for an Info such as ``dockerflow.health.I001``), named the overall
status after the worst level, listed in ``details`` only the checks with a level above
0, and keyed its own checks by their function names. The heartbeat, the early probe and
the signals read a check's level here, so they agree.
"""

from __future__ import annotations

from django.core import checks as django_checks

from healthd.checks.base import Status
from healthd.store import health as state

# dockerflow's names for Django's check levels.
LEVEL_TEXT = {
    0: "ok",
    django_checks.DEBUG: "debug",
    django_checks.INFO: "info",
    django_checks.WARNING: "warning",
    django_checks.ERROR: "error",
    django_checks.CRITICAL: "critical",
}
# The least level each status means.
STATUS_LEVEL = {
    Status.PASSING: 0,
    Status.WARNING: django_checks.WARNING,
    Status.FAILING: django_checks.ERROR,
    Status.STALE: django_checks.ERROR,
    Status.UNKNOWN: django_checks.ERROR,
}
# dockerflow's checks, which healthd's built-ins run, by the names dockerflow gave them.
FUNCTION_NAMES = {
    "database": "check_database_connected",
    "migrations": "check_migrations_applied",
    "redis": "check_redis_connected",
}


def level_text(level: int) -> str:
    """dockerflow's word for a level."""
    return LEVEL_TEXT.get(level, "unknown")


def level(check_state: state.CheckState) -> int:
    """The level dockerflow would give the check: the worst level of the messages its
    last run recorded (a passing check with only an Info is 20, with none 0), kept within
    what its status means (a failing, stale or never-run check is at least ERROR)."""
    floor = STATUS_LEVEL[check_state.status]
    result = check_state.result
    recorded = result.details.get("level") if result is not None and check_state.fresh else None
    if not isinstance(recorded, int) or isinstance(recorded, bool):
        return floor
    if check_state.status == Status.PASSING:
        return recorded if recorded < django_checks.WARNING else 0
    if check_state.status == Status.WARNING:
        return min(max(recorded, django_checks.WARNING), django_checks.ERROR - 1)
    return max(recorded, floor)


def key(check_state: state.CheckState) -> str:
    """The check's key in ``checks`` and ``details``: dockerflow's function name for the
    checks that stand for dockerflow's own, else the check's name."""
    return FUNCTION_NAMES.get(check_state.name, check_state.name)


def overall(health: state.Health, base: str) -> str:
    """The heartbeat's ``status``: ``base`` (healthd's verdict, which weighs critical and
    stale checks), except that a passing site whose worst message is an Info or a Debug
    reads as dockerflow named it (``info``)."""
    if base != "ok":
        return base
    worst = max((level(c) for c in health.checks), default=0)
    return level_text(worst) if worst < django_checks.WARNING else base
