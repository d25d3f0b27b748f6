"""/watchman/…: django-watchman's set, shape, codes, guard and selection, from cached state."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from healthd import store
from healthd.checks.base import Status
from healthd.store import client as redis_client
from healthd.store import health as state
from healthd.tasks.run import run_and_record
from tests.support.endpoints import client as served_both_ways
from tests.support.results import STORE_DOWN, CommandCounter
from tests.support.results import only as _only
from tests.support.results import write_all as _write_all
from tests.support.results import write_result as _write

pytestmark = pytest.mark.django_db

# Every test here runs twice: served by Django's WSGI handler and by its ASGI handler.
client = served_both_ways


def _details(settings) -> None:
    """Let anonymous callers see details (each part's error), as PUBLIC_DETAILS does."""
    settings.HEALTHD = {**settings.HEALTHD, "PUBLIC_DETAILS": True}

def custom_watchman_check(request):
    """A site's own WATCHMAN_CHECKS entry: takes a request (None on the schedule)."""
    return {"payments": {"ok": request is None, "stacktrace": "never shown"}}


def test_watchman_shape_from_a_real_run(client, settings, django_assert_num_queries):
    settings.WATCHMAN_ENABLE_PAID_CHECKS = True  # email is in watchman's set
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


def test_a_failing_database_is_500_with_an_error_and_no_stack_trace(client, settings,
                                                                    django_assert_num_queries):
    _details(settings)
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
    _details(settings)
    _only(settings, "database", {"check": "storage", "critical": False})
    _write("database", Status.PASSING)
    _write("storage", Status.FAILING, message="OSError: disk full")
    response = client.get("/watchman/")
    assert response.status_code == 200
    assert response.json()["storage"] == {"ok": False, "error": "OSError: disk full"}


def test_stale_and_never_run_checks_are_not_ok_and_say_why(client, settings,
                                                           django_assert_num_queries):
    _details(settings)
    settings.WATCHMAN_ENABLE_PAID_CHECKS = True  # email is in watchman's set
    _write_all(but="email")  # email never ran
    redis_client.writer().hdel(store.keys().latest, "storage")
    _write("storage", Status.PASSING, age=105)
    with django_assert_num_queries(0):
        response = client.get("/watchman/")
    assert response.status_code == 500
    body = response.json()
    assert body["storage"]["ok"] is False and "105 s old" in body["storage"]["error"]
    assert body["email"] == {"ok": False, "error": "no result yet: the check has never run"}


def test_a_token_is_required_once_one_is_configured(client, settings):
    settings.WATCHMAN_TOKEN = "w-token-12345"
    _write_all()
    for path in ("/watchman/", "/watchman/dashboard/"):
        assert client.get(path).status_code == 403
        assert client.get(f"{path}?watchman-token=wrong-token").status_code == 403
        assert client.get(f"{path}?watchman-token=w-token-12345").status_code == 200
    assert client.get("/watchman/").json() == {
        "error": "forbidden: a valid watchman token is required"}
    assert client.get(
        "/watchman/", HTTP_AUTHORIZATION='WATCHMAN-TOKEN Token="w-token-12345"').status_code == 200
    assert client.get(
        "/watchman/", HTTP_AUTHORIZATION="WATCHMAN-TOKEN Token=w-token-12345").status_code == 200
    assert client.get("/watchman/ping/").status_code == 200  # as in watchman: open
    # bare/ has no guard in watchman: its docs give it to load balancers, with no token.
    bare = client.get("/watchman/bare/")
    assert (bare.status_code, bare.content) == (200, b"")


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


def test_a_name_that_means_nothing_selects_nothing_as_in_watchman(client):
    _write_all()
    response = client.get("/watchman/?check=watchman.checks.nothing")
    assert (response.status_code, response.json()) == (
        404, {"error": 404, "message": "No checks found"})
    assert set(client.get("/watchman/?skip=nope").json()) == {"databases", "caches", "storage"}
    bare = client.get("/watchman/bare/?check=nope")
    assert (bare.status_code, bare["Content-Type"], bare.content) == (404, "text/plain", b"")


def test_no_check_left_is_a_404(client, settings):
    _only(settings, "database")
    _write("database", Status.PASSING)
    response = client.get("/watchman/?skip=watchman.checks.databases")
    assert (response.status_code, response.json()) == (
        404, {"error": 404, "message": "No checks found"})
    assert client.get("/watchman/bare/?skip=database").content == b""


def test_a_custom_watchman_check_shows_what_it_returned(client, settings):
    settings.WATCHMAN_CHECKS = ["tests.compat.watchman.test_views_watchman.custom_watchman_check"]
    _only(settings, "database")
    run_and_record()
    body = client.get("/watchman/").json()
    assert body["payments"] == {"ok": True}  # run on the schedule, with no request
    only = client.get(
        "/watchman/?check=tests.compat.watchman.test_views_watchman.custom_watchman_check")
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


def test_dashboard_is_a_self_contained_page(client, settings, django_assert_num_queries):
    _details(settings)
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
    assert body["databases"] == [{"default": {"ok": False}}]  # anonymous: statuses only
    assert bare.status_code == 500 and bare.content == b""
    assert dashboard.status_code == 500
    assert "result store unavailable: ConnectionError" in dashboard.content.decode()
    assert client.get("/watchman/ping/").status_code == 200
    _details(settings)
    assert client.get("/watchman/").json()["databases"] == [{"default": {
        "ok": False, "error": "result store unavailable: ConnectionError"}}]


# --- watchman's set, guard and version ---------------------------------------------------


def test_watchmans_default_set_and_watchman_checks_defines_it(client, settings):
    _write_all()
    assert set(client.get("/watchman/").json()) == {"databases", "caches", "storage"}
    settings.WATCHMAN_ENABLE_PAID_CHECKS = True
    assert set(client.get("/watchman/").json()) == {"databases", "caches", "storage", "email"}
    settings.WATCHMAN_CHECKS = ["watchman.checks.storage"]
    assert set(client.get("/watchman/").json()) == {"storage"}
    # A check outside the set cannot be asked for, as in watchman.
    assert client.get("/watchman/?check=celery").status_code == 404


def test_anonymous_callers_see_statuses_only(client, settings):
    settings.WATCHMAN_TOKEN = None
    settings.WATCHMAN_CHECKS = ["watchman.checks.databases",
                                "tests.compat.watchman.test_views_watchman.failing_watchman_check"]
    _write_all(but="database")
    _write("database", Status.FAILING, message="default: OperationalError: db.internal",
           details={"default": {"ok": False, "error": "OperationalError: db.internal"}})
    run_and_record(["failing_watchman_check"])
    response = client.get("/watchman/")
    assert response.status_code == 500
    assert response.json() == {"databases": [{"default": {"ok": False}}],
                               "payments": {"ok": False}}
    assert "db.internal" not in client.get("/watchman/dashboard/").content.decode()
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["details-token-1"]}
    shown = client.get("/watchman/?watchman-token=details-token-1").json()
    assert shown["databases"] == [{"default": {"ok": False,
                                               "error": "OperationalError: db.internal"}}]
    assert shown["payments"] == {"ok": False, "error": "card service down"}


def failing_watchman_check(request):
    """A WATCHMAN_CHECKS entry that reports a failure in watchman's shape."""
    return {"payments": {"ok": False, "error": "card service down", "stacktrace": "…"}}


def test_the_site_auth_decorator_guards_and_identifies(client, settings, django_user_model):
    if not isinstance(client, Client):
        # A login lives in the test's open transaction, which the ASGI client's event-loop
        # thread cannot see; the guard itself is the same code under both.
        pytest.skip("a logged-in session is not visible to the ASGI client's thread")
    settings.WATCHMAN_AUTH_DECORATOR = "django.contrib.auth.decorators.login_required"
    settings.WATCHMAN_TOKEN = "ignored-token-1"  # the site's guard replaces the token's
    _write_all(but="database")
    _write("database", Status.FAILING, details={"default": {"ok": False, "error": "down"}})
    for path in ("/watchman/", "/watchman/dashboard/"):
        assert client.get(path).status_code == 302  # to the login page
    assert client.get("/watchman/bare/").status_code == 500  # no guard, as in watchman
    client.force_login(django_user_model.objects.create_user("watcher"))
    body = client.get("/watchman/").json()  # a logged-in user passed the site's guard
    assert body["databases"] == [{"default": {"ok": False, "error": "down"}}]


def refuse(view):
    """A site's guard that raises PermissionDenied."""
    from django.core.exceptions import PermissionDenied

    def guarded(request, *args, **kwargs):
        raise PermissionDenied

    return guarded


def test_a_guard_that_raises_permission_denied_is_a_403_and_none_opens(client, settings):
    _write_all()
    settings.WATCHMAN_AUTH_DECORATOR = "tests.compat.watchman.test_views_watchman.refuse"
    response = client.get("/watchman/")
    assert (response.status_code, response.json()) == (403, {"error": "forbidden"})
    settings.WATCHMAN_AUTH_DECORATOR = None
    settings.WATCHMAN_TOKEN = "unused-token-1"
    assert client.get("/watchman/").status_code == 200


def test_expose_watchman_version(client, settings):
    from healthd import __version__

    _write_all()
    assert not client.get("/watchman/").has_header("X-Watchman-Version")
    settings.EXPOSE_WATCHMAN_VERSION = True
    assert client.get("/watchman/")["X-Watchman-Version"] == __version__
    dashboard = client.get("/watchman/dashboard/")
    assert dashboard["X-Watchman-Version"] == __version__
    assert f"Watchman version: {__version__}" in dashboard.content.decode()


def test_watchman_databases_and_caches_narrow_what_is_shown_and_judged(client, settings):
    settings.WATCHMAN_DATABASES = ["default"]
    _write_all(but="database")
    _write("database", Status.FAILING, message="replica: down",
           details={"default": {"ok": True}, "replica": {"ok": False, "error": "down"}})
    response = client.get("/watchman/")
    assert response.json()["databases"] == [{"default": {"ok": True}}]
    assert response.status_code == 200  # the failing alias is not watchman's
