"""With a real Celery worker (and beat): the celery check, the first run, the task itself."""

from __future__ import annotations

import statistics
import time

import pytest
from django.conf import settings

from healthd import store
from healthd.checks.base import Check, Status
from healthd.checks.celery import Celery
from healthd.checks.runner import run_concurrently
from healthd.models import CheckResult
from tests.support.processes import start_process, stop_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _run(probe, timeout=15.0):
    (result,) = run_concurrently([Check("celery", probe.run, timeout=timeout)])
    return result


def _timed(probe):
    started = time.monotonic()
    result = _run(probe)
    return result, time.monotonic() - started


def test_a_worker_start_queues_the_first_run_within_seconds(celery_worker):
    # measured by the fixture: from starting the process to results in Redis
    assert celery_worker.first_run_after < 30


def test_celery_passes_when_the_expected_worker_answers(celery_worker):
    result = _run(Celery(workers=(celery_worker.hostname,), timeout=3))
    assert result.status == Status.PASSING, result.message
    assert result.value >= 1 and result.unit == "workers"
    assert result.details["workers"] == [celery_worker.hostname]
    assert result.details["queues"] == {settings.CELERY_TASK_DEFAULT_QUEUE: True}


@pytest.mark.parametrize("expected", ["full name", "host name", "min_workers"])
def test_celery_stops_listening_once_the_expected_workers_answered(celery_worker, expected):
    workers = {"full name": (celery_worker.hostname,),
               "host name": (celery_worker.hostname.split("@", 1)[1],),
               "min_workers": ()}[expected]
    probe = Celery(workers=workers, min_workers=1, timeout=3)
    durations = []
    for _ in range(10):
        result, took = _timed(probe)
        assert result.status == Status.PASSING, result.message
        durations.append(took)
    # the timeout is 3 s: a limit= on the broadcast ends it at the answers
    assert statistics.median(durations) <= 0.5, durations
    assert max(durations) < 2.5, durations


def test_celery_fails_naming_a_missing_worker_after_the_timeout(celery_worker):
    result, took = _timed(Celery(workers=(celery_worker.hostname, "ghost@nowhere"), timeout=1))
    assert result.status == Status.FAILING
    assert "ghost@nowhere" in result.message
    assert result.details["missing"] == ["ghost@nowhere"]
    assert result.details["workers"] == [celery_worker.hostname]
    # it listens out the timeout for the missing one, once
    assert 1.0 <= took < 2.5


def test_celery_fails_naming_a_missing_host(celery_worker):
    result, took = _timed(Celery(workers=("nowhere",), timeout=1))
    assert result.status == Status.FAILING
    assert result.details["missing"] == ["nowhere"]
    assert 1.0 <= took < 2.5


def test_celery_fails_when_fewer_than_min_workers_answer(celery_worker):
    result, took = _timed(Celery(workers=(), min_workers=2, timeout=1))
    assert result.status == Status.FAILING
    assert result.message == "1 worker(s) answered, expected at least 2"
    assert 1.0 <= took < 2.5


def test_celery_fails_when_a_queue_has_no_consumer(celery_worker, settings):
    from celery import current_app
    from kombu import Queue

    current_app.conf.task_queues = [Queue(settings.CELERY_TASK_DEFAULT_QUEUE), Queue("orphan")]
    try:
        result, took = _timed(Celery(workers=(), timeout=1))
    finally:
        current_app.conf.task_queues = None
    assert result.status == Status.FAILING
    assert "orphan" in result.message
    # the first worker's answer did not settle it: every worker was heard out first
    assert result.details["stopped_early"] is False
    assert result.details["queues"] == {settings.CELERY_TASK_DEFAULT_QUEUE: True, "orphan": False}
    assert took >= 1.0


def test_the_task_runs_every_check_inside_the_worker_and_stores_them(celery_worker):
    from healthd.tasks import run_checks as run_task

    before = CheckResult.objects.filter(name="celery").count()
    run_task.delay()
    wait_for(lambda: CheckResult.objects.filter(name="celery").count() > before, timeout=30,
             message="the worker's run to reach the database")
    records = store.read_latest().records
    assert records["celery"].state == "passing", records["celery"].message
    assert {"database", "migrations", "cache", "redis", "celery", "email", "storage"} <= set(
        records)


def test_beat_runs_the_schedule_at_the_configured_interval(celery_worker, settings):
    from healthd.tasks.schedule import sync_schedule

    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": 1}
    sync_schedule()
    beat = start_process(
        ["beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
         "--loglevel", "INFO", "--max-interval", "1"],
        "beat",
    )
    try:
        first = wait_for(lambda: CheckResult.objects.filter(name="storage").count() >= 2,
                         timeout=45, message="two scheduled runs")
        assert first
        times = sorted(CheckResult.objects.filter(name="storage")
                       .values_list("checked_at", flat=True))[-2:]
        assert 0.5 <= (times[1] - times[0]).total_seconds() <= 10
    finally:
        stop_process(beat)


def test_celery_leaves_nothing_behind_on_the_pooled_connections(celery_worker):
    """Each run binds and deletes a reply queue; kombu's Redis transport would remember
    every one of them on the pooled connection (its routing table, the queue's expiry)."""
    from celery import current_app
    from kombu.exceptions import LimitExceeded

    reply_exchange = current_app.control.mailbox.reply_exchange.name

    def remembered() -> int:
        pooled = []
        try:
            while True:
                pooled.append(current_app.pool.acquire(block=False))
        except LimitExceeded:  # every connection the pool may hold is in hand
            pass
        try:
            count = 0
            for connection in pooled:
                if connection._transport is None:
                    continue
                state = connection.transport.state
                count += len(state.exchanges.get(reply_exchange, {}).get("table", []))
                for channel in connection.transport.channels:
                    count += sum(q.endswith(reply_exchange) for q in channel._expires)
            return count
        finally:
            for connection in pooled:
                connection.release()

    before = remembered()  # what this process's own pings (the fixture's) left
    probe = Celery(workers=(), timeout=3)
    for _ in range(30):
        assert probe.run().status == Status.PASSING
    assert remembered() == before


def test_a_worker_being_replaced_is_not_missing_until_its_deadline(celery_worker, settings):
    from healthd.store import client as redis_client
    from healthd.tasks import replacing
    from healthd.tasks.run import run_and_record

    def named(*workers: str, **more: object) -> None:
        settings.HEALTHD = {**settings.HEALTHD, "CELERY_TIMEOUT": 1, **more,
                            "CHECKS": [{"check": "celery", "workers": list(workers)}]}

    def stored() -> tuple[Status, str]:
        (result,) = run_and_record(["celery"]).results
        latest = store.read_latest().records["celery"]
        assert (latest.status, latest.message) == (result.status, result.message)
        return result.status, result.message

    named(celery_worker.hostname, "ghost@nowhere")
    assert stored() == (Status.FAILING, "workers not answering: ghost@nowhere")
    named(celery_worker.hostname)  # ghost is up and answering: the check passes
    assert stored()[0] is Status.PASSING
    named(celery_worker.hostname, "ghost@nowhere")
    replacing.mark("ghost@nowhere")  # as a worker does before its warm shutdown
    assert stored() == (Status.PASSING, "1 worker(s) answered; being replaced: ghost@nowhere")
    # Its fresh process never came back: missing again once the deadline has passed.
    redis_client.writer().hset(store.keys().workers_replacing, "ghost@nowhere",
                               str(time.time() - 1))
    assert stored()[0] is Status.FAILING
    replacing.mark("ghost@nowhere")
    replacing.unmark("ghost@nowhere")  # as the fresh process does once ready
    assert stored()[0] is Status.FAILING


def test_a_failing_verdict_stays_failing_while_a_worker_is_replaced(celery_worker, settings):
    """A replacement turns no check green: the minimum cannot be judged while a named
    worker is away, so the verdict of the run before stands (no transition either way)."""
    from healthd.models import Transition
    from healthd.tasks import replacing
    from healthd.tasks.run import run_and_record

    settings.HEALTHD = {**settings.HEALTHD, "CELERY_TIMEOUT": 1, "CELERY_MIN_WORKERS": 3,
                        "CHECKS": [{"check": "celery", "workers": [celery_worker.hostname]}]}
    (result,) = run_and_record(["celery"]).results
    assert (result.status, result.message) == (
        Status.FAILING, "1 worker(s) answered, expected at least 3")
    transitions = Transition.objects.count()

    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"check": "celery", "workers": [celery_worker.hostname, "ghost@nowhere"]}]}
    replacing.mark("ghost@nowhere")
    for _ in range(2):  # and the run after it, whose "before" was already kept
        (result,) = run_and_record(["celery"]).results
        assert (result.status, result.message) == (
            Status.FAILING,
            "1 worker(s) answered, expected at least 3 (being replaced: ghost@nowhere)")
        assert store.read_latest().records["celery"].status is Status.FAILING
    assert Transition.objects.count() == transitions
    replacing.unmark("ghost@nowhere")
