"""A dead man's switch for the scheduler: Sentry Crons check-ins around each run.

When ``HEALTHD["SENTRY_CRONS"]`` is on and sentry-sdk is initialised, each scheduled
run checks in (in progress, then ok or error) to a monitor whose schedule, margin,
maximum runtime and thresholds come from the checks' own settings, so Sentry alerts
when beat or every worker stops, which no check can report about itself.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import sentry_sdk
from sentry_sdk.crons import capture_checkin
from sentry_sdk.crons.consts import MonitorStatus

from healthd import conf
from healthd.checks.base import Check
from healthd.util.logs import get_logger

if TYPE_CHECKING:
    from sentry_sdk._types import MonitorConfig

logger = get_logger("healthd.crons")


def monitor_slug(once_per: float) -> str:
    return f"healthd-checks-every-{round(once_per)}s"


def monitor_config(checks: list[Check], once_per: float) -> MonitorConfig:
    """Sentry's monitor_config for a run of these checks every ``once_per`` seconds."""
    minutes = max(1, math.ceil(once_per / 60))  # Sentry's interval schedules count minutes
    return {
        "schedule": {"type": "interval", "value": minutes, "unit": "minute"},
        "checkin_margin": minutes,
        "max_runtime": max(1, math.ceil(max((c.timeout for c in checks), default=60) / 60)),
        "failure_issue_threshold": max((c.failures_before_failing for c in checks), default=1),
        "recovery_threshold": max((c.successes_before_passing for c in checks), default=1),
    }


def _sentry_active() -> bool:
    client = sentry_sdk.get_client()
    return client.is_active() and bool(client.dsn)


@contextlib.contextmanager
def checked_in(checks: list[Check], once_per: float | None) -> Iterator[None]:
    """Check in around a scheduled run; does nothing when off, unscheduled or without Sentry."""
    if not (once_per and conf.get().sentry_crons and _sentry_active()):
        yield
        return
    slug = monitor_slug(once_per)
    config = monitor_config(checks, once_per)
    started = time.monotonic()
    check_in_id = capture_checkin(monitor_slug=slug, status=MonitorStatus.IN_PROGRESS,
                                  monitor_config=config)
    status = MonitorStatus.ERROR
    try:
        yield
        status = MonitorStatus.OK
    finally:
        capture_checkin(monitor_slug=slug, check_in_id=check_in_id, status=status,
                        duration=time.monotonic() - started, monitor_config=config)
