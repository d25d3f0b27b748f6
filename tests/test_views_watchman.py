"""/watchman/…: django-watchman's shape, codes, tokens and check selection, from cached state."""

from __future__ import annotations

import time

import pytest

from healthd import redis_client, state, store
from healthd.checks.base import Status
from healthd.tasks.run import run_and_record
from tests.endpoints import client as served_both_ways
from tests.support import STORE_DOWN, CommandCounter
from tests.support import only as _only
from tests.support import write_all as _write_all
from tests.support import write_result as _write

pytestmark = pytest.mark.django_db

# Every test here runs twice: served by Django's WSGI handler and by its ASGI handler.
client = served_both_ways



def custom_watchman_check(request):
    """A site's own WATCHMAN_CHECKS entry: takes a request (None on the schedule)."""
    return {"payments": {"ok": request is None, "stacktrace": "never shown"}}


def test_watchman_shape_from_a_real_run(client, settings, django_assert_num_queries):
    _only(settings, "database", "cache", "storage", "email")
    run_and_record()
    with django_assert_num_queries(0):
        response = client.get("/watchman/")
    assert response.status_code == 200
    assert response.json() == {
        "databases": [{"default": {"ok": True}}],
        "caches": [{"default": {"ok": True}}, {"redis": {"ok": True}}],
        "storage": {"ok": True},
        "email": {"ok": True},
    }


def test_a_failing_database_is_500_with_an_error_and_no_stack_trace(client,
                                                                    django_assert_num_queries):
    _write_all(but="database")
    _write("database", Status.FAILING, message="default: OperationalError: unable to open",
           details={"default": {"ok": False, "error": "OperationalError: unable to open"}})
    with django_assert_num_queries(0):
        response = client.get("/watchman/")
    assert response.status_code == 500
    body = response.json()
    assert body["databases"] == [
        {"default": {"ok": False, "error": "OperationalError: unable to open"}}]
    assert body["storage"] == {"ok": True}
    assert "stacktrace" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_the_error_code_follows_watchman_error_code(client, settings):
    settings.WATCHMAN_ERROR_CODE = 503
    _write_all(Status.FAILING)
    assert client.get("/watchman/").status_code == 503
    assert client.get("/watchman/bare/").status_code == 503


def test_a_non_critical_failure_shows_but_stays_200(client, settings):
    _only(settings, "database", {"check": "storage", "critical": False})
    _write("database", Status.PASSING)
    _write("storage", Status.FAILING, message="OSError: disk full")
    response = client.get("/watchman/")
    assert response.status_code == 200
    assert response.json()["storage"] == {"ok": False, "error": "OSError: disk full"}


def test_stale_and_never_run_checks_are_not_ok_and_say_why(client, django_assert_num_queries):
    _write_all(but="email")  # email never ran
    redis_client.writer().hdel(store.keys().latest, "storage")
    _write("storage", Status.PASSING, age=95)
    with django_assert_num_queries(0):
        response = client.get("/watchman/")
    assert response.status_code == 500
    body = response.json()
    assert body["storage"]["ok"] is False and "95 s old" in body["storage"]["error"]
    assert body["email"] == {"ok": False, "error": "no result yet: the check has never run"}


def test_a_token_is_required_once_one_is_configured(client, settings):
    settings.WATCHMAN_TOKEN = "w-token-12345"
    _write_all()
    for path in ("/watchman/", "/watchman/bare/", "/watchman/dashboard/"):
        assert client.get(path).status_code == 403
        assert client.get(f"{path}?watchman-token=wrong-token").status_code == 403
        assert client.get(f"{path}?watchman-token=w-token-12345").status_code == 200
    assert client.get("/watchman/").json() == {
        "error": "forbidden: a valid watchman token is required"}
    assert client.get(
        "/watchman/", HTTP_AUTHORIZATION='WATCHMAN-TOKEN Token="w-token-12345"').status_code == 200
    assert client.get("/watchman/ping/").status_code == 200  # as in watchman: open


def test_every_token_source_and_a_custom_token_name(client, settings):
    settings.WATCHMAN_TOKENS = "first-token-1,second-token-2"
    settings.WATCHMAN_TOKEN_NAME = "custom-token-name"
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["healthd-token-3"]}
    _write_all()
    for token in ("first-token-1", "second-token-2", "healthd-token-3"):
        assert client.get(f"/watchman/?custom-token-name={token}").status_code == 200
    assert client.get("/watchman/?watchman-token=first-token-1").status_code == 403


def test_check_and_skip_take_watchman_paths_and_healthd_names(client,
                                                             django_assert_num_queries):
    _write_all()
    with django_assert_num_queries(0):
        only_databases = client.get("/watchman/?check=watchman.checks.databases")
    assert only_databases.json() == {"databases": [{"default": {"ok": True}}]}
    assert set(client.get("/watchman/?check=cache&check=storage").json()) == {
        "caches", "storage"}
    skipped = client.get("/watchman/?skip=watchman.checks.email&skip=celery").json()
    assert "email" not in skipped and "celery" not in skipped and "databases" in skipped


def test_an_unknown_check_name_is_a_400_listing_the_valid_ones(client):
    _write_all()
    response = client.get("/watchman/?check=watchman.checks.nothing")
    assert response.status_code == 400
    body = response.json()
    assert "watchman.checks.nothing" in body["error"]
    assert "watchman.checks.databases" in body["valid"] and "database" in body["valid"]
    assert client.get("/watchman/?skip=nope").status_code == 400
    bare = client.get("/watchman/bare/?check=nope")
    assert (bare.status_code, bare["Content-Type"], bare.content) == (400, "text/plain", b"")


def test_no_check_left_is_a_404(client, settings):
    _only(settings, "database")
    _write("database", Status.PASSING)
    response = client.get("/watchman/?skip=watchman.checks.databases")
    assert (response.status_code, response.json()) == (404, {"error": "No checks found"})
    assert client.get("/watchman/bare/?skip=database").content == b""


def test_a_custom_watchman_check_shows_what_it_returned(client, settings):
    settings.WATCHMAN_CHECKS = ["tests.test_views_watchman.custom_watchman_check"]
    _only(settings, "database")
    run_and_record()
    body = client.get("/watchman/").json()
    assert body["payments"] == {"ok": True}  # run on the schedule, with no request
    only = client.get("/watchman/?check=tests.test_views_watchman.custom_watchman_check")
    assert only.json() == {"payments": {"ok": True}}


def test_ping_is_pong_and_touches_nothing(client, monkeypatch, django_assert_num_queries):
    counter = CommandCounter(monkeypatch)
    with django_assert_num_queries(0):
        response = client.get("/watchman/ping/")
    assert response.status_code == 200
    assert response.content == b"pong" and response["Content-Type"].startswith("text/plain")
    assert counter.count == 0


def test_bare_is_a_status_code_with_an_empty_body(client, django_assert_num_queries):
    _write_all()
    with django_assert_num_queries(0):
        response = client.get("/watchman/bare/")
    assert response.status_code == 200 and response.content == b""
    _write("database", Status.FAILING)
    response = client.get("/watchman/bare/")
    assert response.status_code == 500 and response.content == b""


def test_dashboard_is_a_self_contained_page(client, django_assert_num_queries):
    _write_all(but="database")
    _write("database", Status.FAILING,
           details={"default": {"ok": False, "error": "OperationalError: locked"}})
    with django_assert_num_queries(0):
        response = client.get("/watchman/dashboard/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    html = response.content.decode()
    assert "databases" in html and "OperationalError: locked" in html
    assert 'class="badge failing">failing' in html and "0 s ago" in html
    assert "<script" not in html and "<link" not in html


def test_store_down_is_a_fast_error_naming_the_cause(client, settings):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": STORE_DOWN}
    state.forget()
    started = time.monotonic()
    responses = [client.get("/watchman/") for _ in range(10)]
    bare = client.get("/watchman/bare/")
    dashboard = client.get("/watchman/dashboard/")
    assert time.monotonic() - started < 1.5
    assert {r.status_code for r in responses} == {500}
    body = responses[0].json()
    assert body["error"] == "result store unavailable: ConnectionError"
    assert body["databases"] == [{"default": {
        "ok": False, "error": "result store unavailable: ConnectionError"}}]
    assert bare.status_code == 500 and bare.content == b""
    assert dashboard.status_code == 500
    assert "result store unavailable: ConnectionError" in dashboard.content.decode()
    assert client.get("/watchman/ping/").status_code == 200
