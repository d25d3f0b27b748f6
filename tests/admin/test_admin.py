"""The admin: history that stays fast on big tables, the current-state page, run-now."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.db.models import F, FloatField, Value
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone

from healthd import store
from healthd.admin.changelist import EstimatedCountPaginator, date_range, estimated_row_count
from healthd.checks import registry
from healthd.checks.base import Result, Status
from healthd.history import buckets
from healthd.models import CheckResult, CheckStatus, HourlyRollup, Transition
from tests.support.waiting import wait_for

CHANGELIST = "admin:healthd_checkresult_changelist"
CURRENT = "admin:healthd_checkstatus_current"


def _results(name: str, count: int, start: datetime, step: timedelta, status: str = "passing",
             duration: float = 0.01) -> list[CheckResult]:
    return CheckResult.objects.bulk_create([
        CheckResult(name=name, status=status, message=f"{name} message {i}",
                    duration=duration, checked_at=start + i * step, host="h")
        for i in range(count)
    ])


def _configured_names() -> list[str]:
    return [check.name for check in registry.configured_checks()]


# --- history changelist -----------------------------------------------------------------


@pytest.mark.django_db
def test_history_changelist_with_filters_and_search_in_few_queries(
        admin_client, django_assert_max_num_queries):
    now = timezone.now()
    _results("database", 30, now - timedelta(hours=1), timedelta(minutes=1))
    _results("cache", 5, now - timedelta(hours=1), timedelta(minutes=1), status="failing")
    urls = [
        "", "?name=database", "?status=failing", "?q=cache", "?name=cache&status=failing",
        "?checked_at__gte=" + quote(str(now.replace(hour=0, minute=0, second=0))),
        f"?checked_at__year={now.year}",
        f"?checked_at__year={now.year}&checked_at__month={now.month}",
        f"?checked_at__year={now.year}&checked_at__month={now.month}&checked_at__day={now.day}",
        "?o=1", "?p=2",
    ]
    for query in urls:
        with django_assert_max_num_queries(6):
            response = admin_client.get(reverse(CHANGELIST) + query)
        assert response.status_code == 200, query
    filtered = admin_client.get(reverse(CHANGELIST) + "?name=cache&status=failing")
    assert filtered.context["cl"].result_count == 5
    assert "cache message" in filtered.content.decode()
    assert admin_client.get(reverse(CHANGELIST) + "?q=database").context["cl"].result_count == 30


@pytest.mark.django_db
def test_name_filter_lists_the_configured_checks_without_querying_the_table(admin_client):
    _results("retired-check", 2, timezone.now(), timedelta(seconds=1))
    response = admin_client.get(reverse(CHANGELIST))
    name_filter = next(spec for spec in response.context["cl"].filter_specs
                       if getattr(spec, "parameter_name", "") == "name")
    offered = [value for value, _ in name_filter.lookup_choices]
    assert offered == _configured_names()
    assert "retired-check" not in offered


@pytest.mark.django_db
def test_history_is_read_only(admin_client):
    (row,) = _results("database", 1, timezone.now(), timedelta(seconds=1))
    assert admin_client.get(reverse("admin:healthd_checkresult_add")).status_code == 403
    change_url = reverse("admin:healthd_checkresult_change", args=[row.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(change_url, {"name": "x"}).status_code == 403
    delete_url = reverse("admin:healthd_checkresult_delete", args=[row.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert CheckResult.objects.filter(name="database").count() == 1
    changelist = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert 'name="_selected_action"' not in changelist  # no actions, no delete


@pytest.mark.django_db
def test_only_index_backed_orderings_are_offered(admin_client):
    _results("database", 3, timezone.now(), timedelta(seconds=1))

    def order_by(query):
        ordering = admin_client.get(reverse(CHANGELIST) + query).context["cl"].queryset.query
        return tuple(dict.fromkeys(ordering.order_by))

    assert order_by("") == ("-checked_at", "-id")
    assert order_by("?o=0")[0] == "checked_at"  # ascending time: the same index
    assert order_by("?o=1") == ("-checked_at", "-id")  # by name: ignored
    assert order_by("?o=2.-0")[0] == "-checked_at"  # by status: dropped, time kept
    assert order_by("?o=3") == ("-checked_at", "-id")  # duration: ignored


@pytest.mark.django_db
def test_the_count_is_capped_and_said_to_be(admin_client, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 10)
    _results("database", 25, timezone.now() - timedelta(hours=1), timedelta(minutes=1))
    response = admin_client.get(reverse(CHANGELIST))
    assert response.context["cl"].result_count == 10
    assert "more than 10 check results" in " ".join(response.content.decode().split())
    small = admin_client.get(reverse(CHANGELIST) + "?q=message+3")
    assert small.context["cl"].result_count == 3  # 3, 13, 23
    assert "more than" not in small.content.decode()


@pytest.mark.django_db
def test_no_estimate_on_sqlite_and_the_paginator_counts_lists():
    assert estimated_row_count(CheckResult) is None
    assert EstimatedCountPaginator(list(range(7)), 5).count == 7


@pytest.mark.django_db
def test_date_hierarchy_comes_from_the_range_not_a_distinct_query(admin_client):
    _results("database", 2, datetime(2024, 11, 30, tzinfo=UTC), timedelta(days=40))
    _results("cache", 1, datetime(2025, 2, 3, 12, tzinfo=UTC), timedelta(days=1))
    def hierarchy(query=""):
        cl = admin_client.get(reverse(CHANGELIST) + query).context["cl"]
        return [choice["title"] for choice in cl.fast_date_hierarchy["choices"]]

    assert hierarchy() == ["2024", "2025"]
    assert hierarchy("?checked_at__year=2025") == ["January 2025", "February 2025"]
    assert hierarchy("?checked_at__year=2025&checked_at__month=2") == [
        "February 3"]
    assert hierarchy("?name=database&checked_at__year=2025&checked_at__month=1") == [
        "January 9"]
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "checked_at__year=2025" in page


@pytest.mark.django_db
def test_the_date_range_is_the_first_and_last_of_the_rows_chosen():
    assert date_range(CheckResult.objects.all(), "checked_at") is None  # nothing yet
    _results("database", 3, datetime(2025, 1, 1, tzinfo=UTC), timedelta(days=10))
    _results("cache", 2, datetime(2024, 12, 1, tzinfo=UTC), timedelta(days=100))
    assert date_range(CheckResult.objects.all(), "checked_at") == (
        datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC))
    assert date_range(CheckResult.objects.filter(name="database"), "checked_at") == (
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 21, tzinfo=UTC))
    assert date_range(CheckResult.objects.filter(name="gone"), "checked_at") is None


@pytest.mark.django_db
def test_transition_and_rollup_admins(admin_client):
    now = timezone.now()
    Transition.objects.create(name="database", previous="passing", status="failing", at=now,
                              message="down")
    HourlyRollup.objects.create(name="database", hour=now.replace(minute=0, second=0,
                                microsecond=0), runs=120, failures=3, duration_sum=1.2,
                                duration_max=0.05)
    transitions = admin_client.get(reverse("admin:healthd_transition_changelist")
                                   + "?name=database&status=failing")
    assert transitions.status_code == 200
    assert transitions.context["cl"].result_count == 1
    rollups = admin_client.get(reverse("admin:healthd_hourlyrollup_changelist"))
    assert rollups.status_code == 200
    assert "97.50 %" in rollups.content.decode()
    assert admin_client.get(reverse("admin:healthd_hourlyrollup_add")).status_code == 403
    assert admin_client.get(reverse("admin:healthd_transition_add")).status_code == 403


@pytest.mark.django_db
def test_transition_status_filter_offers_fixed_choices_without_a_distinct(admin_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    Transition.objects.create(name="database", previous="passing", status="failing", at=now)
    Transition.objects.create(name="cache", previous="failing", status="passing", at=now)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:healthd_transition_changelist"))
    assert response.status_code == 200
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]
    status_filter = next(spec for spec in response.context["cl"].filter_specs
                         if getattr(spec, "parameter_name", "") == "status")
    assert [value for value, _ in status_filter.lookup_choices] == [
        "passing", "warning", "failing"]
    failing = admin_client.get(reverse("admin:healthd_transition_changelist") + "?status=failing")
    assert failing.context["cl"].result_count == 1


# --- current state ----------------------------------------------------------------------


@pytest.mark.django_db
def test_current_state_lists_every_configured_check(admin_client, django_assert_max_num_queries):
    names = _configured_names()
    now = timezone.now()
    checks = list(registry.configured_checks())
    store.record([Result("database", Status.PASSING, "db ok", time.time() - 5, 0.004),
                  Result("cache", Status.FAILING, "cache down", time.time() - 3, 0.2)], checks)
    for n in range(1, 21):
        CheckResult.objects.create(name="database", status="passing", message="ok",
                                   duration=n / 1000, checked_at=now - timedelta(minutes=n))
    CheckResult.objects.create(name="database", status="failing", message="old",
                               duration=9.0, checked_at=now - timedelta(days=2))
    # Eight days of hourly rollups, every run there (one each 30 s), but for 12 failures
    # two hours ago, 60 three days ago, and (cache) 9 runs missing three hours ago.
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    runs_this_hour = int((now - this_hour).total_seconds() // 30) + 1
    database_failures = {this_hour - timedelta(hours=2): 12, this_hour - timedelta(days=3): 60}
    cache_missing = {this_hour - timedelta(hours=3): 9}
    for name, missing, failures in (("database", {}, database_failures),
                                    ("cache", cache_missing, {})):
        HourlyRollup.objects.bulk_create([
            HourlyRollup(name=name, hour=this_hour - timedelta(hours=h),
                         runs=(120 if h else runs_this_hour)
                         - missing.get(this_hour - timedelta(hours=h), 0),
                         failures=failures.get(this_hour - timedelta(hours=h), 0))
            for h in range(8 * 24 + 1)
        ])
    # The durations' buckets, as the write path counts them: the p95 is read from these.
    for duration, hour in [*((n / 1000, this_hour) for n in range(1, 21)),
                           (9.0, this_hour - timedelta(days=2))]:
        column = f"d{buckets.bucket_of(duration):02d}"
        HourlyRollup.objects.filter(name="database", hour=hour).update(
            duration_max=Greatest("duration_max", Value(duration, output_field=FloatField())),
            **{column: F(column) + 1})
    runs_day, runs_week = 24 * 120 + runs_this_hour, 7 * 24 * 120 + runs_this_hour
    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse(CURRENT))
    assert response.status_code == 200
    page = response.content.decode()
    shown = re.findall(r'<tr class="healthd-check" data-check="([^"]+)"', page)
    assert shown == names
    rows = {row.name: row for row in response.context["rows"]}
    database = rows["database"]
    assert database.status == "passing"
    assert database.uptime_24h == f"{100 * (runs_day - 12) / runs_day:.2f} %"
    assert database.uptime_7d == f"{100 * (runs_week - 72) / runs_week:.2f} %"
    # Time without a result is not uptime: the 9 missing runs count as down.
    assert 100 * (runs_day - 9) / runs_day <= float(rows["cache"].uptime_24h[:-2]) < 99.9
    assert rows["redis"].uptime_24h == "-"
    # From the buckets, within their error; the 2-day-old 9 s result is left out.
    assert database.p95_ms == pytest.approx(19.0, rel=buckets.RELATIVE_ERROR)
    assert len(database.strip) == 21 and database.strip[0]["colour"] == "#c62828"
    assert 3 <= database.age_seconds < 60
    assert rows["cache"].status == "failing" and rows["cache"].message == "cache down"
    assert rows["redis"].status == "unknown" and rows["redis"].strip == []
    assert page.count('class="healthd-strip"') == 1 and page.count("<rect") == 21
    assert "<script" not in page.split('<div id="content-main">')[1]
    assert 'value="Run checks now"' in page


@pytest.mark.django_db
def test_current_state_falls_back_to_the_database_when_redis_is_down(admin_client, settings):
    now = timezone.now()
    CheckStatus.objects.create(name="database", status="failing", since=now - timedelta(hours=1),
                               last_checked_at=now - timedelta(seconds=10), last_message="x")
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://127.0.0.1:1/0"}
    response = admin_client.get(reverse(CURRENT))
    assert response.status_code == 200
    assert "result store unavailable" in response.content.decode()
    database = next(r for r in response.context["rows"] if r.name == "database")
    assert database.since == now - timedelta(hours=1)
    assert database.status == "unknown"


@pytest.mark.django_db
def test_current_state_is_linked_from_the_admin(admin_client):
    url = reverse(CURRENT)
    assert url in admin_client.get(reverse("admin:app_list", args=["healthd"])).content.decode()
    changelist = admin_client.get(reverse("admin:healthd_checkstatus_changelist"))
    assert url in changelist.content.decode()


@pytest.mark.django_db
def test_current_state_and_run_now_need_permissions(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse(CURRENT)).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_checkstatus"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    page = client.get(reverse(CURRENT))
    assert page.status_code == 200
    assert "Run checks now" not in page.content.decode()
    assert client.post(reverse("admin:healthd_checkstatus_run_now")).status_code == 403


@pytest.mark.django_db
def test_run_now_is_post_only(admin_client):
    assert admin_client.get(reverse("admin:healthd_checkstatus_run_now")).status_code == 405


class _FakeDelay:
    """Stands in for run_checks.delay: records the calls, fails when told to."""

    def __init__(self):
        self.calls: list[dict] = []
        self.fail = False

    def __call__(self, **kwargs):
        if self.fail:
            raise ConnectionError("broker away")
        self.calls.append(kwargs)
        return type("AsyncResult", (), {"id": f"task-{len(self.calls)}"})()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.django_db
def test_run_now_refuses_a_second_click_within_the_interval(admin_client, settings, monkeypatch):
    from healthd import admin as healthd_admin

    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": 0.5}
    delay = _FakeDelay()
    monkeypatch.setattr(healthd_admin.run_checks, "delay", delay)
    url = reverse("admin:healthd_checkstatus_run_now")

    first = admin_client.post(url, follow=True)
    assert first.redirect_chain[-1][0] == reverse(CURRENT)
    assert any(m.startswith("Queued a run of every check (task task-1)") for m in
               _messages(first)), _messages(first)
    assert delay.calls == [{"names": None}]

    second = admin_client.post(url, follow=True)
    assert second.redirect_chain[-1][0] == reverse(CURRENT)
    assert any(m.startswith("A run of every check was queued less than 0.5 s ago; the next "
                            "one can be queued in 1 s") for m in _messages(second)), \
        _messages(second)
    assert not any(m.startswith("Queued") for m in _messages(second))
    assert delay.calls == [{"names": None}]  # refused: nothing queued

    time.sleep(0.6)
    third = admin_client.post(url, follow=True)
    assert any(m.startswith("Queued a run of every check") for m in _messages(third))
    assert len(delay.calls) == 2


@pytest.mark.django_db
def test_run_now_throttle_is_per_selection_and_freed_when_queueing_fails(
        admin_client, monkeypatch):
    from healthd import admin as healthd_admin

    delay = _FakeDelay()
    monkeypatch.setattr(healthd_admin.run_checks, "delay", delay)
    url = reverse("admin:healthd_checkstatus_run_now")
    delay.fail = True
    failed = admin_client.post(url, follow=True)
    assert any(m.startswith("Could not queue a run: ConnectionError: broker away")
               for m in _messages(failed))
    delay.fail = False
    retried = admin_client.post(url, follow=True)  # the failed click held no slot
    assert any(m.startswith("Queued a run of every check") for m in _messages(retried))

    now = timezone.now()
    status = CheckStatus.objects.create(name="storage", status="passing", since=now,
                                        last_checked_at=now)
    action = {"action": "run_selected_checks", "_selected_action": [status.pk]}
    changelist = reverse("admin:healthd_checkstatus_changelist")
    selected = admin_client.post(changelist, action, follow=True)
    assert any("Queued a run of storage" in m for m in _messages(selected))
    again = admin_client.post(changelist, action, follow=True)
    assert any(m.startswith("A run of storage was queued less than 30 s ago")
               for m in _messages(again)), _messages(again)
    assert delay.calls == [{"names": None}, {"names": ["storage"]}]


# --- run now, for real: the task goes through the broker to a worker ----------------------


def _superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("op", "op@example.com", "pw")
    client.force_login(user)
    return client


def _new_rows(after: datetime, name: str | None = None) -> int:
    rows = CheckResult.objects.filter(checked_at__gte=after)
    return rows.filter(name=name).count() if name else rows.count()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_run_now_button_queues_a_run_that_a_worker_records(celery_worker, client,
                                                           django_user_model):
    client = _superuser_client(client, django_user_model)
    pressed = timezone.now()
    response = client.post(reverse("admin:healthd_checkstatus_run_now"), follow=True)
    assert response.redirect_chain[-1][0] == reverse(CURRENT)
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Queued a run of every check (task ") for m in shown), shown
    wait_for(lambda: _new_rows(pressed) >= len(_configured_names()), timeout=30,
             message="the queued run's results")
    assert {r for r in CheckResult.objects.filter(checked_at__gte=pressed)
            .values_list("name", flat=True)} == set(_configured_names())


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_run_selected_action_queues_those_checks(celery_worker, client, django_user_model):
    client = _superuser_client(client, django_user_model)
    now = timezone.now()
    status = CheckStatus.objects.create(name="storage", status="passing", since=now,
                                        last_checked_at=now)
    pressed = timezone.now()
    response = client.post(reverse("admin:healthd_checkstatus_changelist"), {
        "action": "run_selected_checks", "_selected_action": [status.pk]}, follow=True)
    assert response.status_code == 200
    assert any("Queued a run of storage" in str(m) for m in response.context["messages"])
    wait_for(lambda: _new_rows(pressed, "storage"), timeout=30, message="storage's result")
    time.sleep(0.5)
    assert _new_rows(pressed, "database") == 0  # only the selected check ran


# --- django-celery-beat: an edit through the admin reaches a running beat ------------------


def _form_data(response) -> dict:
    """The change form's current values as a browser would post them."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        widget = form.fields[name].widget
        if hasattr(widget, "widgets"):  # split widgets (date + time)
            parts = widget.decompress(value)
            for index, part in enumerate(parts):
                data[f"{name}_{index}"] = "" if part is None else part
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = value
    return data


@pytest.mark.django_db
def test_editing_a_healthd_schedule_row_in_the_admin_signals_beat(admin_client):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    from healthd.tasks.schedule import sync_schedule

    sync_schedule()
    row = PeriodicTask.objects.filter(name__startswith="healthd: checks every").first()
    before = PeriodicTasks.last_change()
    time.sleep(0.01)
    url = reverse("admin:django_celery_beat_periodictask_change", args=[row.pk])
    form = admin_client.get(url)
    assert form.status_code == 200
    data = _form_data(form)
    faster, _ = IntervalSchedule.objects.get_or_create(every=7, period=IntervalSchedule.SECONDS)
    data["interval"] = faster.pk
    data.pop("enabled", None)  # disable it too
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    row.refresh_from_db()
    assert row.interval_id == faster.pk and row.enabled is False
    after = PeriodicTasks.last_change()
    assert after is not None and (before is None or after > before)
    json.loads(row.kwargs)  # untouched and still valid


@pytest.mark.django_db
def test_the_admin_index_links_to_the_current_state_page(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "/admin/healthd/currentstate/" in index
    response = admin_client.get("/admin/healthd/currentstate/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/healthd/checkstatus/current/"


@pytest.mark.django_db
@pytest.mark.parametrize("query", [
    "?checked_at__year=9999&checked_at__month=12",
    "?checked_at__year=9999",
    "?checked_at__year=9999&checked_at__month=12&checked_at__day=31",
])
def test_a_date_at_the_end_of_the_calendar_is_an_empty_page(admin_client, query):
    _results("database", 2, timezone.now() - timedelta(minutes=5), timedelta(minutes=1))
    for changelist in (CHANGELIST, "admin:healthd_transition_changelist",
                       "admin:healthd_hourlyrollup_changelist"):
        field = {"admin:healthd_transition_changelist": "at",
                 "admin:healthd_hourlyrollup_changelist": "hour"}.get(changelist, "checked_at")
        response = admin_client.get(reverse(changelist) + query.replace("checked_at", field))
        assert response.status_code == 200, (changelist, query)
        assert response.context["cl"].result_count == 0


@pytest.mark.django_db
def test_the_last_month_of_the_calendar_still_shows_its_rows(admin_client):
    _results("database", 1, datetime(9999, 12, 15, tzinfo=UTC), timedelta(days=1))
    _results("database", 1, timezone.now(), timedelta(days=1))
    for query, expected in [("?checked_at__year=9999", 1),
                            ("?checked_at__year=9999&checked_at__month=12", 1),
                            ("?checked_at__year=9999&checked_at__month=12&checked_at__day=31", 0)]:
        response = admin_client.get(reverse(CHANGELIST) + query)
        assert response.status_code == 200
        assert response.context["cl"].result_count == expected, query


def test_strip_titles_are_in_the_current_time_zone():
    from healthd.admin import _strip

    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert _strip([("passing", at, 0.01)]) == [
        {"x": 0, "colour": "#2e7d32", "title": "2026-06-01 12:00:00 passing 10 ms"}]
    with timezone.override("Europe/Paris"):
        assert _strip([("failing", at, 0.2)])[0]["title"] == "2026-06-01 14:00:00 failing 200 ms"
