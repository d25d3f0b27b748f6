"""mozlog JSON formatter, request.summary middleware, and the probes left out of both."""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from healthd.logging import (
    PROBE_PATHS,
    MozlogFormatter,
    is_probe_path,
    probe_free_sampler,
    sentry_traces_sampler,
)
from healthd.middleware import RequestSummaryMiddleware, request_id_context


def _record(message: str = "hello %s", args: tuple = ("world",), level: int = logging.INFO,
            exc_info=None, **extra) -> logging.LogRecord:
    record = logging.getLogger("healthd.test").makeRecord(
        "healthd.test", level, __file__, 1, message, args, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_formatter_writes_the_mozlog_envelope():
    before = time.time_ns()
    line = MozlogFormatter(logger_name="myproject").format(_record(answer=42))
    data = json.loads(line)
    assert set(data) == {"Timestamp", "Type", "Logger", "Hostname", "EnvVersion", "Severity",
                         "Pid", "Fields"}
    assert before - 10**9 <= data["Timestamp"] <= time.time_ns()  # nanoseconds
    assert data["Type"] == "healthd.test"
    assert data["Logger"] == "myproject"
    assert data["Hostname"] == socket.gethostname()
    assert data["EnvVersion"] == "2.0"
    assert data["Severity"] == 6
    assert data["Pid"] == os.getpid()
    assert data["Fields"] == {"answer": 42, "msg": "hello world"}


@pytest.mark.parametrize(("level", "severity"), [
    (logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6),
    (logging.DEBUG, 7), (5, 7),
])
def test_levels_map_to_syslog_severities(level, severity):
    data = json.loads(MozlogFormatter().format(_record(level=level)))
    assert data["Severity"] == severity
    assert data["Logger"] == "Dockerflow"


def test_an_exception_carries_its_error_and_traceback_without_secrets():
    try:
        raise ValueError("cannot reach redis://user:hunter22@cache.example:6379/0")
    except ValueError:
        import sys

        record = _record("failed", (), logging.ERROR, exc_info=sys.exc_info())
    data = json.loads(MozlogFormatter().format(record))
    fields = data["Fields"]
    assert fields["msg"] == "failed"
    assert fields["error"].startswith("ValueError(")
    assert "Traceback (most recent call last)" in fields["traceback"]
    assert "test_an_exception_carries" in fields["traceback"]
    assert "hunter22" not in json.dumps(data)


def test_a_json_message_and_unencodable_extras_do_not_break_a_line():
    data = json.loads(MozlogFormatter().format(_record('{"k": 1}', (), thing=object())))
    assert "msg" not in data["Fields"]
    assert data["Fields"]["thing"].startswith("<object object")


def test_the_formatter_plugs_into_logging_config_like_dockerflows(capsys):
    import logging.config

    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "healthd.logging.MozlogFormatter",
                                "logger_name": "site"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json",
                                 "stream": "ext://sys.stdout"}},
        "loggers": {"healthd.dictconfig": {"handlers": ["console"], "level": "DEBUG",
                                           "propagate": False}},
    })
    logging.getLogger("healthd.dictconfig").info("configured", extra={"n": 1})
    data = json.loads(capsys.readouterr().out.strip())
    assert data["Logger"] == "site"
    assert data["Fields"] == {"n": 1, "msg": "configured"}


# --- the middleware ---------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def summaries():
    handler = _Capture()
    logger = logging.getLogger("request.summary")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


class _User:
    def __init__(self, pk, authenticated=True):
        self.pk = pk
        self.is_authenticated = authenticated


def _ok(request):
    time.sleep(0.02)
    return HttpResponse("ok")


def test_a_request_summary_has_dockerflows_fields(summaries):
    request = RequestFactory().get(
        "/some/page", HTTP_USER_AGENT="curl/8", HTTP_ACCEPT_LANGUAGE="fr-CA",
        HTTP_X_REQUEST_ID="abc-123")
    request.user = _User(7)
    response = RequestSummaryMiddleware(_ok)(request)
    assert response.status_code == 200
    (record,) = summaries
    assert record.name == "request.summary"
    assert record.levelno == logging.INFO
    assert record.errno == 0
    assert record.agent == "curl/8"
    assert record.lang == "fr-CA"
    assert record.method == "GET"
    assert record.path == "/some/page"
    assert record.uid == 7
    assert record.rid == "abc-123"
    assert 20 <= record.t < 2000
    data = json.loads(MozlogFormatter().format(record))
    assert data["Type"] == "request.summary"
    assert {"errno", "agent", "lang", "method", "path", "uid", "rid", "t"} <= set(data["Fields"])
    assert "msg" not in data["Fields"]


def test_anonymous_users_and_odd_request_ids(summaries):
    request = RequestFactory().post("/form", HTTP_X_REQUEST_ID="bad id\nwith newline")
    request.user = _User(None, authenticated=False)
    RequestSummaryMiddleware(lambda r: HttpResponse())(request)
    (record,) = summaries
    assert record.uid == ""
    assert record.method == "POST"
    assert len(record.rid) == 32 and "\n" not in record.rid
    assert record.agent == "" and record.lang == ""


def test_an_unhandled_exception_is_one_errno_500_record(summaries):
    middleware = RequestSummaryMiddleware(lambda r: HttpResponse(status=500))
    request = RequestFactory().get("/boom")

    def view_raising(req):
        middleware.process_exception(req, RuntimeError("broke with token=s3cr3tvalue"))
        return HttpResponse(status=500)

    middleware.get_response = view_raising
    middleware(request)
    (record,) = summaries
    assert record.errno == 500
    assert record.levelno == logging.ERROR
    assert "s3cr3tvalue" not in record.getMessage()


@pytest.mark.parametrize("path", [
    "/__heartbeat__", "/__lbheartbeat__", "/__version__", "/livez", "/readyz", "/healthz",
    "/metrics", "/watchman/", "/watchman/bare/", "/status/api/health", "/status/api/",
])
def test_probe_paths_are_left_out_by_default(summaries, path):
    RequestSummaryMiddleware(lambda r: HttpResponse())(RequestFactory().get(path))
    assert summaries == []


@pytest.mark.parametrize("path", ["/", "/admin/", "/status/", "/healthzz", "/metricsx",
                                  "/watchmanx"])
def test_other_paths_are_logged(summaries, path):
    RequestSummaryMiddleware(lambda r: HttpResponse())(RequestFactory().get(path))
    assert len(summaries) == 1


def test_skipped_paths_come_from_the_settings(summaries, settings):
    settings.HEALTHD = {**settings.HEALTHD, "SUMMARY_SKIP_PATHS": ["/ping/"]}
    for path in ("/ping", "/ping/deep", "/__heartbeat__"):
        RequestSummaryMiddleware(lambda r: HttpResponse())(RequestFactory().get(path))
    assert [r.path for r in summaries] == ["/__heartbeat__"]


def test_the_middleware_works_in_a_real_request_cycle(summaries, client, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "healthd.middleware.RequestSummaryMiddleware"]
    client.get("/__lbheartbeat__")
    client.get("/no-such-page/")
    assert [(r.path, r.uid) for r in summaries] == [("/no-such-page/", "")]


def test_probe_path_matching():
    assert all(is_probe_path(p) for p in PROBE_PATHS)
    assert is_probe_path("/status/api/health/databases")
    assert not is_probe_path("/status")
    assert not is_probe_path("/x", skipped=["/"])


# --- Sentry traces ----------------------------------------------------------------------


@pytest.mark.parametrize(("context", "rate"), [
    ({"wsgi_environ": {"PATH_INFO": "/__heartbeat__"}}, 0.0),
    ({"wsgi_environ": {"PATH_INFO": "/__heartbeat__"}, "parent_sampled": True}, 0.0),
    ({"asgi_scope": {"path": "/readyz"}}, 0.0),
    ({"transaction_context": {"name": "/watchman/"}}, 0.0),
    ({"wsgi_environ": {"PATH_INFO": "/orders/"}}, 0.25),
    ({"wsgi_environ": {"PATH_INFO": "/orders/"}, "parent_sampled": False}, 0.0),
    ({"wsgi_environ": {"PATH_INFO": "/orders/"}, "parent_sampled": True}, 1.0),
    ({"celery_job": {"task": "x"}}, 0.25),
])
def test_traces_sampler_leaves_probes_out(context, rate):
    assert probe_free_sampler(0.25)(context) == rate


def test_the_settings_sampler_reads_its_rate(settings):
    assert sentry_traces_sampler({"wsgi_environ": {"PATH_INFO": "/"}}) == 1.0
    settings.HEALTHD = {**settings.HEALTHD, "TRACES_SAMPLE_RATE": 0.1}
    assert sentry_traces_sampler({"wsgi_environ": {"PATH_INFO": "/"}}) == 0.1
    assert sentry_traces_sampler({"wsgi_environ": {"PATH_INFO": "/livez"}}) == 0.0



def test_the_querystring_is_logged_only_when_asked_and_with_secrets_masked(summaries, settings):
    request = RequestFactory().get("/search?q=caf%C3%A9&token=s3cr3tvalue")
    RequestSummaryMiddleware(lambda r: HttpResponse())(request)
    assert not hasattr(summaries[0], "querystring")
    settings.DOCKERFLOW_SUMMARY_LOG_QUERYSTRING = True
    RequestSummaryMiddleware(lambda r: HttpResponse())(request)
    assert summaries[1].querystring == "q=café&token=********"


def test_the_request_id_outlives_a_request_whose_attributes_were_replaced(summaries):
    def replacing(request):
        del request._id
        return HttpResponse()

    request = RequestFactory().get("/page", HTTP_X_REQUEST_ID="kept-id-1")
    RequestSummaryMiddleware(replacing)(request)
    assert summaries[0].rid == "kept-id-1"
    assert request_id_context.get() is None  # reset once the request is answered
