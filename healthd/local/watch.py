"""A pod that stays unready is a transition like any other: the results the instance
watch (``healthd.tasks.watch_instances``, on beat's schedule) records for the pods.

Each pod is a check named ``instance:<name>``, recorded through the same record script
as every check (state, hysteresis, silences, the outbox: signals, one Sentry event,
notifications). It passes while the pod is ready, draining (stopping is no failure) or
unready for less than ``HEALTHD["INSTANCE_GRACE"]``, and fails with the pod's reason once
it has been unready longer. It is not critical and not in the health views: one pod's
trouble is not the site's. A pod that stops publishing (its keys expired) is recorded
passing once, "gone", if it was failing, then forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from healthd import conf
from healthd.checks.base import Check, Result, Status
from healthd.local.instances import Pod
from healthd.store import StoredResult
from healthd.store.latest import INSTANCE_FIELDS as PREFIX


def grace() -> float:
    return float(conf.get().instance_grace)


def watch_interval() -> int:
    """Seconds between two runs of the watch: a quarter of the grace, 1 to 30 s."""
    return max(1, min(30, round(grace() / 4)))


def check_name(pod_name: str) -> str:
    return f"{PREFIX}{pod_name}"


def _never_run() -> None:
    return None


def check_for(name: str) -> Check:
    """The check a pod's results are recorded as (never run: the watch decides them)."""
    return Check(name, func=_never_run, critical=False, interval=float(watch_interval()),
                 description="a web pod's own readiness (healthd.local)")



def result_for(pod: Pod, now: float) -> Result:
    name = check_name(pod.name)
    count = len(pod.processes)
    details: dict[str, float] = {"processes": count, "ready": pod.ready_count}
    if pod.ready:
        return Result(name, Status.PASSING, f"ready ({count} process{'es' * (count != 1)})",
                      now, 0.0, host=pod.name, critical=False, details=details)
    if pod.draining and not pod.own_failures:
        return Result(name, Status.PASSING, "draining", now, 0.0, host=pod.name,
                      critical=False, details=details)
    since = pod.unready_since or now
    unready_for = max(0.0, now - since)
    details["unready_since"] = since
    if unready_for < grace():
        return Result(name, Status.PASSING,
                      f"unready for {unready_for:.0f} s (within the {grace():g} s grace): "
                      f"{pod.reason}", now, 0.0, host=pod.name, critical=False, details=details)
    return Result(name, Status.FAILING, f"unready for {unready_for:.0f} s: {pod.reason}", now,
                  0.0, host=pod.name, critical=False, details=details)


def decide(pods: list[Pod], recorded: Mapping[str, StoredResult], now: float | None = None
           ) -> tuple[list[Result], list[str]]:
    """The results to record for the live pods and for the pods gone while failing, and
    the names to forget (gone, and passing as last recorded)."""
    now = time.time() if now is None else now
    results = [result_for(pod, now) for pod in pods]
    live = {r.name for r in results}
    forget = []
    for name, stored in recorded.items():
        if not name.startswith(PREFIX) or name in live:
            continue
        if stored.current == Status.PASSING:
            forget.append(name)
        else:
            results.append(Result(name, Status.PASSING, "gone: the pod no longer publishes "
                                  "its state", now, 0.0, host=name.removeprefix(PREFIX),
                                  critical=False))
    return results, forget
