"""A local failure most pods share is not this pod's.

A local check such as ``connection`` fails on every pod when what it reaches is down for
everyone (the database itself): if each pod then answered 503 on ``/readyz``, the load
balancer would be left with no backend, the very outage readiness is meant to avoid. So
when an evaluation finds failing local checks, it reads the other live pods' published
states (:func:`healthd.local.instances.pods`, once per evaluation and only when something
fails, never per request) and calls a failing check *shared* when, counting this pod,
more than ``HEALTHD["LOCAL_SHARED_FRACTION"]`` (0.5) of the live pods that publish
report it failing, and at least two do. A shared failure does not make this pod unready;
it stays published (the admin, ``/metrics`` and the other pods still see it) and the
scheduled checks alert on it as the site's. When the pods cannot be read, nothing is
shared: the failure counts. A fraction of 1 or more turns the rule off.

The first-evaluation window: the first pod to see an outage finds the others still
publishing a pass, so it is unready until their next evaluation is published (at most
about ``LOCAL_CHECK_SECONDS`` plus the publish delay) and its own next evaluation reads
it: 0.94 to 1.00 s (seven runs) with ``LOCAL_CHECK_SECONDS`` 1, two gunicorn pods probed every
0.1 s (tests/local/test_local_web.py). A kubelet's ``failureThreshold`` (3 by default,
``periodSeconds`` 10) rides over that, and a load balancer that needs several failures in
a row does too. The published state lists shared failures (``ProcessState.shared``) with
the others: the other pods count them, and the instance watch sees a ready pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from healthd import conf
from healthd.local import instances
from healthd.store import client as redis_client
from healthd.util.logs import get_logger
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.local")

NOTHING: Mapping[str, str] = MappingProxyType({})


def fraction() -> float:
    """``HEALTHD["LOCAL_SHARED_FRACTION"]``; a malformed one (the system check names it)
    shares nothing: every failure counts, as it did before the rule."""
    try:
        value = float(conf.get().local_shared_fraction)
    except (TypeError, ValueError):
        return 1.0
    return value if value >= 0 else 1.0


def among(failures: Mapping[str, str], pods: list[instances.Pod], this: str,
          share: float) -> Mapping[str, str]:
    """The failing checks of ``failures`` (this pod's) that are shared among ``pods``
    (the live pods, this one among them or not), each with a line such as
    "failing on 3 of 4 pods"."""
    others = [pod for pod in pods if pod.name != this]
    total = len(others) + 1
    found = {}
    for name in failures:
        failing = 1 + sum(1 for pod in others if name in pod.failures)
        if failing >= 2 and failing / total > share:
            found[name] = f"failing on {failing} of {total} pods"
    return MappingProxyType(found) if found else NOTHING


def shared(failures: Mapping[str, str]) -> Mapping[str, str]:
    """Which of this process's failing local checks most live pods share (reads Redis
    once, only when something fails and the rule is on; nothing when it cannot)."""
    share = fraction()
    if not failures or share >= 1:
        return NOTHING
    try:
        pods = instances.pods()
    except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        logger.debug("could not read the pods' states, no failure is shared: %s",
                     redact(exc))
        return NOTHING
    return among(failures, pods, instances.instance_name(), share)
