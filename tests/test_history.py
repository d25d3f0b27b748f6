"""The database side of a run: rows, current state, and runs parked while it was away."""

from __future__ import annotations

import time

import pytest

from healthd import history, redis_client, store
from healthd.checks.base import Result, Status
from healthd.models import CheckResult, CheckStatus

pytestmark = pytest.mark.django_db


def _run(name: str, status: Status = Status.PASSING) -> list[Result]:
    return [Result(name, status, f"{name} {status}", time.time(), 0.01)]


def test_parked_runs_are_written_once_in_order_and_a_bad_one_is_set_aside():
    history._park(_run("first"), [])
    redis_client.writer().rpush(store.keys().history_backlog, '{"results": [{"bad": 1}]}')
    history._park(_run("second"), [])
    assert history.save(_run("current"), []) is True
    assert list(CheckResult.objects.order_by("id").values_list("name", flat=True)) == [
        "first", "second", "current"]
    client = redis_client.writer()
    assert client.llen(store.keys().history_backlog) == 0
    assert client.llen(store.keys().history_dead_letter) == 1
    assert history.save(_run("later"), []) is True  # nothing written twice
    assert CheckResult.objects.filter(name="first").count() == 1


def test_the_current_state_follows_results_and_transitions():
    history.save(_run("db"), [])
    failing = _run("db", Status.FAILING)
    history.save(failing, [store.StateChange("db", "passing", "failing", failing[0])])
    state = CheckStatus.objects.get(name="db")
    assert (state.status, state.streak) == ("failing", 1)
    history.save(_run("db", Status.FAILING), [])
    state.refresh_from_db()
    assert state.streak == 2


def test_the_dead_letter_list_keeps_the_newest_only(monkeypatch):
    monkeypatch.setattr(history, "DEAD_LETTER_LIMIT", 2)
    client = redis_client.writer()
    for n in range(3):
        client.rpush(store.keys().history_backlog, f'{{"results": [{{"bad": {n}}}]}}')
    history.flush_backlog()
    assert client.lrange(store.keys().history_dead_letter, 0, -1) == [
        '{"results": [{"bad": 1}]}', '{"results": [{"bad": 2}]}']
