"""The uptime page, its badges and the history API: what they compute from the rollups and
transitions, who may see them, and what they never show."""

from __future__ import annotations

import datetime as dt
import json
from xml.etree import ElementTree

import pytest
from django.core import checks as django_checks
from django.utils import timezone

from healthd import system_checks
from healthd.checks import registry
from healthd.checks.base import Status
from healthd.history import rebuild
from healthd.models import CheckStatus, HourlyRollup, Transition
from healthd.uptime import badges, daily, drawing, groups, kept, spans
from healthd.uptime import page as uptime_page
from tests.support.results import only, write_all, write_result

pytestmark = pytest.mark.django_db

TOKEN = "uptime-token-0123"
HOUR = dt.timedelta(hours=1)
SECRET_MESSAGE = "connection refused by db.internal (password hunter2)"


@pytest.fixture(autouse=True)
def fresh_uptime():
    kept.forget()
    uptime_page.forget()
    yield
    kept.forget()
    uptime_page.forget()


@pytest.fixture
def two_checks(settings):
    """database and cache, every 30 s; the page public unless a test says otherwise."""
    only(settings, {"check": "database", "aliases": ["default"]}, "cache",
         PUBLIC_STATUS_PAGE=True)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def fill(name: str, start: dt.datetime, end: dt.datetime, runs: int = 120,
         failures: dict[dt.datetime, int] | None = None, skip: set[dt.datetime] = frozenset(),
         warnings: int = 0) -> None:
    """Hourly rollups of ``name`` from ``start`` to ``end``: ``runs`` an hour (a run every
    30 s), the failures given per hour, no rollup at all for the hours in ``skip``."""
    failures = failures or {}
    hour, rows = floor_hour(start), []
    while hour < end:
        if hour not in skip:
            rows.append(HourlyRollup(name=name, hour=hour, runs=runs,
                                     failures=failures.get(hour, 0), warnings=warnings,
                                     duration_sum=runs * 0.004, duration_max=0.02))
        hour += HOUR
    HourlyRollup.objects.bulk_create(rows)
    rebuild.rebuild_daily()  # the daily rollups of those hours, as the write path keeps them


def transition(name: str, previous: str, status: str, at: dt.datetime,
               silenced: bool = False) -> None:
    Transition.objects.create(name=name, previous=previous, status=status, at=at,
                              message=SECRET_MESSAGE, silenced=silenced)


def configured() -> list:
    return list(registry.configured_checks())


def read(now: dt.datetime) -> daily.History:
    return daily.read_history(configured(), now, dt.UTC)


NOW = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.UTC)


# --- what is computed ----------------------------------------------------------------------


def test_no_data_at_all_is_ninety_grey_days(two_checks, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        history = read(NOW)
    assert set(history.rows) == {"database", "cache"}
    for row in history.rows.values():
        assert len(row.days) == 90
        assert row.days[-1].date == NOW.date()
        assert row.days[0].date == NOW.date() - dt.timedelta(days=89)
        assert {day.level for day in row.days} == {spans.NO_DATA}
        assert {str(figure) for figure in row.windows.values()} == {"-"}
    assert history.incidents == ()


def test_ninety_full_days_are_green_and_all_up(two_checks):
    for name in ("database", "cache"):
        fill(name, NOW - dt.timedelta(days=95), NOW)
    history = read(NOW)
    for row in history.rows.values():
        assert {day.level for day in row.days} == {spans.UP}
        assert {str(figure) for figure in row.windows.values()} == {"100.00 %"}
        assert row.days[10].uptime.runs == 24 * 120


def test_a_failing_spell_makes_its_day_red_and_is_an_incident(two_checks):
    fill("database", NOW - dt.timedelta(days=95), NOW,
         failures={dt.datetime(2026, 11, 22, 3, tzinfo=dt.UTC): 14})
    fill("cache", NOW - dt.timedelta(days=95), NOW)
    transition("database", "passing", "failing", dt.datetime(2026, 11, 22, 3, 12, tzinfo=dt.UTC))
    transition("database", "failing", "passing", dt.datetime(2026, 11, 22, 3, 19, tzinfo=dt.UTC))
    history = read(NOW)
    by_date = {day.date: day for day in history.rows["database"].days}
    failing_day = by_date[dt.date(2026, 11, 22)]
    assert failing_day.worst_state == "failing"
    assert failing_day.level == spans.DOWN
    assert failing_day.failures == 14
    assert 0.99 < failing_day.uptime.ratio < 1.0
    # The days around it: passing all along, 14 failures out of 2,880 is not their concern.
    assert by_date[dt.date(2026, 11, 21)].level == spans.UP
    assert by_date[dt.date(2026, 11, 23)].level == spans.UP
    assert by_date[dt.date(2026, 11, 21)].worst_state == "passing"
    assert {day.level for day in history.rows["cache"].days} == {spans.UP}

    [incident] = history.incidents
    assert (incident.name, incident.status) == ("database", "failing")
    assert incident.duration(NOW) == dt.timedelta(minutes=7)
    assert drawing.incident_text(incident, NOW, dt.UTC) == (
        "database failing 22 Nov 03:12\u201303:19, 7 min")


def test_a_check_failing_now_is_an_ongoing_incident(two_checks):
    fill("database", NOW - dt.timedelta(days=95), NOW)
    transition("database", "passing", "failing", NOW - dt.timedelta(minutes=12), silenced=True)
    history = read(NOW)
    [incident] = history.incidents
    assert incident.end is None
    assert history.rows["database"].days[-1].level == spans.DOWN
    # A silence changes who is told, not what is shown.
    assert drawing.incident_text(incident, NOW, dt.UTC) == (
        "database failing since 14:18, 12 min so far (silenced)")


def test_time_without_a_fresh_result_is_not_uptime(two_checks):
    """Two hours without any rollup (beat stopped): the day is down, its uptime says so,
    and the windows that hold it are below 100 %."""
    gap = {dt.datetime(2026, 11, 20, hour, tzinfo=dt.UTC) for hour in (9, 10)}
    fill("database", NOW - dt.timedelta(days=95), NOW, skip=gap)
    fill("cache", NOW - dt.timedelta(days=95), NOW)
    row = read(NOW).rows["database"]
    day = {d.date: d for d in row.days}[dt.date(2026, 11, 20)]
    assert day.worst_state == "passing"
    assert day.level == spans.DOWN
    assert spans.missing_runs(day.uptime) == 239  # one run of the day is forgiven
    assert day.uptime.ratio == pytest.approx(2640 / 2879)
    assert str(row.windows["24h"]) == "100.00 %"
    assert row.windows["7d"].ratio < 0.995
    assert row.windows["90d"].ratio < 1.0


def test_stopped_reporting_today_turns_today_down(two_checks):
    fill("database", NOW - dt.timedelta(days=95), NOW - dt.timedelta(hours=5))
    row = read(NOW).rows["database"]
    assert row.days[-1].level == spans.DOWN
    # 20 full hours out of the 24.5 since the hour 24 h ago.
    assert row.windows["24h"].ratio == pytest.approx(20 / 24.5, abs=0.001)


def test_a_check_added_ten_days_ago_has_no_data_before(two_checks):
    began = NOW - dt.timedelta(days=10, hours=3)
    fill("database", began, NOW)
    row = read(NOW).rows["database"]
    levels = [day.level for day in row.days]
    assert levels[:79] == [spans.NO_DATA] * 79
    assert set(levels[80:]) == {spans.UP}
    assert str(row.windows["30d"]) == str(row.windows["90d"]) == "100.00 %"


def test_a_check_that_began_mid_hour_counts_from_then(two_checks,
                                                      django_assert_max_num_queries):
    """Its first hour had half the runs: it began half way through, as the admin reckons."""
    first = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    fill("database", first, NOW)
    HourlyRollup.objects.filter(name="database", hour=first).update(runs=60)
    rebuild.rebuild_daily()
    with django_assert_max_num_queries(5):
        row = read(NOW).rows["database"]
    day = {d.date: d for d in row.days}[dt.date(2026, 11, 20)]
    assert day.uptime.expected == pytest.approx(13.5 * 120 - 1)
    assert str(day.uptime) == "100.00 %"
    assert {d.level for d in row.days if d.date < dt.date(2026, 11, 20)} == {spans.NO_DATA}


def test_a_warning_day_is_amber(two_checks):
    fill("database", NOW - dt.timedelta(days=95), NOW)
    transition("database", "passing", "warning", dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC))
    transition("database", "warning", "passing", dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC))
    day = {d.date: d for d in read(NOW).rows["database"].days}[dt.date(2026, 11, 24)]
    assert (day.worst_state, day.level) == ("warning", spans.DEGRADED)


def test_the_state_before_the_first_transition_is_its_previous(two_checks):
    """Failing from before the 90 days until 3 days ago: every day until then is red."""
    fill("database", NOW - dt.timedelta(days=95), NOW)
    transition("database", "failing", "passing", dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC))
    days = read(NOW).rows["database"].days
    assert {d.level for d in days if d.date <= dt.date(2026, 11, 22)} == {spans.DOWN}
    assert {d.level for d in days if d.date > dt.date(2026, 11, 22)} == {spans.UP}


def test_without_transitions_the_stored_state_holds_throughout(two_checks):
    fill("database", NOW - dt.timedelta(days=95), NOW)
    CheckStatus.objects.create(name="database", status="failing",
                               since=NOW - dt.timedelta(days=200), last_checked_at=NOW)
    assert {d.level for d in read(NOW).rows["database"].days} == {spans.DOWN}


def test_a_group_is_its_worst_day_and_its_least_available_member(two_checks, settings):
    settings.HEALTHD = {**settings.HEALTHD, "GROUPS": {"Website": ["database", "cache"]}}
    fill("database", NOW - dt.timedelta(days=95), NOW,
         failures={dt.datetime(2026, 11, 24, 3, tzinfo=dt.UTC): 60})
    fill("cache", NOW - dt.timedelta(days=95), NOW)
    transition("database", "passing", "failing", dt.datetime(2026, 11, 24, 3, tzinfo=dt.UTC))
    transition("database", "failing", "passing", dt.datetime(2026, 11, 24, 3, 30, tzinfo=dt.UTC))
    history = read(NOW)
    [row] = groups.page_rows(history, groups.configured())
    assert (row.label, row.members, row.is_group) == ("Website", ("database", "cache"), True)
    day = {d.date: d for d in row.days}[dt.date(2026, 11, 24)]
    assert (day.level, day.weakest) == (spans.DOWN, "database")
    assert day.runs == 2 * 24 * 120
    assert row.windows["24h"] == history.rows["database"].windows["24h"]
    assert row.weakest["24h"] == "database"


def test_the_day_follows_the_site_time_zone(two_checks):
    paris = dt.timezone(dt.timedelta(hours=1))
    fill("database", NOW - dt.timedelta(days=95), NOW,
         failures={dt.datetime(2026, 11, 21, 23, tzinfo=dt.UTC): 10})
    transition("database", "passing", "failing", dt.datetime(2026, 11, 21, 23, 10, tzinfo=dt.UTC))
    transition("database", "failing", "passing", dt.datetime(2026, 11, 21, 23, 20, tzinfo=dt.UTC))
    days = {d.date: d for d in daily.read_history(configured(), NOW, paris).rows[
        "database"].days}
    # 23:10 UTC is 00:10 the next day in UTC+1.
    assert days[dt.date(2026, 11, 22)].level == spans.DOWN
    assert days[dt.date(2026, 11, 21)].level == spans.UP
    assert days[dt.date(2026, 11, 22)].uptime.runs == 24 * 120


# --- the page ----------------------------------------------------------------------------------


def _page_setup() -> None:
    now = timezone.now()
    for name in ("database", "cache"):
        fill(name, now - dt.timedelta(days=95), now)
    transition("database", "passing", "failing", now - dt.timedelta(days=2, minutes=30))
    transition("database", "failing", "passing", now - dt.timedelta(days=2, minutes=23))
    write_all(Status.PASSING)
    write_result("database", Status.FAILING, message=SECRET_MESSAGE)


def test_the_page_shows_bars_uptime_state_and_incidents_without_messages(
        client, two_checks, django_assert_max_num_queries):
    _page_setup()
    with django_assert_max_num_queries(4):
        response = client.get("/status/uptime/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=10"
    assert "script-src" not in response["Content-Security-Policy"]
    assert "default-src 'none'" in response["Content-Security-Policy"]
    html = response.content.decode()
    assert "<script" not in html
    assert html.count('<g class="day ') == 2 * 90
    assert html.count('class="day down"') >= 1
    assert "database failing" in html and "7 min" in html
    assert "hunter2" not in html and "connection refused" not in html
    for period in ("24h", "7d", "30d", "90d"):
        assert f'<span class="period">{period}</span>' in html
    assert '<span class="badge failing" title="current state">failing</span>' in html

    # Read again: the history is this process's copy, no query.
    with django_assert_max_num_queries(0):
        assert client.get("/status/uptime/").status_code == 200


def test_the_page_follows_the_current_state_without_reading_the_history_again(
        client, two_checks, django_assert_max_num_queries):
    badge = '<span class="badge {}" title="current state">{}</span>'
    write_all(Status.PASSING)
    assert badge.format("passing", "passing") in client.get("/status/uptime/").content.decode()
    write_result("database", Status.FAILING)
    with django_assert_max_num_queries(0):
        html = client.get("/status/uptime/").content.decode()
    assert badge.format("failing", "failing") in html
    assert "Overall: failing" in html


def test_the_page_is_refused_unless_public_or_detailed(client, settings):
    only(settings, "cache", TOKENS=[TOKEN])
    response = client.get("/status/uptime/")
    assert response.status_code == 403
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "PUBLIC_STATUS_PAGE" in response.content.decode()
    assert client.get("/status/badge.svg").status_code == 403
    assert client.get("/status/badge/cache.svg").status_code == 403

    allowed = client.get("/status/uptime/", {"watchman-token": TOKEN})
    assert allowed.status_code == 200
    assert allowed["Cache-Control"] == "private, max-age=10"
    assert client.get("/status/badge/cache.svg", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
                      ).status_code == 200


def test_the_page_with_groups(client, two_checks, settings):
    settings.HEALTHD = {**settings.HEALTHD, "GROUPS": {"Website": ["database", "cache"]}}
    _page_setup()
    html = client.get("/status/uptime/").content.decode()
    assert 'data-row="Website"' in html
    assert 'data-row="database"' not in html
    assert "lowest uptime: database" in html


def test_the_page_says_when_the_history_cannot_be_read(client, two_checks, monkeypatch):
    from django.db import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("could not connect to server: password=hunter2")

    monkeypatch.setattr(kept, "read_history", broken)
    write_all(Status.PASSING)
    response = client.get("/status/uptime/")
    assert response.status_code == 503
    html = response.content.decode()
    assert "the history could not be read: OperationalError" in html
    assert "hunter2" not in html


def test_the_status_index_links_the_page(client):
    assert 'href="uptime/"' in client.get("/status/").content.decode()


# --- the badges --------------------------------------------------------------------------------


# The SVG parsed is healthd's own answer, not untrusted input.
def _svg(response) -> ElementTree.Element:
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    return ElementTree.fromstring(response.content)  # noqa: S314


def test_state_badges_read_the_cached_state_only(client, two_checks, django_assert_num_queries):
    write_all(Status.PASSING)
    write_result("cache", Status.FAILING, message=SECRET_MESSAGE)
    with django_assert_num_queries(0):
        overall = client.get("/status/badge.svg")
        cache = client.get("/status/badge/cache.svg")
        database = client.get("/status/badge/database.svg")
    assert overall.status_code == cache.status_code == database.status_code == 200
    assert overall["Cache-Control"] == "public, max-age=5"
    assert _svg(overall).get("aria-label") == "status: failing"
    assert _svg(cache).get("aria-label") == "cache: failing"
    assert _svg(database).get("aria-label") == "database: passing"
    assert badges.STATUS_COLOURS["failing"].encode() in cache.content
    assert b"hunter2" not in cache.content


def test_uptime_badges(client, two_checks):
    now = timezone.now()
    fill("database", now - dt.timedelta(days=95), now)
    fill("cache", now - dt.timedelta(days=95), now,
         skip={floor_hour(now - dt.timedelta(days=3, hours=h)) for h in range(4)})
    assert _svg(client.get("/status/badge/database.svg", {"period": "7d"})).get(
        "aria-label") == "database uptime 7d: 100.00%"
    cache = _svg(client.get("/status/badge/cache.svg", {"period": "7d"})).get("aria-label")
    # 4 hours missing of the 7 days (the current hour, filled whole, may add up to one).
    label, percent = cache.rsplit(": ", 1)
    assert label == "cache uptime 7d"
    assert 97.5 < float(percent.rstrip("%")) < 98.3
    assert _svg(client.get("/status/badge.svg", {"period": "7d"})).get("aria-label") == (
        cache.replace("cache uptime", "uptime"))


def test_badge_refusals(client, two_checks):
    bad = client.get("/status/badge/cache.svg", {"period": "1y"})
    assert bad.status_code == 400
    assert bad.json()["periods"] == ["24h", "7d", "30d", "90d"]
    unknown = client.get("/status/badge/nope.svg")
    assert unknown.status_code == 404
    assert unknown.json()["checks"] == ["database", "cache"]


def test_the_store_down_badge_is_unknown(client, two_checks, settings):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://127.0.0.1:1/0"}
    response = client.get("/status/badge.svg")
    assert response.status_code == 200
    assert _svg(response).get("aria-label") == "status: unknown"


def test_badge_svg_is_well_formed_and_sized_to_its_text():
    short = ElementTree.fromstring(badges.render("db", "ok", "#4c1"))  # noqa: S314
    long = ElementTree.fromstring(  # noqa: S314
        badges.render("a <long> & label", "failing", "#e05d44"))
    assert int(long.get("width")) > int(short.get("width")) > 30
    assert long.get("aria-label") == "a <long> & label: failing"
    assert badges.uptime_colour(0.9995) == badges.COLOURS["brightgreen"]
    assert badges.uptime_colour(0.5) == badges.COLOURS["red"]
    assert badges.uptime_colour(None) == badges.COLOURS["lightgrey"]


# --- the history API ---------------------------------------------------------------------------


def _api(client, check: str = "database", **params):
    return client.get(f"/status/api/history/{check}", params,
                      HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


@pytest.fixture
def api_checks(settings):
    only(settings, {"check": "database", "aliases": ["default"]}, "cache", TOKENS=[TOKEN])


def test_history_api_needs_a_token(client, api_checks):
    response = client.get("/status/api/history/database")
    assert response.status_code == 403
    assert "token" in response.json()["error"]
    # Not opened by a public status page either.
    only_public = client.get("/status/api/history/database", {"watchman-token": "wrong"})
    assert only_public.status_code == 403


def test_history_api_by_hour(client, api_checks, django_assert_max_num_queries):
    now = timezone.now()
    fill("database", now - dt.timedelta(days=3), now,
         failures={floor_hour(now - dt.timedelta(hours=5)): 6})
    transition("database", "passing", "failing", floor_hour(now - dt.timedelta(hours=5)))
    transition("database", "failing", "passing",
               floor_hour(now - dt.timedelta(hours=5)) + dt.timedelta(minutes=3))
    with django_assert_max_num_queries(3):
        response = _api(client)
    assert response.status_code == 200
    body = response.json()
    assert (body["check"], body["resolution"], body["interval"]) == ("database", "hour", 30.0)
    points = body["points"]
    assert len(points) == 25  # the hour 24 h ago, to the current one
    failing = [p for p in points if p["failures"]]
    assert len(failing) == 1
    assert failing[0]["uptime"] == pytest.approx(114 / 120)
    assert failing[0]["runs"] == 120
    assert failing[0]["mean_duration"] == pytest.approx(0.004)
    assert failing[0]["max_duration"] == pytest.approx(0.02)
    assert [t["status"] for t in body["transitions"]] == ["failing", "passing"]
    assert body["transitions"][0]["message"] == SECRET_MESSAGE
    assert body["transitions_truncated"] is False


def test_history_api_by_day_counts_missing_runs(client, api_checks):
    since = dt.datetime.combine(timezone.now().date() - dt.timedelta(days=10), dt.time.min,
                                tzinfo=dt.UTC)
    fill("database", since - dt.timedelta(days=2), since + dt.timedelta(days=3),
         skip={since + dt.timedelta(days=1, hours=h) for h in range(12)})
    until = since + dt.timedelta(days=3)
    body = _api(client, since=since.date().isoformat(),
                until=until.isoformat().replace("+00:00", "Z"), resolution="day").json()
    assert [p["start"] for p in body["points"]] == [
        (since + dt.timedelta(days=n)).isoformat() for n in range(3)]
    assert [p["runs"] for p in body["points"]] == [2880, 1440, 2880]
    assert body["points"][0]["uptime"] == 1.0
    assert body["points"][1]["uptime"] == pytest.approx(0.5, abs=0.001)


def test_history_api_before_any_data(client, api_checks):
    body = _api(client, "cache").json()
    assert {p["uptime"] for p in body["points"]} == {None}
    assert {p["mean_duration"] for p in body["points"]} == {None}
    assert body["transitions"] == []


@pytest.mark.parametrize(("params", "says"), [
    ({"since": "yesterday"}, "since: not an ISO 8601"),
    ({"until": "2026-13-01"}, "until: not an ISO 8601"),
    ({"since": "2026-11-02", "until": "2026-11-01"}, "since must be before until"),
    ({"since": "2026-11-01", "until": "2026-11-01"}, "since must be before until"),
    ({"since": "2026-01-01", "until": "2026-03-01"}, "longer than 31 days at resolution=hour"),
    ({"since": "2024-01-01", "until": "2026-03-01", "resolution": "day"},
     "longer than 366 days at resolution=day"),
    ({"resolution": "minute"}, "unknown resolution"),
    ({"until": "0001-01-01"}, "until: too early"),
    ({"since": "9999-12-30", "until": "9999-12-31T12:00:00Z", "resolution": "day"},
     "past the dates"),
])
def test_history_api_refuses_a_bad_range_with_a_400(client, api_checks, params, says):
    response = _api(client, **params)
    assert response.status_code == 400, response.content
    assert says in response.json()["error"]


def test_history_api_accepts_epoch_seconds_and_an_unencoded_plus(client, api_checks):
    body = _api(client, since="2025-11-01T00:00:00 00:00", until="1762041600").json()
    assert body["since"] == "2025-11-01T00:00:00+00:00"
    assert body["until"] == "2025-11-02T00:00:00+00:00"
    assert len(body["points"]) == 24


def test_history_api_unknown_check(client, api_checks):
    response = _api(client, "nope")
    assert response.status_code == 404
    assert response.json()["checks"] == ["cache", "database"]


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "check_id", "says"), [
    ({"GROUPS": ["database"]}, system_checks.E_BAD_GROUPS, "must be a dict"),
    ({"GROUPS": {"Site": "database"}}, system_checks.E_BAD_GROUPS, "must list check names"),
    ({"GROUPS": {"Site": []}}, system_checks.E_BAD_GROUPS, "must list check names"),
    ({"GROUPS": {"Site": ["database", "nope"]}}, system_checks.E_BAD_GROUPS,
     "'nope', which is not a configured check"),
    ({"PUBLIC_STATUS_PAGE": "yes"}, system_checks.E_NOT_A_BOOL, "must be True or False"),
])
def test_new_settings_are_validated(settings, extra, check_id, says):
    only(settings, {"check": "database", "aliases": ["default"]}, **extra)
    [problem] = system_checks.check_settings()
    assert problem.id == check_id
    assert problem.level == django_checks.ERROR
    assert says in problem.msg


def test_good_groups_pass(settings):
    only(settings, {"check": "database", "aliases": ["default"]}, "cache",
         GROUPS={"Site": ["database", "cache"]}, PUBLIC_STATUS_PAGE=True)
    assert system_checks.check_settings() == []


def test_a_setting_change_forgets_the_history(settings, two_checks):
    first = kept.history()
    assert kept.history() is first
    settings.HEALTHD = {**settings.HEALTHD, "GROUPS": {"All": ["database"]}}
    assert kept.history() is not first
    json.dumps([str(u) for u in first.rows["database"].windows.values()])
