"""The outbox: a transition enters the stream in the same atomic step that decides it, is
delivered through a consumer group (signals, one Sentry event, one row, notifications),
is taken again when a consumer died with it, and the stream stays bounded."""

from __future__ import annotations

import json
import time

import pytest
import sentry_sdk
from django.db import OperationalError

from healthd import signals, store
from healthd.alerting import outbox
from healthd.checks.base import Check, Result, Status
from healthd.models import Transition
from healthd.store import client as redis_client
from healthd.tasks import deliver
from healthd.tasks.run import run_and_record
from tests.support.alerting import LoopbackServer, sentry_events
from tests.support.results import TOGGLED, toggled
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

@pytest.fixture
def failed_calls():
    calls = []

    def receiver(sender, check, previous, result, transition_id, silenced, **kwargs):
        calls.append((check, previous, str(result.status), transition_id, silenced))

    signals.check_failed.connect(receiver)
    yield calls
    signals.check_failed.disconnect(receiver)


def _stream() -> list:
    return redis_client.writer().xrange(store.keys().outbox)


def _result(name: str, status: Status, at: float | None = None) -> Result:
    return Result(name, status, f"{name} {status}", at or time.time(), 0.01)


def test_a_transition_is_delivered_once_with_its_id_and_the_stream_is_left_empty(
        toggled_check, failed_calls):
    run_and_record()
    TOGGLED["fail"] = True
    summary = run_and_record()
    run_and_record()  # still failing: nothing new
    (transition,) = summary.transitions
    (call,) = failed_calls
    assert call[:3] == ("toggled", "passing", "failing") and call[4] is False
    row = Transition.objects.get(name="toggled")
    assert row.transition_id == call[3] == transition.result.id
    assert (row.previous, row.status, row.silenced) == ("passing", "failing", False)
    assert outbox.stats()["pending"] == 0
    assert _stream() == []  # trimmed once delivered


def test_the_script_appends_each_transition_once_even_when_replayed():
    check = Check("db", lambda: None)
    first = _result("db", Status.PASSING)
    store.record([first], [check])
    assert _stream() == []  # a first pass is not news
    failing = _result("db", Status.FAILING)
    store.record([failing], [check])
    store.record([failing], [check])  # redis-py retrying after a lost reply
    ((_, fields),) = _stream()
    assert fields["id"] == failing.id and fields["kind"] == "transition"
    assert (fields["check"], fields["previous"], fields["status"]) == ("db", "passing",
                                                                       "failing")
    assert Result.from_dict(json.loads(fields["result"])).id == failing.id


def test_an_entry_a_dead_consumer_took_is_delivered_by_the_next_run_once(
        toggled_check, failed_calls, settings):
    settings.HEALTHD = {**settings.HEALTHD, "OUTBOX_VISIBILITY_TIMEOUT": 0.2}
    check = Check("toggled", toggled)
    store.record([_result("toggled", Status.PASSING)], [check])
    failing = _result("toggled", Status.FAILING)
    store.record([failing], [check])
    (taken,) = outbox.take("worker-that-dies")  # then it is killed: never acknowledged
    assert outbox.take("another") == []  # not visible to others before the timeout
    wait_for(lambda: outbox.take("another"), timeout=5, message="the entry to be claimable")
    # "another" claimed it but died too; the next run's delivery claims it again.
    wait_for(lambda: deliver.deliver_outbox() == 1, timeout=5, message="the redelivery")
    assert [c[3] for c in failed_calls] == [taken.id]
    assert Transition.objects.filter(transition_id=taken.id).count() == 1
    assert outbox.stats()["pending"] == 0


def test_a_slow_receiver_in_a_live_worker_keeps_its_entry(toggled_check, settings):
    settings.HEALTHD = {**settings.HEALTHD, "OUTBOX_VISIBILITY_TIMEOUT": 0.3}
    check = Check("toggled", toggled)
    store.record([_result("toggled", Status.PASSING)], [check])
    store.record([_result("toggled", Status.FAILING)], [check])
    stolen = []

    def slow(sender, **kwargs):
        # Three visibility timeouts inside one receiver: the lease keeps the entry ours.
        until = time.monotonic() + 0.9
        while time.monotonic() < until:
            stolen.extend(outbox.take("another"))
            time.sleep(0.05)

    signals.check_failed.connect(slow)
    try:
        assert deliver.deliver_outbox() == 1
    finally:
        signals.check_failed.disconnect(slow)
    assert stolen == []
    assert Transition.objects.filter(name="toggled").count() == 1


def test_a_delivery_cut_short_repeats_only_the_steps_not_done(
        toggled_check, failed_calls, settings, monkeypatch):
    settings.HEALTHD = {**settings.HEALTHD, "OUTBOX_VISIBILITY_TIMEOUT": 0.1}
    check = Check("toggled", toggled)
    store.record([_result("toggled", Status.PASSING)], [check])
    store.record([_result("toggled", Status.FAILING)], [check])

    def database_away(entry):
        raise OperationalError("database is away")

    monkeypatch.setattr(deliver, "_save_transition", database_away)
    assert deliver.deliver_outbox() == 0  # signals sent, row not written: stays pending
    assert len(failed_calls) == 1 and outbox.stats()["pending"] == 1
    monkeypatch.undo()
    wait_for(lambda: deliver.deliver_outbox() == 1, timeout=5, message="the row's retry")
    assert len(failed_calls) == 1  # the signals were done: not sent again
    assert Transition.objects.filter(name="toggled").count() == 1


def test_a_redelivered_row_is_not_written_twice():
    check = Check("db", lambda: None)
    store.record([_result("db", Status.PASSING)], [check])
    store.record([_result("db", Status.FAILING)], [check])
    (entry,) = outbox.take("one")
    deliver._save_transition(entry)
    deliver._save_transition(entry)
    assert Transition.objects.filter(transition_id=entry.id).count() == 1


def test_the_stream_never_grows_past_its_maxlen_even_when_nobody_delivers(settings):
    settings.HEALTHD = {**settings.HEALTHD, "OUTBOX_MAXLEN": 5}
    check = Check("flappy", lambda: None)
    at = time.time() - 100
    for index in range(20):
        status = Status.FAILING if index % 2 else Status.PASSING
        store.record([_result("flappy", status, at + index)], [check])
    assert redis_client.writer().xlen(store.keys().outbox) == 5


def test_trim_keeps_every_entry_not_yet_acknowledged():
    check = Check("db", lambda: None)
    store.record([_result("db", Status.PASSING)], [check])
    at = time.time()
    store.record([_result("db", Status.FAILING, at)], [check])
    (first,) = outbox.take("slow")
    store.record([_result("db", Status.PASSING, at + 1)], [check])
    store.record([_result("db", Status.FAILING, at + 2)], [check])
    second, third = outbox.take("fast")
    outbox.acknowledge(third)
    outbox.trim()
    assert [fields["id"] for _, fields in _stream()] == [first.id, second.id, third.id]
    outbox.acknowledge(first)
    outbox.trim()
    assert [fields["id"] for _, fields in _stream()] == [second.id, third.id]
    outbox.acknowledge(second)
    outbox.trim()
    assert _stream() == []


@pytest.fixture
def sentry_ingest():
    """sentry-sdk initialised as a user writes it (default integrations on), sending to a
    real HTTP server on loopback that keeps the envelopes."""
    with LoopbackServer() as server:
        sentry_sdk.init(dsn=f"http://public@127.0.0.1:{server.port}/1")
        yield server
        sentry_sdk.flush(timeout=5)
        sentry_sdk.init(dsn=None)


def test_one_sentry_event_per_transition_with_default_integrations(
        toggled_check, sentry_ingest, caplog):
    run_and_record()
    TOGGLED["fail"] = True
    for _ in range(6):  # one transition and five more failing runs
        run_and_record()
    TOGGLED["fail"] = False
    run_and_record()
    sentry_sdk.flush(timeout=5)
    events = sentry_events(sentry_ingest)
    assert [e["level"] for e in events] == ["error", "info"], [e.get("message") or
                                                               e.get("logentry") for e in events]
    failed, recovered = events
    assert failed["tags"]["healthd.transition"] == "failed"
    assert recovered["tags"]["healthd.transition"] == "recovered"
    assert failed["contexts"]["healthd"]["transition_id"] == Transition.objects.get(
        status="failing").transition_id
    assert "pa55word" not in repr(events)
    # Each failing run is still logged with its detail, just not sent to Sentry.
    assert caplog.text.count("check toggled raised RuntimeError") == 6


def test_an_entry_abandoned_behind_more_than_a_thousand_live_ones_is_taken_again(settings):
    """XAUTOCLAIM looks at no more than 10 times COUNT pending entries per call: started from 0-0
    each time, the scan never reached an entry abandoned behind 1,000 live ones."""
    settings.HEALTHD = {**settings.HEALTHD, "OUTBOX_VISIBILITY_TIMEOUT": 60.0}
    client = redis_client.writer()
    key = store.keys().outbox
    outbox.take("nobody")  # the group exists (nothing in it yet)
    live = 1_200
    with client.pipeline(transaction=False) as pipe:
        for index in range(live):
            pipe.xadd(key, {"id": f"live-{index}", "check": "busy", "status": "failing",
                            "result": "{}"})
        pipe.execute()
    abandoned = _result("db", Status.FAILING)
    client.xadd(key, {"id": abandoned.id, "kind": "transition", "check": "db",
                      "previous": "passing", "status": "failing", "silenced": "0",
                      "transition": abandoned.id, "reminder": "0",
                      "result": json.dumps(abandoned.to_dict())})
    # A live worker has the first 1,200 (just read, renewed by its lease); a dead one had
    # the last, idle for longer than the visibility timeout.
    assert len(client.xreadgroup(outbox.GROUP, "live-worker", {key: ">"}, count=live)[0][1]) \
        == live
    ((_, [(stream_id, _)]),) = client.xreadgroup(outbox.GROUP, "dead-worker", {key: ">"})
    client.xclaim(key, outbox.GROUP, "dead-worker", 0, [stream_id], idle=120_000, justid=True)
    assert outbox.stats()["pending"] == live + 1

    taken: list[outbox.Entry] = []
    runs = 0
    while not taken and runs < 5:  # 1,201 pending, 1,000 looked at per call: 2 calls
        taken = outbox.take("survivor")
        runs += 1
    assert [entry.id for entry in taken] == [abandoned.id]
    assert runs <= 2
    # The live worker's entries stay its own; the next scan starts again from the first.
    pending = client.xpending_range(key, outbox.GROUP, "-", "+", live + 1)
    assert {(p["consumer"], p["message_id"] == stream_id) for p in pending} == {
        ("live-worker", False), ("survivor", True)}
    assert outbox.take("survivor") == []
