"""Transitions made visible: signals once each, Sentry events, receivers that raise."""

from __future__ import annotations

import pytest
import sentry_sdk

from healthd import signals, store
from healthd.checks.base import Status
from healthd.models import CheckResult, Transition
from healthd.tasks.run import run_and_record
from tests.support.results import TOGGLED

pytestmark = pytest.mark.django_db

@pytest.fixture
def received():
    calls = []

    def make(kind):
        def receiver(sender, **kwargs):
            calls.append((kind, kwargs["check"], kwargs["previous"], kwargs["result"].status))
        return receiver

    receivers = {kind: make(kind) for kind in ("failed", "recovered", "changed")}
    signals.check_failed.connect(receivers["failed"])
    signals.check_recovered.connect(receivers["recovered"])
    signals.check_changed.connect(receivers["changed"])
    yield calls
    signals.check_failed.disconnect(receivers["failed"])
    signals.check_recovered.disconnect(receivers["recovered"])
    signals.check_changed.disconnect(receivers["changed"])




def _event_payloads(events):
    return [e.get_event() for e in events if e.get_event() is not None]


def test_each_transition_fires_its_signals_once(toggled_check, received):
    run_and_record()
    assert received == []  # a first pass is not news
    TOGGLED["fail"] = True
    run_and_record()
    run_and_record()
    TOGGLED["fail"] = False
    run_and_record()
    assert received == [
        ("changed", "toggled", "passing", Status.FAILING),
        ("failed", "toggled", "passing", Status.FAILING),
        ("changed", "toggled", "failing", Status.PASSING),
        ("recovered", "toggled", "failing", Status.PASSING),
    ]
    assert list(Transition.objects.filter(name="toggled").order_by("at")
                .values_list("previous", "status")) == [
        ("passing", "failing"), ("failing", "passing")]


def test_a_receiver_that_raises_stops_neither_others_nor_the_stored_result(
        toggled_check, received, caplog):
    def explode(sender, **kwargs):
        raise ValueError("receiver bug")

    signals.check_failed.connect(explode)
    try:
        run_and_record()
        TOGGLED["fail"] = True
        run_and_record()
    finally:
        signals.check_failed.disconnect(explode)
    assert ("failed", "toggled", "passing", Status.FAILING) in received
    assert store.read_latest().records["toggled"].state == "failing"
    assert CheckResult.objects.filter(name="toggled", status="failing").exists()
    assert "receiver bug" in caplog.text


def test_sentry_gets_one_event_per_transition_without_secrets(toggled_check, sentry_envelopes):
    run_and_record()
    TOGGLED["fail"] = True
    run_and_record()
    run_and_record()
    TOGGLED["fail"] = False
    run_and_record()
    sentry_sdk.flush()
    payloads = _event_payloads(sentry_envelopes)
    assert [p["level"] for p in payloads] == ["error", "info"]
    failed, recovered = payloads
    assert failed["fingerprint"] == ["healthd", "toggled"]
    assert failed["tags"]["healthd.check"] == "toggled"
    assert failed["tags"]["healthd.transition"] == "failed"
    assert recovered["tags"]["healthd.transition"] == "recovered"
    assert "pa55word" not in repr(payloads)


def test_without_a_dsn_nothing_is_sent_and_nothing_breaks(toggled_check):
    sentry_sdk.init(dsn=None)
    run_and_record()
    TOGGLED["fail"] = True
    summary = run_and_record()
    assert [t.current for t in summary.transitions] == ["failing"]


def test_scheduled_runs_check_in_to_sentry_crons(settings, sentry_envelopes):
    from healthd.tasks import run_checks

    settings.HEALTHD = {**settings.HEALTHD, "SENTRY_CRONS": True, "CHECKS": [
        {"check": "storage", "interval": 120, "timeout": 90, "failures_before_failing": 2}]}
    run_checks(names=["storage"], once_per=120)
    run_checks(names=["storage"])  # by hand: no check-in
    sentry_sdk.flush()
    check_ins = [item.payload.json for envelope in sentry_envelopes for item in envelope.items
                 if item.type == "check_in"]
    assert [c["status"] for c in check_ins] == ["in_progress", "ok"]
    assert {c["monitor_slug"] for c in check_ins} == {"healthd-checks-every-120s"}
    assert check_ins[0]["monitor_config"] == {
        "schedule": {"type": "interval", "value": 2, "unit": "minute"},
        "checkin_margin": 2, "max_runtime": 2,
        "failure_issue_threshold": 2, "recovery_threshold": 1,
    }
