"""django-status's documented API and command, against healthd.

django-status has no test file we can read. Sources: its README (the reference copy in
the shared reference documents: "Check Providers", "Django Status website", "Django
Status API", "Django management commands", "Settings"), and for the command's exact
behaviour its source, perdy/health-check ``status/commands.py`` (``StatusCommand``:
``-f json|yaml``, default yaml; ``-e`` exits 1 when a provider's value is false) and
``status/providers/`` (the shapes of the built-in providers). Adapted setup: django-status
ran its providers on each request; here check results are stored first (as a worker
stores them) and stats are gathered by the ``gather_stats`` task before a view or the
command reads them. django-status's API was public; healthd's shows stats and custom
providers only to callers who may see details, so the tests that read them call with a
token (``details_client``), and the difference is a test of its own.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client

from healthd.checks.base import Status
from healthd.compat.status import stats as stats_store
from healthd.tasks.stats import gather_stats
from tests.support.results import only, write_all, write_result

pytestmark = pytest.mark.django_db


def business_provider(*args, **kwargs):
    """The README's custom provider: takes *args and **kwargs, returns JSON-serialisable."""
    return {"args": list(args), "kwargs": kwargs}


@pytest.fixture(autouse=True)
def no_stats_copy_left_over():
    stats_store.forget()
    yield
    stats_store.forget()


@pytest.fixture
def status_set(settings):
    """A site whose checks give django-status's default providers (no Celery workers)."""
    only(settings, "database", "cache", "storage")
    write_all()


@pytest.fixture
def details_client(settings) -> Client:
    """A caller who may see details: it presents one of the configured tokens."""
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["status-details-token"]}
    return Client(HTTP_AUTHORIZATION="Bearer status-details-token")


def status(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("status", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


# --- the API (README "Check Providers", "Django Status API") ------------------------------


# README, Check Providers: "Ping. A ping to application. URL: /api/health/ping"
def test_api_health_ping(client):
    response = client.get("/status/api/health/ping")
    assert response.status_code == 200
    assert response.json() == {"pong": True}


# README, Check Providers: "Databases. Check if databases are running."
# (status/providers/django/health.py: {alias: is_usable})
def test_api_health_databases(client, status_set):
    response = client.get("/status/api/health/databases")
    assert response.status_code == 200
    assert response.json() == {"default": True}


# README, Check Providers: "Caches. Check if caches are running." ({alias: bool})
def test_api_health_caches(client, status_set):
    response = client.get("/status/api/health/caches")
    assert response.status_code == 200
    assert response.json() == {"default": True, "redis": True}


# README, Django Status API: "a resource view that will return the status of all
# providers" — the default health providers are ping, databases and caches
def test_api_health_resource(client, status_set):
    response = client.get("/status/api/health")
    assert response.status_code == 200
    assert response.json() == {"ping": {"pong": True}, "databases": {"default": True},
                               "caches": {"default": True, "redis": True}}


# README, Settings: STATUS_CELERY_WORKERS "If any worker is defined, two additional
# providers listed previously will be added to default set" — and only then
def test_celery_providers_only_with_status_celery_workers(details_client):
    write_all()  # the test site runs a celery check
    health = details_client.get("/status/api/health").json()
    assert set(health) == {"ping", "databases", "caches"}
    assert set(details_client.get("/status/api/").json()["stats"]) == {"databases", "code"}


# README, Settings: STATUS_CELERY_WORKERS adds the celery providers
def test_celery_providers_with_status_celery_workers(details_client, settings):
    settings.STATUS_CELERY_WORKERS = ["worker1@host"]
    write_all()
    write_result("celery", Status.PASSING, details={"workers": ["worker1@host"]})
    assert "celery" in details_client.get("/status/api/health").json()
    assert "celery" in details_client.get("/status/api/").json()["stats"]
    assert details_client.get("/status/api/health/celery").json() == {"worker1@host": True}


# README, Django Status API: "a root view that will return the status of all providers
# from all resources"
def test_api_root(details_client, status_set):
    gather_stats()
    response = details_client.get("/status/api")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"health", "stats"}
    assert set(body["health"]) == {"ping", "databases", "caches"}
    assert set(body["stats"]) == {"databases", "code"}


# README, Check Providers: "Databases stats. Show stats for all databases."
# (status/providers/django/stats.py: per alias, vendor and is_usable among others)
def test_api_stats_databases(details_client, status_set):
    from django.db import connection

    gather_stats()
    response = details_client.get("/status/api/stats/databases")
    assert response.status_code == 200
    default = response.json()["default"]
    assert default["vendor"] == connection.vendor
    assert default["is_usable"] is True


# README, Django Status API: the API is public, stats included (no authentication)
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "stats and custom providers are details: an anonymous caller gets 403 from "
    "api/stats/… and api/ leaves them out (they carry worker host names and pids and the "
    "commit's author); django-status served them to anyone"))
def test_api_stats_are_public(client, status_set):
    gather_stats()
    assert client.get("/status/api/stats/databases").status_code == 200
    assert set(client.get("/status/api/").json()) == {"health", "stats"}


# status/providers/django/stats.py: the rest of each alias's stats
def test_api_stats_databases_connection_fields(details_client, status_set):
    gather_stats()
    default = details_client.get("/status/api/stats/databases").json()["default"]
    assert {"allow_thread_sharing", "autocommit", "commit_on_exit", "in_atomic_block",
            "settings"} <= set(default)


# README, Check Providers: "Code. Source code stats such as current active branch, last
# commit, if debug is active..." (status/providers/stats.py: debug, scm, commit)
def test_api_stats_code(details_client, status_set):
    gather_stats()
    response = details_client.get("/status/api/stats/code")
    assert response.status_code == 200
    code = response.json()
    assert code["debug"] is False
    assert code["scm"] == "git"
    assert {"id", "summary", "author", "date"} <= set(code["commit"])


# status/providers/stats.py: branch is {"local": name, "remote": name or "unknown"}
def test_api_stats_code_branch(details_client, status_set):
    gather_stats()
    branch = details_client.get("/status/api/stats/code").json()["branch"]
    assert set(branch) == {"local", "remote"}


# README, Settings: STATUS_PROVIDERS — "Each provider consists in a tuple of name, function
# complete path, args and kwargs" (example: ('test', '…', [1, 2], {'foo': 'bar'}))
def test_custom_provider(details_client, status_set, settings):
    settings.STATUS_PROVIDERS = {
        "resource": (
            ("test", "tests.compat.test_django_status.business_provider", [1, 2],
             {"foo": "bar"}),
        ),
    }
    gather_stats()
    response = details_client.get("/status/api/resource/test")
    assert response.status_code == 200
    assert response.json() == {"args": [1, 2], "kwargs": {"foo": "bar"}}
    assert details_client.get("/status/api/resource").json() == {"test": response.json()}


# README, Django Status website: /status/, /status/health/, /status/stats/
@pytest.mark.parametrize("path", ["/status/", "/status/health/", "/status/stats/"])
def test_status_website(client, status_set, path):
    gather_stats()
    assert client.get(path).status_code == 200


# --- the command (README "Django management commands"; status/commands.py) ---------------


# status/commands.py::health: prints the resource, {provider: value}, as JSON with -f json
def test_command_health_json(status_set):
    code, out, _ = status("health", "-f", "json")
    assert code == 0
    assert json.loads(out) == {"ping": {"pong": True}, "databases": {"default": True},
                               "caches": {"default": True, "redis": True}}


# status/commands.py: -f defaults to yaml
def test_command_health_default_output_reads_as_yaml(status_set):
    code, out, _ = status("health")
    assert code == 0
    assert yaml.safe_load(out) == {"ping": {"pong": True}, "databases": {"default": True},
                                   "caches": {"default": True, "redis": True}}


# README: "python manage.py status health -e" — "exit with an error if some check is failing"
def test_command_health_e_exits_0_while_every_value_is_true(status_set):
    code, _, _ = status("health", "-e")
    assert code == 0


# status/commands.py::health: -e exits 1 unless every value of every provider is true
def test_command_health_e_exits_1_when_a_value_is_false(status_set):
    write_result("cache", Status.FAILING, details={"default": {"ok": True},
                                                   "redis": {"ok": False, "error": "down"}})
    code, out, _ = status("health", "-f", "json", "-e")
    assert code == 1
    assert json.loads(out)["caches"] == {"default": True, "redis": False}


# status/commands.py::stats: prints the resource, {provider: value}, with -f json
def test_command_stats_json(status_set):
    from django.db import connection

    gather_stats()
    code, out, _ = status("stats", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"databases", "code"}
    assert data["databases"]["default"]["vendor"] == connection.vendor
    assert data["code"]["debug"] is False


# status/commands.py::stats: -f yaml
def test_command_stats_yaml(status_set):
    gather_stats()
    code, out, _ = status("stats", "-f", "yaml")
    assert code == 0
    assert set(yaml.safe_load(out)) == {"databases", "code"}
