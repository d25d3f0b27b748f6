"""One incident, one page, in one process: transitions recorded close together reach a
real webhook receiver as one signed notification, root causes first, with the dependents
a failing dependency held back listed as suppressed; Sentry hears of the roots only; the
admin and /metrics show what was sent and what was suppressed."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import sentry_sdk
from celery import current_app

from healthd import store
from healthd.alerting import grouping
from healthd.alerting.notify.metrics import counts
from healthd.checks.base import Check, Result, Status
from healthd.models import Delivery, Transition
from healthd.store import client as redis_client
from healthd.tasks import deliver
from tests.support.alerting import LoopbackServer

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-signing"
CHECKS = [Check("db", lambda: None), Check("other", lambda: None),
          Check("migrations", lambda: None, depends_on=("db",)),
          Check("cache", lambda: None, depends_on=("db",))]




@pytest.fixture
def grouped(settings):
    """Grouping on (2 s, follow-ups 3 s later), a webhook on loopback, tasks in process."""
    current_app.conf.task_always_eager = True
    with LoopbackServer() as server:
        settings.HEALTHD = {**settings.HEALTHD, "GROUP_WAIT": 2, "GROUP_INTERVAL": 3,
                            "NOTIFY": [{"webhook": f"{server.url}/hook", "secret": SECRET,
                                        "name": "pager"}]}
        yield server
    current_app.conf.task_always_eager = False


def _run(statuses: dict[str, Status], at: float) -> None:
    store.record_run([Result(name, status, f"{name} is {status}", at, 0.01)
                      for name, status in statuses.items()], CHECKS)
    deliver.deliver_outbox()


def _told(body: dict) -> list[tuple[str, str, str | None]]:
    return [(t["check"], t["status"], t["suppressed_by"]) for t in body["transitions"]]


def test_a_failing_dependency_and_its_dependents_make_one_signed_notification(
        grouped, sentry_envelopes):
    server = grouped
    now = time.time()
    _run(dict.fromkeys(("db", "other", "migrations", "cache"), Status.PASSING), now - 10)
    _run({"db": Status.FAILING, "migrations": Status.FAILING, "cache": Status.FAILING},
         now - 9)
    assert server.received == []  # the group waits GROUP_WAIT
    assert deliver.flush_groups(now + 1) == 0
    assert deliver.flush_groups(now + 2.5) == 1
    (request,) = server.received
    body = request.json()
    assert body["summary"] == "db failing; 2 checks that depend on it suppressed"
    assert body["follow_up"] is False
    assert _told(body) == [("db", "failing", None), ("migrations", "failing", "db"),
                           ("cache", "failing", "db")]
    rows = {t.name: t for t in Transition.objects.all()}
    assert [t["id"] for t in body["transitions"]] == [
        rows[n].transition_id for n in ("db", "migrations", "cache")]
    assert request.headers["idempotency-key"] == body["group"]
    digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-healthd-signature"] == f"sha256={digest}"
    assert {(r.name, r.suppressed_by, r.group) for r in rows.values()} == {
        ("db", "", body["group"]), ("migrations", "db", body["group"]),
        ("cache", "db", body["group"])}
    (delivery,) = Delivery.objects.all()
    assert (delivery.key, delivery.transition_id) == (body["group"], rows["db"].transition_id)
    assert counts() == {("pager", "delivered"): 1, ("pager", "suppressed"): 2}
    sentry_sdk.flush()
    events = [e.get_event() for e in sentry_envelopes if e.get_event() is not None]
    assert [e["tags"]["healthd.check"] for e in events] == ["db"]

    # The database is back, the cache is not: one follow-up names it, at the interval's end.
    _run({"db": Status.PASSING, "migrations": Status.PASSING, "cache": Status.FAILING},
         now - 8)
    flushed_at = float(redis_client.writer().hget(store.keys().group_last, "pager"))
    assert deliver.flush_groups(flushed_at + 2) == 0
    assert deliver.flush_groups(flushed_at + 3.5) == 1
    follow_up = server.received[1].json()
    assert follow_up["follow_up"] is True
    assert _told(follow_up) == [("db", "passing", None), ("cache", "failing", None),
                                ("migrations", "passing", "db")]
    assert follow_up["summary"] == ("db recovered; 1 check that depends on it suppressed; "
                                    "cache failing")
    assert len(server.received) == 2
    assert redis_client.writer().zcard(store.keys().group_due) == 0


def test_suppressed_transitions_alone_are_not_sent(grouped):
    server = grouped
    now = time.time()
    _run({"db": Status.FAILING, "cache": Status.PASSING}, now - 10)
    assert deliver.flush_groups(now + 3) == 1
    _run({"db": Status.FAILING, "cache": Status.FAILING}, now - 5)
    assert deliver.flush_groups(now + 10) == 0
    assert len(server.received) == 1
    assert counts()[("pager", "suppressed")] == 1
    assert redis_client.writer().zcard(store.keys().group_due) == 0


def test_an_event_delivered_twice_is_listed_once_and_a_group_claimed_by_a_dead_flusher_is_taken_again(  # noqa: E501
        grouped):
    server = grouped
    event = {"id": "t1", "check": "db", "previous": "passing", "status": "failing",
             "message": "down", "at": "2026-12-06T00:00:00Z", "host": "w", "silenced": False,
             "transition": "t1", "reminder": 0, "suppressed_by": ""}
    now = time.time()
    first = grouping.join("pager", event, now)
    again = grouping.join("pager", event, now + 0.5)
    assert first.opened and not again.opened and first.group == again.group
    # A flusher takes it and dies before sending: nobody else takes it during its lease.
    assert grouping.claim_due(now + 2.5) == [(first.group, "pager")]
    assert deliver.flush_groups(now + 3) == 0
    assert deliver.flush_groups(now + 2.5 + 16) == 1  # OUTBOX_VISIBILITY_TIMEOUT is 15
    (request,) = server.received
    assert [t["id"] for t in request.json()["transitions"]] == ["t1"]
    assert request.headers["idempotency-key"] == first.group


def test_the_admin_and_metrics_show_groups_and_suppressed_transitions(grouped, admin_client,
                                                                      client):
    from django.urls import reverse

    from healthd.alerting.notify import metrics

    now = time.time()
    _run(dict.fromkeys(("db", "other", "migrations", "cache"), Status.PASSING), now - 10)
    _run({"db": Status.FAILING, "migrations": Status.FAILING, "other": Status.FAILING},
         now - 9)
    deliver.flush_groups(now + 3)
    gid = grouped.received[0].json()["group"]
    changelist = reverse("admin:healthd_transition_changelist")
    page = admin_client.get(changelist).content.decode()
    assert f'<a href="?q={gid}">{gid}</a>' in page
    suppressed = admin_client.get(changelist + "?suppressed_by__isempty=0").context["cl"]
    assert [t.name for t in suppressed.result_list] == ["migrations"]
    in_group = admin_client.get(changelist + f"?q={gid}").context["cl"]
    assert sorted(t.name for t in in_group.result_list) == ["db", "migrations", "other"]
    metrics.forget()
    text = client.get("/metrics").content.decode()
    assert 'healthd_notifications_total{channel="pager",outcome="delivered"} 1.0' in text
    assert 'healthd_notifications_total{channel="pager",outcome="suppressed"} 1.0' in text


def test_without_grouping_each_transition_goes_alone_and_a_suppressed_one_not_at_all(
        grouped, settings):
    settings.HEALTHD = {**settings.HEALTHD, "GROUP_WAIT": 0}
    now = time.time()
    _run(dict.fromkeys(("db", "migrations"), Status.PASSING), now - 10)
    _run({"db": Status.FAILING, "migrations": Status.FAILING}, now - 9)
    (request,) = grouped.received
    assert request.json()["check"] == "db" and "transitions" not in request.json()
    assert counts()[("pager", "suppressed")] == 1


@pytest.mark.parametrize("value", [-1, "10", True])
def test_a_bad_group_wait_or_interval_is_named_at_start_up(settings, value):
    from healthd.system_checks.alerting import check_notify

    for name in ("GROUP_WAIT", "GROUP_INTERVAL"):
        settings.HEALTHD = {**settings.HEALTHD, name: value}
        assert [e.msg for e in check_notify()] == [
            f'HEALTHD["{name}"]: must be a number of seconds >= 0, not {value!r}']
        settings.HEALTHD = {**settings.HEALTHD, name: 0}
