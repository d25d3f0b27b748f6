"""A local failure most live pods share is not this pod's: /readyz stays 200 (verbose says
it is shared), the state published still names it, and a failure of this pod alone, one
at exactly the threshold, or one the pods' states cannot be read for still counts."""

from __future__ import annotations

import time

import pytest
from django.core.wsgi import get_wsgi_application
from django.test import Client

from healthd import wsgi
from healthd.checks.base import Status
from healthd.local import instances, shared, verdict, watch
from healthd.local.instances import ProcessState
from tests.site import localchecks
from tests.support.endpoints import call_wsgi
from tests.support.results import store_down, write_all
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

TOGGLED = {"check": "tests.site.localchecks.toggled", "name": "sidecar"}


@pytest.fixture(autouse=True)
def failing_here(settings):
    """This process's local check ``sidecar`` fails; LOCAL_CHECK_SECONDS is long, so each
    test's first probe is the one evaluation."""
    localchecks.reset()
    localchecks.failing.set()
    settings.HEALTHD = {**settings.HEALTHD, "LOCAL_CHECKS": [TOGGLED],
                        "LOCAL_CHECK_SECONDS": 30}
    write_all()
    yield
    localchecks.reset()


def _others(failing: int, passing: int, check: str = "sidecar") -> None:
    """Other pods' published states, as their own processes would write them."""
    now = time.time()
    for n in range(failing):
        instances.put(ProcessState(f"pod-f{n}", 100 + n, True, False,
                                   {check: "pgbouncer sidecar gone"}, now, now))
    for n in range(passing):
        instances.put(ProcessState(f"pod-p{n}", 200 + n, True, False, {}, now, now))


def _readyz(query: str = "") -> tuple[int, bytes]:
    """/readyz answered early and by the view: the same bytes."""
    early = call_wsgi(wsgi.probes(get_wsgi_application()), "/readyz", query=query)
    response = Client().get(f"/readyz?{query}" if query else "/readyz")
    assert (early.status, early.body) == (response.status_code, response.content)
    return response.status_code, response.content


def _this_pod() -> instances.Pod | None:
    return next((p for p in instances.pods() if p.name == instances.instance_name()), None)


def test_a_failure_most_pods_share_leaves_this_pod_ready_and_still_published(settings):
    _others(failing=2, passing=1)  # with this pod: 3 of 4
    assert _readyz() == (200, b"ok")
    assert _readyz("verbose") == (200, (
        b"[+]local:sidecar failing on 3 of 4 pods: shared, not counted\n"
        b"readyz check passed\n"))
    settings.DEBUG = True  # a caller allowed details also gets the reason
    assert Client().get("/readyz?verbose").content.decode().splitlines()[0] == (
        "[+]local:sidecar failing on 3 of 4 pods: shared, not counted: "
        "pgbouncer sidecar gone")
    # Published: the other pods see the failure, and this pod counts as ready.
    wait_for(lambda: (pod := _this_pod()) is not None and "sidecar" in pod.failures,
             timeout=5, message="this process's state to be published")
    pod = _this_pod()
    assert pod is not None and pod.ready and pod.reason.startswith("ready; shared")
    assert pod.processes[0].shared == ("sidecar",) and not pod.own_failures
    # So the instance watch sees no transition of this pod's.
    assert watch.result_for(pod, time.time()).status == Status.PASSING
    instances.forget()  # /metrics reads the pods at most once per CACHE_SECONDS
    body = Client().get("/metrics").content.decode()
    name = instances.instance_name()
    assert f'healthd_instance_ready{{instance="{name}"}} 1.0' in body
    assert f'healthd_instance_local_failing{{check="sidecar",instance="{name}"}} 1.0' in body


def test_a_failure_of_this_pod_alone_makes_it_unready():
    _others(failing=0, passing=3)
    assert _readyz()[0] == 503
    assert _readyz("verbose") == (503, (
        b"[-]local:sidecar failed: reason withheld\nreadyz check failed\n"))
    wait_for(lambda: (pod := _this_pod()) is not None and "sidecar" in pod.failures,
             timeout=5, message="this process's state to be published")
    pod = _this_pod()
    assert pod is not None and not pod.ready


def test_other_pods_failing_another_check_share_nothing():
    _others(failing=3, passing=0, check="disk")
    assert _readyz()[0] == 503


@pytest.mark.parametrize(("failing", "passing", "fraction", "status"), [
    (1, 2, 0.5, 503),  # 2 of 4: exactly the threshold counts
    (2, 1, 0.5, 200),  # 3 of 4: more than half
    (1, 0, 0.5, 200),  # 2 of 2
    (0, 0, 0.0, 503),  # alone: at least two pods must fail it
    (2, 1, 0.75, 503),  # 3 of 4 = 0.75: at the threshold
    (3, 0, 1.0, 503),  # 1 turns the rule off, even with every pod failing
])
def test_the_threshold(settings, failing, passing, fraction, status):
    settings.HEALTHD = {**settings.HEALTHD, "LOCAL_SHARED_FRACTION": fraction}
    _others(failing=failing, passing=passing)
    assert _readyz()[0] == status


def test_when_the_pods_cannot_be_read_the_failure_counts(settings):
    _others(failing=3, passing=0)
    store_down(settings)
    assert _readyz()[0] == 503
    assert _readyz("verbose")[1] == (
        b"[-]local:sidecar failed: reason withheld\nreadyz check failed\n")


def test_the_pods_are_read_once_per_evaluation_and_only_when_something_fails(
        settings, monkeypatch):
    reads: list[int] = []
    read_pods = instances.pods

    def counted(*args, **kwargs):
        reads.append(1)
        return read_pods(*args, **kwargs)

    monkeypatch.setattr(instances, "pods", counted)
    _others(failing=2, passing=0)
    for _ in range(30):
        assert _readyz()[0] == 200
    assert len(reads) == 1
    localchecks.failing.clear()
    verdict.forget()
    for _ in range(30):
        assert _readyz()[0] == 200
    assert len(reads) == 1  # a passing evaluation reads nothing


def test_the_rule_counts_pods_not_processes():
    now = time.time()
    pods = [instances.Pod("here", (ProcessState("here", 1, False, False, {"c": "x"}),)),
            instances.Pod("b", (ProcessState("b", 1, True, False, {}, now),
                                ProcessState("b", 2, True, False, {"c": "x"}, now))),
            instances.Pod("c", (ProcessState("c", 1, True, False, {}, now),))]
    assert dict(shared.among({"c": "x"}, pods, "here", 0.5)) == {
        "c": "failing on 2 of 3 pods"}
    assert dict(shared.among({"c": "x"}, pods[:1], "here", 0.0)) == {}
    # This pod counts once, published or not yet.
    assert dict(shared.among({"c": "x"}, pods[1:], "here", 0.5)) == {
        "c": "failing on 2 of 3 pods"}


def test_a_draining_pod_with_a_shared_failure_is_draining_to_the_watch():
    now = time.time()
    states = [ProcessState("pod-d", 1, False, True, {"connection": "refused"}, now, now,
                           None, ("connection",)),
              ProcessState("pod-e", 1, False, False, {"connection": "refused", "disk": "full"},
                           now, now, now - 120, ("connection",))]
    for state in states:
        assert ProcessState.from_json(state.as_json()) == state
    draining, unready = (instances.Pod(s.instance, (s,)) for s in states)
    assert watch.result_for(draining, now).message == "draining"
    assert unready.reason == "disk: full; shared, not counted: connection: refused"
    # A state published before the rule (no "shared") reads as sharing nothing.
    older = ProcessState.from_json(states[1].as_json().replace(', "shared": ["connection"]', ""))
    assert older is not None and older.shared == ()
