"""What a run costs: the same few SQL statements and Redis round trips whatever the number
of checks (invariant 7), and history that two workers writing at once cannot lose."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from redis.connection import AbstractConnection

from healthd import store
from healthd.checks.base import Result, Status
from healthd.history import write as history
from healthd.models import CheckResult, CheckStatus, HourlyRollup, Transition
from healthd.store import client as redis_client
from healthd.tasks.run import run_and_record

MAX_SQL = 8
MAX_ROUND_TRIPS = 2


def passes() -> str:
    return "ok"


class RoundTrips:
    """Counts what redis-py writes to a socket for the run: a pipeline or a script call is
    one. Only the test's own thread counts (a background thread of this process, such as
    the instance publisher an earlier test started, writes on its own schedule), and a new
    connection's handshake does not (the pool opens one when that thread holds its
    connection): neither is the run's cost."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        self.thread = threading.get_ident()
        self._connecting = threading.local()
        send = AbstractConnection.send_packed_command
        connect = AbstractConnection.connect_check_health

        def counting(connection, command, check_health=True):
            if (threading.get_ident() == self.thread
                    and not getattr(self._connecting, "now", False)):
                self.count += 1
            return send(connection, command, check_health)

        def connecting(connection, *args, **kwargs):
            self._connecting.now = True
            try:
                return connect(connection, *args, **kwargs)
            finally:
                self._connecting.now = False

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
        monkeypatch.setattr(AbstractConnection, "connect_check_health", connecting)


def _cost(count: int, settings, round_trips: RoundTrips) -> tuple[int, int]:
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"check": "tests.tasks.test_run_cost.passes", "name": f"synthetic-{count}-{i}"}
        for i in range(count)]}
    redis_client.writer().ping()  # the connection's own handshake is not the run's
    round_trips.count = 0
    with CaptureQueriesContext(connection) as queries:
        summary = run_and_record()
    assert summary.stored and summary.saved and len(summary.results) == count
    return len(queries), round_trips.count


@pytest.mark.django_db
def test_a_run_costs_the_same_few_statements_and_round_trips_whatever_its_size(
        settings, monkeypatch):
    round_trips = RoundTrips(monkeypatch)
    costs = {}
    for count in (3, 40, 400):
        first = _cost(count, settings, round_trips)  # Redis has never seen these checks
        later = _cost(count, settings, round_trips)
        costs[count] = (first, later)
        assert first[0] <= MAX_SQL and later[0] <= MAX_SQL, costs
        # The first run asks the database about the checks Redis has never seen, and
        # records them with what it knows: one more round trip, once.
        assert first[1] <= MAX_ROUND_TRIPS and later[1] == 1, costs
    assert len(set(costs.values())) == 1, costs
    assert CheckResult.objects.count() == 2 * (3 + 40 + 400)
    assert CheckStatus.objects.get(name="synthetic-400-7").streak == 2


def _results(names: list[str], at: float, status: Status = Status.PASSING) -> list[Result]:
    return [Result(name, status, "ok", at, 0.01 * (index + 1))
            for index, name in enumerate(names)]


@pytest.mark.django_db(transaction=True)
def test_two_workers_adding_to_the_same_hour_at_once_both_count():
    """The rollup was update-then-create: two workers finding no row both created it, and
    the loser's whole run (results, rollups, state) went to the backlog."""
    names = [f"race-{i}" for i in range(20)]
    hour = (time.time() // 3600 - 5) * 3600
    rounds, saved, errors = 5, [], []
    lock = threading.Lock()

    def worker(barrier: threading.Barrier, at: float) -> None:
        try:
            barrier.wait()
            ok = history.save(_results(names, at), [], backlog=0)
            with lock:
                saved.append(ok)
        except Exception as exc:  # pragma: no cover - the test says which
            errors.append(exc)
        finally:
            connections.close_all()

    for index in range(rounds):
        at = hour - 3600 * index + 60  # a new hour each round: no rollup row yet
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=worker, args=(barrier, at + offset))
                   for offset in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == [] and saved == [True] * (2 * rounds)
    assert CheckResult.objects.count() == 2 * rounds * len(names)
    rollups = HourlyRollup.objects.filter(name__in=names)
    assert rollups.count() == rounds * len(names)
    assert {r.runs for r in rollups} == {2}
    assert redis_client.writer().llen(store.keys().history_backlog) == 0


FAILING: set[str] = set()


def flips() -> str:
    """Fails while FAILING holds anything: a transition on demand, at no round trip."""
    if FAILING:
        raise RuntimeError("flipped")
    return "ok"


# A run in which checks change state costs more: per transition, about four statements
# (the Transition row and its delivery's bookkeeping) and six Redis round trips (the
# outbox read, claimed and acknowledged; the incident's grouping); one transition in a
# run of any size: 12 statements and 14 or 15 round trips (README, "What a run costs").
SQL_PER_TRANSITION = 4
ROUND_TRIPS_PER_TRANSITION = 6
SQL_ONE_TRANSITION = 12
ROUND_TRIPS_ONE_TRANSITION = 15


def _transition_cost(count: int, failing: int, settings, round_trips: RoundTrips
                     ) -> tuple[tuple[int, int], tuple[int, int]]:
    """(SQL, round trips) of a run where ``failing`` of ``count`` checks turn failing, and
    of the run after it."""
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"check": f"tests.tasks.test_run_cost.{'flips' if i < failing else 'passes'}",
         "name": f"flip-{count}-{failing}-{i}"} for i in range(count)]}
    FAILING.clear()
    run_and_record()
    run_and_record()
    FAILING.add("now")
    try:
        costs = []
        for _ in range(2):
            redis_client.writer().ping()
            round_trips.count = 0
            with CaptureQueriesContext(connection) as queries:
                summary = run_and_record()
            assert summary.stored and summary.saved
            costs.append((len(queries), round_trips.count))
    finally:
        FAILING.clear()
    return costs[0], costs[1]


@pytest.mark.django_db
def test_a_run_with_transitions_costs_a_bounded_amount_per_transition(settings, monkeypatch):
    round_trips = RoundTrips(monkeypatch)
    for count in (3, 400):
        (sql, trips), after = _transition_cost(count, 1, settings, round_trips)
        assert sql <= SQL_ONE_TRANSITION, (count, sql, trips)
        assert trips <= ROUND_TRIPS_ONE_TRANSITION, (count, sql, trips)
        assert after == (7, 1)  # the state holds: back to the usual run
    failing = 5
    (sql, trips), after = _transition_cost(40, failing, settings, round_trips)
    assert sql <= 8 + SQL_PER_TRANSITION * failing, (sql, trips)
    assert trips <= 8 + ROUND_TRIPS_PER_TRANSITION * failing, (sql, trips)
    assert after == (7, 1)
    assert Transition.objects.filter(status="failing").count() == 1 + 1 + failing
