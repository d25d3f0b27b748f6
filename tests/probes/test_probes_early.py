"""Probes answered before Django (healthd.wsgi.probes, healthd.asgi.probes) answer exactly
as the Django views do, under WSGI and ASGI alike, and leave everything else to Django."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.test import Client

from healthd import asgi, signals, wsgi
from healthd.checks.base import Status
from healthd.compat.dockerflow import views as dockerflow
from healthd.local import draining, instances
from healthd.local.instances import ProcessState
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.support.endpoints import ASGITestClient, call_asgi, call_wsgi, event_loop_thread
from tests.support.processes import ROOT
from tests.support.results import CommandCounter, only, store_down, write_all, write_result
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

PROBES = ["/__lbheartbeat__", "/livez", "/livez/", "/__heartbeat__", "/readyz", "/readyz/",
          "/startupz", "/startupz/", "/healthz", "/healthz/", "/watchman/bare/"]
POD_IP = "10.1.2.3:8000"


class Recorder:
    """An application in front of Django that notes each request it is handed."""

    def __init__(self, application):
        self.application = application
        self.paths: list[str] = []

    def __call__(self, environ, start_response):
        self.paths.append(environ["PATH_INFO"])
        return self.application(environ, start_response)


class AsyncRecorder(Recorder):
    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await self.application(scope, receive, send)


class FourWays:
    """The same request through Django and through the early layer, under WSGI and ASGI."""

    def __init__(self):
        self.django_wsgi = Recorder(get_wsgi_application())
        self.django_asgi = AsyncRecorder(get_asgi_application())
        self.early_wsgi = wsgi.probes(self.django_wsgi)
        self.early_asgi = asgi.probes(self.django_asgi)

    def django(self, path, **request):
        return call_wsgi(self.django_wsgi, path, **request), call_asgi(self.django_asgi, path,
                                                                        **request)

    def early(self, path, **request):
        return call_wsgi(self.early_wsgi, path, **request), call_asgi(self.early_asgi, path,
                                                                       **request)

    def passed_to_django(self) -> list[str]:
        return self.django_wsgi.paths + self.django_asgi.paths


def _write_state(case: str, settings, monkeypatch) -> None:
    if case == "passing":
        write_all()
    elif case == "warning":
        write_all()
        write_result("database", Status.WARNING)
    elif case == "critical failing":
        write_all()
        write_result("redis", Status.FAILING)
    elif case == "non-critical failing":
        only(settings, "database", {"check": "storage", "critical": False})
        write_all()
        write_result("storage", Status.FAILING)
    elif case == "stale":
        write_all()
        write_result("cache", Status.PASSING, age=95)
    elif case == "never ran":
        write_all(but="email")
    elif case == "no result at all":
        pass
    elif case == "store down":
        store_down(settings)
    elif case == "failing with the codes set":
        settings.DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE = 503
        settings.WATCHMAN_ERROR_CODE = 599
        write_all(Status.FAILING)
    elif case == "a local check failing":
        settings.HEALTHD = {**settings.HEALTHD, "LOCAL_CHECKS": [
            "memory", {"check": "disk", "min_free_mb": 10**12}]}
        write_all()
    elif case in ("a local check failing on most pods", "a local check failing on few pods"):
        # Other pods publish the same failing check: shared by 3 of 4 pods, or 2 of 4.
        settings.HEALTHD = {**settings.HEALTHD, "LOCAL_CHECKS": [
            "memory", {"check": "disk", "min_free_mb": 10**12}]}
        now = time.time()
        others = 2 if case == "a local check failing on most pods" else 1
        for n, name in enumerate(["pod-b", "pod-c", "pod-d"]):
            failures = {"disk": "0 MB free"} if n < others else {}
            instances.put(ProcessState(name, 10 + n, True, False, failures, now, now))
        write_all()
    elif case == "an opted-in check failing":
        only(settings, {"check": "database", "readiness": True}, "cache")
        write_all()
        write_result("database", Status.FAILING)
    elif case == "draining":
        draining.begin()  # the session's fixture resets it
        write_all()
    state.forget()


STATES = ["passing", "warning", "critical failing", "non-critical failing", "stale",
          "never ran", "no result at all", "store down", "failing with the codes set",
          "a local check failing", "a local check failing on most pods",
          "a local check failing on few pods", "an opted-in check failing", "draining"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("case", STATES)
def test_every_probe_answers_as_django_does_in_every_state(settings, monkeypatch, case,
                                                           method):
    _write_state(case, settings, monkeypatch)
    ways = FourWays()
    for path in PROBES:
        django_wsgi, django_asgi = ways.django(path, method=method)
        early_wsgi, early_asgi = ways.early(path, method=method)
        assert django_wsgi == django_asgi == early_wsgi == early_asgi, (path, django_wsgi,
                                                                        early_wsgi)
        assert django_wsgi.reason == early_wsgi.reason
    # Each was answered early: Django saw only the requests sent to it directly.
    assert ways.passed_to_django() == PROBES * 2


def test_the_answers_differ_with_the_state():
    """The identity above is not one of empty answers."""
    ways = FourWays()
    write_all()
    state.forget()
    green = {path: ways.early(path)[0] for path in PROBES}
    write_result("database", Status.FAILING)  # in every dialect's set, watchman's too
    state.forget()
    red = {path: ways.early(path)[1] for path in PROBES}
    assert green["/__heartbeat__"].body == b'{"status": "ok"}'
    assert red["/__heartbeat__"].status == 500
    assert red["/__heartbeat__"].body == b'{"status": "error"}'
    # A shared failure leaves every process ready: /readyz judges this process.
    assert green["/readyz"] == red["/readyz"] and red["/readyz"].status == 200
    assert (green["/startupz"].status, red["/startupz"].status) == (200, 200)
    assert (green["/healthz"].status, red["/healthz"].status) == (200, 503)
    assert (green["/watchman/bare/"].status, red["/watchman/bare/"].status) == (200, 500)
    assert green["/livez"] == red["/livez"]


def test_store_down_is_answered_early_at_once_and_names_the_cause(settings):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://:pw1234567@127.0.0.1:1/0"}
    ways = FourWays()
    started = time.monotonic()
    answers = [ways.early("/__heartbeat__") for _ in range(20)]
    assert time.monotonic() - started < 1.5
    body = json.loads(answers[0][0].body)
    assert body == {"status": "error", "error": "result store unavailable: ConnectionError"}
    assert all(a == answers[0][0] for pair in answers for a in pair)
    assert ways.passed_to_django() == []


def test_a_probe_answered_early_is_not_refused_for_its_host(settings):
    """Kubelets and load balancers call with a pod's IP as Host: Django refuses it (400),
    the early answer does not, and is what Django answers a Host it allows."""
    settings.ALLOWED_HOSTS = ["healthd.example"]
    write_all()
    state.forget()
    ways = FourWays()
    for path in PROBES:
        refused = ways.django(path, host=POD_IP)
        assert {sent.status for sent in refused} == {400}, path
        allowed = ways.django(path, host="healthd.example")
        assert ways.early(path, host=POD_IP) == allowed, path
    # Anything else still meets ALLOWED_HOSTS.
    assert {sent.status for sent in ways.early("/watchman/", host=POD_IP)} == {400}


@pytest.mark.parametrize("path, query, headers, method", [
    ("/__heartbeat__", "watchman-token=a-token", {}, "GET"),
    ("/__heartbeat__", "", {"Authorization": 'WATCHMAN-TOKEN Token="a-token"'}, "GET"),
    ("/healthz", "", {"Authorization": "Bearer a-token"}, "GET"),
    ("/readyz", "verbose", {}, "GET"),
    ("/readyz", "exclude=email", {}, "GET"),
    ("/livez", "verbose", {}, "GET"),
    ("/watchman/bare/", "check=database", {}, "GET"),
    ("/__heartbeat__", "", {}, "POST"),
    ("/healthz", "", {}, "OPTIONS"),
    ("/watchman/", "", {}, "GET"),
    ("/watchman/bare", "", {}, "GET"),
    ("/metrics", "", {}, "GET"),
    ("/status/api/health/", "", {}, "GET"),
    ("/not-a-probe", "", {}, "GET"),
])
def test_anything_else_goes_to_django_untouched(settings, path, query, headers, method):
    settings.WATCHMAN_TOKEN = "a-token"
    write_all()
    state.forget()
    ways = FourWays()
    assert ways.early(path, query=query, headers=headers, method=method) == ways.django(
        path, query=query, headers=headers, method=method)
    assert ways.passed_to_django() == [path] * 4


@pytest.mark.parametrize("setting", ["DEBUG", "PUBLIC_DETAILS"])
def test_details_for_everyone_leave_every_probe_to_django(settings, setting):
    if setting == "DEBUG":
        settings.DEBUG = True
    else:
        settings.HEALTHD = {**settings.HEALTHD, "PUBLIC_DETAILS": True}
    write_all()
    state.forget()
    ways = FourWays()
    for path in PROBES:
        assert ways.early(path) == ways.django(path)
    assert len(ways.passed_to_django()) == len(PROBES) * 4
    assert "checks" in json.loads(ways.early("/__heartbeat__")[0].body)


def test_a_site_listening_to_the_heartbeat_signals_gets_them(settings):
    write_all()
    state.forget()
    heard = []

    def passed(sender, level, **kwargs):
        heard.append(level)

    signals.heartbeat_passed.connect(passed)
    try:
        ways = FourWays()
        assert ways.early("/__heartbeat__") == ways.django("/__heartbeat__")
    finally:
        signals.heartbeat_passed.disconnect(passed)
    assert heard == [0, 0, 0, 0]  # dockerflow: level 0 when no check has a message


def test_with_watchman_tokens_bare_is_still_answered_early(settings):
    """watchman's bare view has no guard, so tokens change nothing for it."""
    settings.WATCHMAN_TOKENS = "a-token"
    write_all()
    state.forget()
    ways = FourWays()
    early = ways.early("/watchman/bare/")
    assert ways.passed_to_django() == []
    assert early[0].status == 200
    assert early == ways.django("/watchman/bare/")


def test_a_site_mounting_healthd_elsewhere_keeps_its_paths(settings):
    settings.ROOT_URLCONF = "tests.site.urls_mounted_elsewhere"
    write_all()
    state.forget()
    ways = FourWays()
    for path in ["/__heartbeat__", "/healthz", "/watchman/bare/"]:
        early, django = ways.early(path), ways.django(path)
        assert early == django and early[0].status == 404
    assert len(ways.passed_to_django()) == 12
    # healthd's heartbeat under its prefix is Django's to answer (not a probe path here).
    assert {s.status for s in ways.early("/health/__heartbeat__")} == {200}


@pytest.mark.parametrize("scheme, forwarded", [("http", None), ("https", None),
                                               ("http", "https")])
def test_the_site_middleware_headers_are_the_same(settings, scheme, forwarded):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE,
                           "django.middleware.clickjacking.XFrameOptionsMiddleware"]
    settings.X_FRAME_OPTIONS = "sameorigin"
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_REFERRER_POLICY = ["no-referrer", "strict-origin"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    write_all()
    state.forget()
    ways = FourWays()
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    for path in PROBES:
        early = ways.early(path, scheme=scheme, headers=headers)
        assert early == ways.django(path, scheme=scheme, headers=headers), path
    names = [name for name, _ in early[0].headers]
    assert "X-Frame-Options" in names
    assert ("Strict-Transport-Security" in names) == (scheme == "https" or bool(forwarded))
    assert ways.passed_to_django() == PROBES * 2


def test_a_request_django_redirects_to_https_goes_to_django(settings):
    settings.SECURE_SSL_REDIRECT = True
    write_all()
    state.forget()
    ways = FourWays()
    plain = ways.early("/__heartbeat__")
    assert plain == ways.django("/__heartbeat__") and plain[0].status == 301
    assert ways.early("/__heartbeat__", scheme="https") == ways.django("/__heartbeat__",
                                                                      scheme="https")
    assert ways.passed_to_django() == ["/__heartbeat__"] * 6


def test_early_answers_read_redis_at_most_once_per_freshness_period(settings, monkeypatch):
    # A period no loaded machine outlasts: the requests fall within one.
    settings.HEALTHD = {**settings.HEALTHD, "CACHE_SECONDS": 30}
    write_all()
    state.forget()
    ways = FourWays()
    counter = CommandCounter(monkeypatch)
    for _ in range(25):
        ways.early("/__heartbeat__")
    assert counter.count == 1
    counter.count = 0
    for _ in range(10):
        ways.early("/livez")
        ways.early("/__lbheartbeat__")
    assert counter.count == 0


# --- health views as coroutines under ASGI --------------------------------------------------


def test_a_health_view_is_a_coroutine_function_only_where_an_event_loop_runs():
    assert not asyncio.iscoroutinefunction(dockerflow.heartbeat)

    async def inside() -> bool:
        return asyncio.iscoroutinefunction(dockerflow.heartbeat)

    assert event_loop_thread().run(inside())


def test_under_asgi_a_health_view_answers_in_the_event_loop_thread():
    """No hop to a worker thread: the view (here its signal) runs where the loop runs."""
    write_all()
    state.forget()
    seen = []

    def passed(sender, **kwargs):
        try:
            asyncio.get_running_loop()
            seen.append(("loop", threading.current_thread().name))
        except RuntimeError:
            seen.append(("no loop", threading.current_thread().name))

    signals.heartbeat_passed.connect(passed)
    try:
        assert ASGITestClient(event_loop_thread()).get("/__heartbeat__").status_code == 200
        assert Client().get("/__heartbeat__").status_code == 200
    finally:
        signals.heartbeat_passed.disconnect(passed)
    assert seen[0] == ("loop", event_loop_thread().thread.name)
    assert seen[1][0] == "no loop"  # Django's test client is the WSGI handler


def test_under_asgi_the_store_is_read_with_the_asyncio_client(monkeypatch):
    write_all()
    state.forget()

    def blocking_read(*args, **kwargs):
        raise AssertionError("the event loop would block on the synchronous client")

    monkeypatch.setattr(redis_client.reader(), "execute_command", blocking_read)
    asgi_client = ASGITestClient(event_loop_thread())
    for path in ["/__heartbeat__", "/healthz", "/readyz", "/watchman/", "/watchman/bare/"]:
        response = asgi_client.get(path)
        assert response.status_code == 200, (path, response.content)


# --- the standalone site under uvicorn ------------------------------------------------------


def _get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def uvicorn_site():
    """healthd.site.asgi under uvicorn (the test settings: this run's store and keys)."""
    from tests.support.ports import free_port

    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "healthd.site.asgi:application", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            return _get(base + "/__lbheartbeat__")[0] == 200
        except OSError:
            return False

    try:
        wait_for(serving, timeout=30, message="uvicorn to serve")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


def test_the_standalone_site_under_uvicorn(uvicorn_site):
    write_all()
    assert _get(uvicorn_site + "/__heartbeat__", host=POD_IP) == (200, b'{"status": "ok"}')
    assert _get(uvicorn_site + "/healthz")[0] == 200
    status, body = _get(uvicorn_site + "/watchman/")  # Django's coroutine view
    assert status == 200 and json.loads(body)["databases"]
    assert _get(uvicorn_site + "/status/api/health/ping")[0] == 200  # a plain view
    write_result("database", Status.FAILING)
    wait_for(lambda: _get(uvicorn_site + "/__heartbeat__")[0] == 500, timeout=5,
             message="the failure to show within the freshness period")
    assert _get(uvicorn_site + "/watchman/bare/")[0] == 500


@pytest.mark.parametrize("case, readyz, startupz", [
    ("a local check failing", 503, 200),
    ("a local check failing on most pods", 200, 200),
    ("a local check failing on few pods", 503, 200),
    ("an opted-in check failing", 503, 200),
    ("draining", 503, 200),
    ("critical failing", 200, 200),
    ("store down", 200, 503),
    ("no result at all", 200, 503),
])
def test_readyz_and_startupz_answered_early_judge_this_process(settings, monkeypatch, case,
                                                               readyz, startupz):
    """The identity above is not one of answers that never change."""
    _write_state(case, settings, monkeypatch)
    ways = FourWays()
    assert {sent.status for sent in ways.early("/readyz")} == {readyz}
    assert {sent.status for sent in ways.early("/startupz")} == {startupz}
    assert ways.passed_to_django() == []


def test_under_prepend_www_django_answers_with_its_redirect(settings):
    """CommonMiddleware sends a host without ``www.`` to the ``www.`` one (301) before any
    view: the early layer must not answer 200 where Django would redirect."""
    settings.PREPEND_WWW = True
    settings.ALLOWED_HOSTS = ["healthd.example", "www.healthd.example"]
    write_all()
    state.forget()
    ways = FourWays()
    for path in PROBES:
        by_django = ways.django(path, host="healthd.example")
        assert {sent.status for sent in by_django} == {301}, path
        assert ways.early(path, host="healthd.example") == by_django, path


def test_a_user_agent_django_refuses_goes_to_django(settings):
    """CommonMiddleware refuses DISALLOWED_USER_AGENTS (403) before any view."""
    import re

    settings.DISALLOWED_USER_AGENTS = [re.compile(r"^BadBot")]
    write_all()
    state.forget()
    ways = FourWays()
    for path in PROBES:
        by_django = ways.django(path, headers={"User-Agent": "BadBot/1.0"})
        assert {sent.status for sent in by_django} == {403}, path
        assert ways.early(path, headers={"User-Agent": "BadBot/1.0"}) == by_django, path


def test_append_slash_never_redirects_a_probe_answered_early(settings):
    """APPEND_SLASH redirects only a path the URLconf does not route: the early layer
    answers only paths routed to healthd's views, so both answer alike, with and without
    the slash (a form the URLconf lacks is Django's redirect)."""
    settings.APPEND_SLASH = True
    write_all()
    state.forget()
    ways = FourWays()
    for path in [*PROBES, "/__heartbeat__/", "/watchman/bare"]:
        assert ways.early(path) == ways.django(path), path
    assert {sent.status for sent in ways.early("/watchman/bare")} == {301}
