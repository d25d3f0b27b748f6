"""/status/…: django-status's API and pages, answered from cached state only."""

from __future__ import annotations

import re
import threading
import time

import pytest
from django.conf import settings as django_settings
from django.test import Client

from healthd import store
from healthd.checks.base import Status
from healthd.compat.status import stats as stats_store
from healthd.store import health as state
from healthd.tasks.run import run_and_record
from healthd.tasks.stats import gather_stats
from tests.support.endpoints import client as served_both_ways
from tests.support.results import STORE_DOWN
from tests.support.results import only as _only
from tests.support.results import write_all as _write_all
from tests.support.results import write_result as _write

pytestmark = pytest.mark.django_db

# Every test here runs twice: served by Django's WSGI handler and by its ASGI handler.
client = served_both_ways

provider_calls: list[tuple] = []
release_hanging_provider = threading.Event()


def orders_provider(*args, **kwargs):
    provider_calls.append((args, kwargs))
    return {"open": 3, "args": list(args), "kwargs": kwargs}


def broken_provider(*args, **kwargs):
    raise RuntimeError("the orders service said no")


def hanging_provider(*args, **kwargs):
    release_hanging_provider.wait(30)
    return {"late": True}


@pytest.fixture(autouse=True)
def no_stats_left_over(redis_conn):
    """Each test starts with no gathered stats and no per-process copy of them."""
    stats_key = store.Keys(django_settings.KEY_PREFIX).stats
    redis_conn.delete(stats_key)
    stats_store.forget()
    provider_calls.clear()
    yield
    release_hanging_provider.set()
    release_hanging_provider.clear()
    stats_store.forget()
    redis_conn.delete(stats_key)


@pytest.fixture
def details_client(settings) -> Client:
    """A caller who may see details (stats, custom providers): it presents a token."""
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["status-details-token"]}
    return Client(HTTP_AUTHORIZATION="Bearer status-details-token")


def _store_down(settings) -> None:
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": STORE_DOWN}
    state.forget()
    stats_store.forget()


def test_health_providers_from_a_real_run(client, settings, django_assert_num_queries):
    _only(settings, "database", "cache", "storage")
    run_and_record()
    for path in ("/status/api/health/databases", "/status/api/health/databases/"):
        with django_assert_num_queries(0):
            response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"default": True}
    with django_assert_num_queries(0):
        response = client.get("/status/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "ping": {"pong": True},
        "databases": {"default": True},
        "caches": {"default": True, "redis": True},
    }


def test_ping_answers_pong_without_the_store(client, settings, django_assert_num_queries):
    _store_down(settings)
    with django_assert_num_queries(0):
        response = client.get("/status/api/health/ping")
    assert response.status_code == 200
    assert response.json() == {"pong": True}


def test_root_lists_every_resource_and_stats_not_gathered_are_null(details_client,
                                                                   django_assert_num_queries):
    _write_all()
    with django_assert_num_queries(0):
        response = details_client.get("/status/api/")
    assert response.status_code == 200
    body = response.json()
    assert body["health"]["databases"] == {"default": True}
    # django-status's set: no celery providers without STATUS_CELERY_WORKERS.
    assert "celery" not in body["health"]
    assert body["stats"] == {"databases": None, "code": None}
    assert details_client.get("/status/api").json() == body


def test_a_failing_database_reads_false_and_the_answer_stays_200(client,
                                                                 django_assert_num_queries):
    _write_all()
    _write("database", Status.FAILING, details={
        "default": {"ok": False, "error": "OperationalError: no such host"}})
    with django_assert_num_queries(0):
        response = client.get("/status/api/health/databases")
    assert response.status_code == 200  # django-status's behaviour: the value says it
    assert response.json() == {"default": False}


def test_a_stale_result_reads_false(client, django_assert_num_queries):
    _write_all(but="database")
    _write("database", Status.PASSING, age=105,
           details={"default": {"ok": True, "latency_ms": 1.0}})
    with django_assert_num_queries(0):
        response = client.get("/status/api/health/databases")
    assert response.json() == {"default": False}


def test_a_check_that_never_ran_reads_false_for_every_alias(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/status/api/health/caches")
    assert response.status_code == 200
    assert response.json() == {"default": False, "redis": False}


def test_celery_names_the_expected_workers(client, settings, django_assert_num_queries):
    settings.STATUS_CELERY_WORKERS = ["alpha@host", "beta@host"]
    _write("celery", Status.FAILING, message="workers not answering: beta@host",
           details={"workers": ["alpha@host"], "missing": ["beta@host"], "ping_ms": 3.0})
    with django_assert_num_queries(0):
        response = client.get("/status/api/health/celery/")
    assert response.json() == {"alpha@host": True, "beta@host": False}


def test_unknown_resource_or_provider_is_a_404_naming_the_valid_ones(client):
    response = client.get("/status/api/nothing/")
    assert response.status_code == 404
    assert response.json()["resources"] == ["health", "stats"]
    response = client.get("/status/api/health/nothing")
    assert response.status_code == 404
    assert response.json()["providers"] == ["caches", "databases", "ping"]


def test_stats_asked_for_before_they_were_gathered_is_a_503_saying_why(details_client):
    response = details_client.get("/status/api/stats/code")
    assert response.status_code == 503
    assert "healthd.tasks.gather_stats" in response.json()["error"]


def test_gathered_stats_are_served_from_the_store(details_client, settings,
                                                 django_assert_num_queries):
    _only(settings, "database", "cache")
    outcome = gather_stats()
    assert outcome["failed"] == []
    with django_assert_num_queries(0):
        response = details_client.get("/status/api/stats/databases/")
    assert response.status_code == 200
    default = response.json()["default"]
    from django.db import connection

    assert default["vendor"] == connection.vendor and default["is_usable"] is True
    assert default["tables"] > 5  # the migrated test database
    # django-status's connection settings, without the credentials
    assert "PASSWORD" not in default["settings"] and "USER" not in default["settings"]
    code = details_client.get("/status/api/stats/code").json()
    assert code["debug"] is False
    assert code["scm"] == "git" and re.fullmatch(r"[0-9a-f]{40}", code["commit"]["id"])
    assert "celery" not in details_client.get("/status/api/stats").json()  # no celery configured


def test_stats_come_from_version_json_when_there_is_no_git(details_client, settings, tmp_path):
    _only(settings, "database")
    settings.BASE_DIR = tmp_path  # not inside a repository
    (tmp_path / "version.json").write_text(
        '{"version": "4.5.6", "commit": "0123abcd", "source": "https://example.org/repo"}')
    gather_stats()
    code = details_client.get("/status/api/stats/code").json()
    assert code["commit"] == {"id": "0123abcd"} and code["version"] == "4.5.6"


def test_custom_providers_run_on_the_schedule_not_on_a_request(details_client, settings,
                                                               django_assert_num_queries):
    _only(settings, "database")
    settings.STATUS_PROVIDERS = {
        "health": (
            ("flag", "tests.compat.status.test_views_status.orders_provider", [1], {"x": 2}),),
        "business": (
            ("orders", "tests.compat.status.test_views_status.orders_provider", None, None),
            ("broken", "tests.compat.status.test_views_status.broken_provider", None, None),
        ),
    }
    gather_stats()
    assert len(provider_calls) == 2
    with django_assert_num_queries(0):
        flag = details_client.get("/status/api/health/flag")
        orders = details_client.get("/status/api/business/orders/")
        broken = details_client.get("/status/api/business/broken")
        whole = details_client.get("/status/api/business")
    assert flag.json() == {"open": 3, "args": [1], "kwargs": {"x": 2}}
    assert orders.json() == {"open": 3, "args": [], "kwargs": {}}
    assert broken.status_code == 200
    assert broken.json() == {"error": "RuntimeError: the orders service said no"}
    assert set(whole.json()) == {"orders", "broken"}
    assert len(provider_calls) == 2  # the views only read


def test_a_hanging_provider_costs_its_timeout_only(details_client, settings):
    _only(settings, "database", TIMEOUT=0.5)
    settings.STATUS_PROVIDERS = {
        "business": (("slow", "tests.compat.status.test_views_status.hanging_provider"),
                     ("orders", "tests.compat.status.test_views_status.orders_provider")),
    }
    started = time.monotonic()
    outcome = gather_stats()
    assert time.monotonic() - started < 3
    assert outcome["failed"] == ["business/slow"]
    assert details_client.get("/status/api/business/slow").json() == {
        "error": "TimeoutError: no answer within 0.5 s"}
    assert details_client.get("/status/api/business/orders").json()["open"] == 3


def test_django_status_paths_are_served_by_the_builtins(client, settings):
    settings.STATUS_PROVIDERS = {
        "health": (("db", "status.providers.django.health.databases", None, None),),
    }
    _write_all()
    assert client.get("/status/api/health/db").json() == {"default": True}


def test_the_task_does_nothing_when_stats_are_off(details_client, settings):
    _only(settings, "database", STATS=False)
    assert "skipped" in gather_stats()
    assert details_client.get("/status/api/stats/code").status_code == 503


def test_store_down_is_a_fast_503_naming_the_cause(details_client, settings):
    _store_down(settings)
    started = time.monotonic()
    responses = [details_client.get(p) for p in ("/status/api/", "/status/api/health/databases",
                                         "/status/api/stats/code", "/status/api/health")] * 5
    assert time.monotonic() - started < 1.5
    assert {r.status_code for r in responses} == {503}
    assert responses[0].json() == {"error": "result store unavailable: ConnectionError"}
    page = details_client.get("/status/")
    assert page.status_code == 503
    assert "result store unavailable: ConnectionError" in page.content.decode()


def test_status_page_shows_each_check_with_its_age_and_no_external_resources(
        client, django_assert_num_queries):
    _write_all()
    _write("redis", Status.FAILING, message="cache:redis: ConnectionError: refused")
    with django_assert_num_queries(0):
        response = client.get("/status/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    html = response.content.decode()
    assert 'class="badge failing">failing' in html and 'class="badge passing">passing' in html
    assert "0 s ago" in html
    assert "<script" not in html and "<link" not in html
    assert "ConnectionError: refused" not in html  # messages are details


def test_health_page_shows_messages_to_callers_who_may_see_details(client, settings,
                                                                   django_assert_num_queries):
    settings.WATCHMAN_TOKEN = "page-token-123"
    _write_all(but="database")
    _write("database", Status.PASSING, age=105, details={"default": {"ok": True,
                                                                    "latency_ms": 1.5}})
    with django_assert_num_queries(0):
        html = client.get("/status/health/?watchman-token=page-token-123").content.decode()
    assert 'class="badge stale">stale' in html
    assert "last result is 105 s old" in html and "1.5 ms" in html
    anonymous = client.get("/status/health/").content.decode()
    assert 'class="badge stale">stale' in anonymous and "105 s old" not in anonymous


def test_stats_page_shows_the_gathered_stats_and_their_age(details_client, settings,
                                                           django_assert_num_queries):
    _only(settings, "database")
    assert "No stats gathered yet" in details_client.get("/status/stats/").content.decode()
    gather_stats()
    stats_store.forget()
    with django_assert_num_queries(0):
        response = details_client.get("/status/stats/")
    html = response.content.decode()
    assert response.status_code == 200
    from django.db import connection

    assert "Gathered 0 s ago" in html
    assert f"&quot;vendor&quot;: &quot;{connection.vendor}&quot;" in html


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_celery_stats_summarise_the_workers(details_client, settings, celery_worker):
    settings.STATUS_CELERY_WORKERS = [celery_worker.hostname]
    _only(settings, "database", "celery", CELERY_TIMEOUT=5.0)
    gather_stats()
    body = details_client.get("/status/api/stats/celery").json()
    assert list(body) == [celery_worker.hostname]
    summary = body[celery_worker.hostname]
    assert summary["concurrency"] == 4 and isinstance(summary["pid"], int)
    assert summary["tasks_total"] >= 0


def test_anonymous_callers_get_the_health_builtins_only(client, settings):
    """Stats and custom providers are details: worker hosts, pids, the commit's author."""
    _only(settings, "database", "cache")
    settings.STATUS_PROVIDERS = {
        "health": (("flag", "tests.compat.status.test_views_status.orders_provider"),),
        "business": (("orders", "tests.compat.status.test_views_status.orders_provider"),),
    }
    _write_all()
    gather_stats()
    root = client.get("/status/api/")
    assert root.status_code == 200
    assert root.json() == {"health": {"ping": {"pong": True}, "databases": {"default": True},
                                      "caches": {"default": True, "redis": True}}}
    assert set(client.get("/status/api/health").json()) == {"ping", "databases", "caches"}
    for path in ("/status/api/stats", "/status/api/stats/code", "/status/api/business/",
                 "/status/api/health/flag"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "token" in response.json()["error"]
    assert client.get("/status/api/nothing").status_code == 404  # unknown stays a 404
    stats_page = client.get("/status/stats/").content.decode()
    assert "vendor" not in stats_page and "shown to callers who may see details" in stats_page
    index = client.get("/status/").content.decode()
    assert "Commit" not in index and "Shown to callers who may see details" in index


def test_celery_providers_need_status_celery_workers(client, settings):
    _write_all()
    assert "celery" not in client.get("/status/api/health").json()
    assert client.get("/status/api/health/celery").status_code == 404
    settings.STATUS_CELERY_WORKERS = ["alpha@host"]
    assert "celery" in client.get("/status/api/health").json()
