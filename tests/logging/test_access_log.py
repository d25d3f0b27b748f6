"""gunicorn's access log leaves out health probes and masks tokens (a real gunicorn).

The former Procfile (``--access-logfile -`` alone) is run through the same requests as
the reproduction: it writes every probe and every token (strict xfail).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthd.access_log import is_quiet, mask
from healthd.daemon.cli import processes
from healthd.site import gunicorn_conf
from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

SECRET = "s3cr3t-t0ken-value"
HEALTHD_CONFIG = ["-c", "python:healthd.site.gunicorn_conf"]
FORMER_PROCFILE = pytest.param(
    [], marks=pytest.mark.xfail(strict=True, raises=AssertionError,
                                reason="the reproduction: gunicorn's own "
                                "logger writes every probe and every token"),
    id="former-procfile")


def _get(url: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback
    try:
        return urllib.request.urlopen(request, timeout=10).status  # noqa: S310 - loopback
    except urllib.error.HTTPError as error:
        return error.code


class Gunicorn:
    def __init__(self, config: list[str], log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tests.site.wsgi:application", *config,
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--access-logfile", str(log), "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True)

    def serving(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {self.process.returncode}")
        try:
            _get(self.base + "/__lbheartbeat__")
            return True
        except OSError:
            return False

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(15)


@pytest.fixture
def serve(tmp_path) -> Iterator:
    started: list[Gunicorn] = []

    def start(config: list[str]) -> Gunicorn:
        server = Gunicorn(config, tmp_path / f"access-{len(started)}.log")
        started.append(server)
        wait_for(server.serving, timeout=60, message="gunicorn to serve")
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.parametrize("config", [HEALTHD_CONFIG, FORMER_PROCFILE])
def test_access_log_leaves_out_probes_and_masks_tokens(serve, config):
    server = serve(config)
    answers = {
        # Probes: their answers, green or red, are left out.
        "/__lbheartbeat__": _get(server.base + "/__lbheartbeat__"),
        "/__heartbeat__": _get(server.base + "/__heartbeat__"),  # red: nothing stored
        "/healthz": _get(server.base + "/healthz"),
        f"/watchman/?watchman-token={SECRET}": _get(
            server.base + f"/watchman/?watchman-token={SECRET}"),
        # A probe asked wrongly, and other paths: written, tokens masked.
        "POST /__heartbeat__": _get(server.base + "/__heartbeat__", method="POST"),
        f"/no-such-page/?token={SECRET}&page=2": _get(
            server.base + f"/no-such-page/?token={SECRET}&page=2"),
        "/admin/login/": _get(server.base + "/admin/login/"),
    }
    assert answers["/__heartbeat__"] == 500
    assert answers["POST /__heartbeat__"] == 403  # CSRF: the caller is wrong
    assert answers[f"/no-such-page/?token={SECRET}&page=2"] == 404
    marker = f"/the-end-{time.monotonic_ns()}"
    _get(server.base + marker)  # the last line, so every line before it has been written
    wait_for(lambda: marker in server.log.read_text(), timeout=10,
             message="the access log to be written")
    text = server.log.read_text()
    lines = text.splitlines()

    def logged(path: str, method: str = "GET") -> list[str]:
        return [line for line in lines if f'"{method} {path}' in line]

    for probe in ("/__lbheartbeat__", "/__heartbeat__", "/healthz", "/watchman/"):
        assert not logged(probe), f"{probe} answered {answers.get(probe)} and was logged"
    assert SECRET not in text
    assert len(logged("/__heartbeat__", "POST")) == 1  # a 4xx answer is written
    assert logged("/no-such-page/?token=********&page=2")
    assert logged("/admin/login/")


def test_which_probe_answers_are_quiet(settings):
    assert is_quiet("/__heartbeat__", "200 OK")
    assert is_quiet("/__heartbeat__", "500 Internal Server Error")
    assert is_quiet("/status/api/health/", 503)
    assert not is_quiet("/watchman/", "403 Forbidden")
    assert not is_quiet("/__heartbeat__", "405 Method Not Allowed")
    assert not is_quiet("/admin/", "200 OK")
    settings.HEALTHD = {**settings.HEALTHD, "SUMMARY_SKIP_PATHS": ["/ping"]}
    assert is_quiet("/ping", "200 OK")
    assert not is_quiet("/__heartbeat__", "200 OK")


def test_tokens_are_masked_whatever_the_parameter_is_called(settings):
    settings.WATCHMAN_TOKEN_NAME = "auth"
    line = f'GET /watchman/?auth={SECRET}&x=1 "https://u:{SECRET}@example.com/?token={SECRET}"'
    masked = mask(line)
    assert SECRET not in masked
    assert "?auth=********&x=1" in masked


def test_the_standalone_site_starts_gunicorn_with_the_quiet_logger():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                    if line.strip())
    for web in (procfile["web"], " ".join(processes(8000, "127.0.0.1")["web"])):
        assert "-c python:healthd.site.gunicorn_conf" in web
        assert "--access-logfile" not in web  # the config's accesslog: stdout
    assert gunicorn_conf.logger_class == "healthd.access_log.ProbeQuietLogger"
    assert gunicorn_conf.accesslog == "-"
